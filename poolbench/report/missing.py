"""What a partial sweep still lacks.

Three sources, each cheap and honest about what it can know:
1. run dirs that were started but have no ``result.json`` (still running, or killed);
2. a Hydra sweep's ``multirun.yaml``: the swept values of ``dataset``, ``backbone``, ``head`` and ``seed``
   (from the sweeper's params and the command-line overrides) span the grid the sweep will produce;
3. without one, within each panel every head is expected on every seed seen in that panel.
Config-group choices are matched to record names, which holds for every shipped config (``name:`` equals the
file name); a custom YAML whose ``name`` differs shows up as missing here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from poolbench.record import dirs_holding
from poolbench.report.aggregate import panel_keys
from poolbench.report.collect import Collection

MULTIRUN_FILE = "multirun.yaml"
GRID_KEYS = ("dataset", "backbone", "head", "seed")


def missing_table(collection: Collection, runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of (dataset, backbone, head, seed, reason, where) for every run the report expected but lacks."""
    started = "started, no result.json (running or killed)"
    rows = [
        {"dataset": "?", "backbone": "?", "head": "?", "seed": "?", "reason": started, "where": str(path)}
        for path in collection.incomplete
    ]
    present = _present_combos(runs)
    expected: dict[tuple[Any, ...], str] = {}
    for sweep_dir in dirs_holding(MULTIRUN_FILE, *collection.roots):
        for combo in _sweep_grid(sweep_dir, runs):
            expected.setdefault(combo, str(sweep_dir / MULTIRUN_FILE))
    for combo in _panel_grid(runs, extra_keys):
        expected.setdefault(combo, "grid of heads x seeds seen in this panel")
    for combo, source in sorted(expected.items(), key=lambda item: tuple(map(str, item[0]))):
        if combo not in present:
            rows.append(dict(zip(GRID_KEYS, combo), reason="no run record", where=source))
    return pd.DataFrame(rows, columns=[*GRID_KEYS, "reason", "where"])


def _present_combos(runs: pd.DataFrame) -> set[tuple[Any, ...]]:
    if runs.empty:
        return set()
    return {tuple(row) for row in runs[list(GRID_KEYS)].itertuples(index=False)}


def _panel_grid(runs: pd.DataFrame, extra_keys: Sequence[str]) -> set[tuple[Any, ...]]:
    combos: set[tuple[Any, ...]] = set()
    if runs.empty:
        return combos
    for _, panel in runs.groupby(panel_keys(extra_keys), sort=False, dropna=False):
        dataset, backbone = panel["dataset"].iloc[0], panel["backbone"].iloc[0]
        for head, seed in itertools.product(panel["head"].unique(), panel["seed"].unique()):
            combos.add((dataset, backbone, head, seed))
    return combos


def _sweep_grid(sweep_dir: Path, runs: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The (dataset, backbone, head, seed) combinations a sweep will produce; [] if it cannot be read."""
    swept = swept_values(sweep_dir / MULTIRUN_FILE)
    if swept is None:
        return []
    inside = runs[runs["run_dir"].map(lambda d: _is_under(Path(d), sweep_dir))] if not runs.empty else runs
    axes = []
    for key in GRID_KEYS:
        if key in swept:
            axes.append([int(v) if key == "seed" else v for v in swept[key]])
        elif not inside.empty:
            axes.append(list(inside[key].unique()))
        else:
            return []  # nothing recorded yet and the key is not swept: its value is unknown here
    return list(itertools.product(*axes))


def _is_under(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def swept_values(multirun_yaml: Path) -> dict[str, list[str]] | None:
    """Swept values per key from a multirun.yaml: sweeper params, overridden by command-line overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    try:
        config = OmegaConf.load(multirun_yaml)
        params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
        task = list(OmegaConf.select(config, "hydra.overrides.task", default=None) or [])
        overrides = [f"{key}={value}" for key, value in params.items()] + task
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:
        return None
    values: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if key not in GRID_KEYS:
            continue
        if override.is_sweep_override():
            values[key] = [str(v) for v in override.sweep_string_iterator()]
        else:
            values[key] = [str(override.get_value_element_as_str())]
    return values
