"""What a partial sweep still lacks: each expected run once, as "no run record" or "started, not finished".

The expected runs come from the sweeps' own records, never from a guess:
- a Hydra sweep's ``multirun.yaml`` (the sweeper's params and the command-line overrides span its grid); several
  sweeps into one folder (the claims presets share ``results/claims/``) leave only the last one's there, so
- every run's ``.hydra/hydra.yaml`` also names the sweep it came from: its sweeper's params are that preset's own
  grid (each claims preset sweeps in its params, so each preset's grid is known from any of its runs).
Only Hydra's basic (grid) sweeper has a grid; an Optuna search does not, and nothing is expected of it.
A run is matched to a grid point by the overrides Hydra recorded for it (``.hydra/overrides.yaml``); a run
without them by the point's dataset, backbone, head and seed and any other key its config.yaml holds. A started
run (config.yaml, epochs.csv or checkpoint.pt, no result.json) is one "started, not finished" row, with its head
and seed from its config.yaml. Without any sweep record, no run is expected: nothing is listed rather than a grid
guessed (a heads x seeds square is wrong for the claims grid, where seeds 5-9 exist for two heads only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from poolbench.config.run_folder import flatten, read_config, read_hydra, read_overrides
from poolbench.record import RunRecord, dirs_holding
from poolbench.report.collect import Collection

MULTIRUN_FILE = "multirun.yaml"
GRID_KEYS = ("dataset", "backbone", "head", "seed")
COLUMNS = [*GRID_KEYS, "setting", "reason", "where"]
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
NO_RECORD = "no run record"
STARTED = "started, not finished (running or killed)"
UNKNOWN = "?"

Point = frozenset[str]  # one grid point: the job's overrides, "key=value"


@dataclass(frozen=True)
class Started:
    """A run dir without result.json: its overrides (when Hydra recorded them) and config.yaml's identity."""

    run_dir: Path
    overrides: Point | None
    identity: dict[str, str]


def missing_table(collection: Collection, runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> pd.DataFrame:
    """One row (dataset, backbone, head, seed, setting, reason, where) per run the sweeps expected but lack.

    ``runs`` and ``extra_keys`` are unused (kept for the report's call); the records are read from
    ``collection``."""
    finished = [run.run_dir for run in collection.runs]
    exact = {point for point in map(_point_of, finished) if point is not None}
    loose = [_identity(run.run_dir, run.record) for run in collection.runs if read_overrides(run.run_dir) is None]
    siblings = _sibling_panels(finished)
    started = [Started(d, _point_of(d), _identity(d)) for d in collection.incomplete]
    rows: list[dict[str, Any]] = []
    claimed: set[Path] = set()
    for point, expected in expected_points(collection).items():
        if point in exact or any(_matches(point, identity) for identity in loose):
            continue
        setting = _setting_text(point, expected.swept)
        match = next((s for s in started if s.run_dir not in claimed and _started_is(s, point)), None)
        if match is not None:
            claimed.add(match.run_dir)
            rows.append(_row(match.identity, setting, STARTED, str(match.run_dir)))
        else:
            rows.append(_row(_point_identity(point, siblings), setting, NO_RECORD, expected.source))
    for run in started:  # started runs of no known grid (a single run, a sweep without records): still one row
        if run.run_dir not in claimed:
            rows.append(_row(run.identity, "", STARTED, str(run.run_dir)))
    return pd.DataFrame(rows, columns=COLUMNS)


@dataclass(frozen=True)
class Expected:
    """Where a grid point was read from, and the keys its grid sweeps besides head and seed."""

    source: str
    swept: frozenset[str]


def expected_points(collection: Collection) -> dict[Point, Expected]:
    """Every grid point of every sweep recorded under the roots, with the file it was read from (first wins)."""
    points: dict[Point, Expected] = {}
    seen: set[tuple[str, ...]] = set()
    sources: list[tuple[Mapping[str, Any] | None, Path, bool]] = [
        (_load(sweep_dir / MULTIRUN_FILE), sweep_dir / MULTIRUN_FILE, False)
        for sweep_dir in dirs_holding(MULTIRUN_FILE, *collection.roots)
    ]
    for run_dir in [*(run.run_dir for run in collection.runs), *collection.incomplete]:
        sources.append((read_hydra(run_dir), run_dir / ".hydra" / "hydra.yaml", True))
    for config, path, from_job in sources:
        overrides = sweep_overrides(config, from_job)
        if overrides is None or tuple(overrides) in seen:
            continue
        seen.add(tuple(overrides))
        grid = grid_points(overrides)
        values: dict[str, set[str]] = {}
        for point in grid:
            for key, value in _split(point).items():
                values.setdefault(key, set()).add(value)
        swept = frozenset(key for key, seen_values in values.items() if len(seen_values) > 1)
        for point in grid:
            points.setdefault(point, Expected(str(path), swept - {"head", "seed"}))
    return points


def sweep_overrides(config: Mapping[str, Any] | None, from_job: bool) -> list[str] | None:
    """The overrides a basic sweep expands (its params, then the command line's); None for another sweeper.

    A job's own ``hydra.yaml`` holds the job's point among the command-line overrides: a key the params sweep
    is dropped there, so the params span the preset's whole grid again."""
    hydra = (config or {}).get("hydra")
    if not isinstance(hydra, Mapping):
        return None
    sweeper = hydra.get("sweeper") or {}
    if not isinstance(sweeper, Mapping) or sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = sweeper.get("params") or {}
    task = [str(item) for item in ((hydra.get("overrides") or {}).get("task") or [])]
    if from_job:
        task = [item for item in task if _key(item) not in params]
    return [f"{key}={value}" for key, value in params.items()] + task


def grid_points(overrides: Sequence[str]) -> list[Point]:
    """The jobs Hydra's basic sweeper makes of these overrides (its own expansion); [] if they do not parse."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # a sweep this Hydra cannot read (or not a grid): nothing is expected of it
        return []
    return [frozenset(job) for batch in batches for job in batch]


def _load(path: Path) -> Mapping[str, Any] | None:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, Mapping) else None


def _key(override: str) -> str:
    return override.split("=", 1)[0].strip()


def _split(point: Iterable[str]) -> dict[str, str]:
    return {_key(item): item.split("=", 1)[1].strip() if "=" in item else "" for item in point}


def _point_of(run_dir: Path) -> Point | None:
    overrides = read_overrides(run_dir)
    return frozenset(overrides) if overrides is not None else None


def _identity(run_dir: Path, record: RunRecord | None = None) -> dict[str, str]:
    """A run's dataset, backbone, head and seed (from its record, else config.yaml) and its config's dotted keys,
    as text."""
    config = read_config(run_dir) or {}
    flat = {key: str(value) for key, value in flatten(config).items()}
    by_path = _path_identity(Path(run_dir))
    for key in ("dataset", "backbone", "head"):
        flat[key] = str(getattr(record, key, None) or flat.get(f"{key}.name") or by_path[key])
    flat["seed"] = str(record.seed if record is not None else config.get("seed", by_path["seed"]))
    return flat


def _path_identity(run_dir: Path) -> dict[str, str]:
    """DATASET/BACKBONE/HEAD/seedK[-hash] (``hydra.run.dir``): the identity of a run whose config.yaml is not
    written yet."""
    match = re.fullmatch(r"seed(\d+)(-[0-9a-f]+)?", run_dir.name)
    if match is None or len(run_dir.parts) < 4:
        return dict.fromkeys(GRID_KEYS, UNKNOWN)
    return {
        "dataset": run_dir.parents[2].name,
        "backbone": run_dir.parents[1].name,
        "head": run_dir.parent.name,
        "seed": match.group(1),
    }


def _matches(point: Point, identity: Mapping[str, str]) -> bool:
    """A run without recorded overrides is this point when every key of the point its config holds agrees."""
    values = _split(point)
    return all(identity.get(key, value) == value for key, value in values.items())


def _started_is(run: Started, point: Point) -> bool:
    return run.overrides == point if run.overrides is not None else _matches(point, run.identity)


def _sibling_panels(finished: Sequence[Path]) -> dict[Point, dict[str, str]]:
    """Dataset and backbone of finished runs by their overrides less head and seed: a missing point of the same
    setting (another head or seed) shows them, even where a preset sets the dataset (``claims_cell``)."""
    panels: dict[Point, dict[str, str]] = {}
    for run_dir in finished:
        point = _point_of(run_dir)
        if point is not None:
            identity = _identity(run_dir)
            panels.setdefault(_setting(point), {key: identity[key] for key in ("dataset", "backbone")})
    return panels


def _setting(point: Point) -> Point:
    return frozenset(item for item in point if _key(item) not in ("head", "seed"))


def _point_identity(point: Point, siblings: Mapping[Point, Mapping[str, str]]) -> dict[str, str]:
    values = _split(point)
    identity = {key: values.get(key, UNKNOWN) for key in GRID_KEYS}
    for key, value in siblings.get(_setting(point), {}).items():
        if key not in values:
            identity[key] = value
    return identity


def _setting_text(point: Point, swept: frozenset[str]) -> str:
    """The point's values of the other keys its grid sweeps (``claims_cell=presence``), head and seed aside."""
    return " ".join(sorted(f"{key}={value}" for key, value in _split(point).items() if key in swept))


def _row(identity: Mapping[str, str], setting: str, reason: str, where: str) -> dict[str, Any]:
    row = {key: identity.get(key, UNKNOWN) for key in GRID_KEYS}
    return {**row, "setting": setting, "reason": reason, "where": where}
