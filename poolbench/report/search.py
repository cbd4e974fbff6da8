"""A tuning sweep's report (``hydra/sweeper=tune`` or ``hydra/sweeper=optuna``): the trials, ranked on validation.

An Optuna search's runs are not a comparison: each trial is one setting, one seed. Reported as a grid, each trial
became a panel, a table and five single-dot figures titled with full floats, each showing test accuracy, and the
trial the search selected was not marked (an invitation to choose on test). Here the search is one table: every
trial sorted by the validation objective the search optimised (``objective``, default ``val_acc``), the selected
trial marked (the best finished one, as Optuna selects; one per search folder), and test accuracy for the selected
trial only. No figures. Written by ``write_report`` when every record comes from an Optuna sweeper
(``.hydra/hydra.yaml``).
For a comparison of heads at their tuned settings over seeds: the tuned protocol (``make tuned``,
``poolbench.report.tuned``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.config.run_folder import sweeper_target
from poolbench.objective import direction, objective_value
from poolbench.report.aggregate import run_config
from poolbench.report.collect import Collection
from poolbench.report.formatting import EMPTY, pct
from poolbench.report.names import dataset_name, head_name, key_name
from poolbench.report.tables import to_markdown
from poolbench.report.tuned import objective_of
from poolbench.report.variants import semantic_flat_config, varying_keys

SEARCH_SWEEPER_SUFFIX = "OptunaSweeper"  # Hydra's OptunaSweeper and poolbench's ValidationOptunaSweeper (tune)
TRIALS_STEM = "trials"
SEARCH_FILES = ("multirun.yaml", "optimization_results.yaml")  # what marks a search's folder
SELECTED = "✓ selected"


def search_sweeper(collection: Collection) -> str | None:
    """The Optuna sweeper every record came from, or None (a grid, single runs, or records of mixed origin)."""
    targets = {sweeper_target(run.run_dir) for run in collection.runs}
    if len(targets) != 1:
        return None
    target = targets.pop()
    return target if target is not None and target.endswith(SEARCH_SWEEPER_SUFFIX) else None


def searched_keys(collection: Collection) -> list[str]:
    """The config keys whose value differs between the trials of one head (what the search varied), in config
    order (a head's own keys, such as GeM's p, are told apart by the head column)."""
    identity = [(run.record.dataset, run.record.backbone, run.record.head) for run in collection.runs]
    configs = [(who, semantic_flat_config(run_config(run))) for who, run in zip(identity, collection.runs)]
    return varying_keys(configs)


def trials_frame(collection: Collection) -> pd.DataFrame:
    """One row per trial, search by search (a folder holding ``multirun.yaml`` or ``optimization_results.yaml``;
    the tuned protocol keeps one search per head), best first by the objective (finished trials before failed
    ones); ``selected`` marks each search's best finished trial and only that row carries ``test_acc``."""
    objective = objective_of(collection.runs)
    sign = -1.0 if direction(objective) == "maximize" else 1.0
    keys = searched_keys(collection)
    rows = []
    for run in collection.runs:
        flat = semantic_flat_config(run_config(run))
        record = run.record
        value = objective_value(record, objective)
        rows.append(
            {
                "search": search_of(run.run_dir, collection.roots),
                "dataset": record.dataset,
                "backbone": record.backbone,
                "head": record.head,
                **{key: flat.get(key) for key in keys},
                "status": record.status,
                "objective": objective,
                "value": value,
                "test_acc_of_selected": record.test_acc,
                "run_dir": str(run.run_dir),
                # ties go to the trial that started first, as Optuna keeps the first best trial
                "_order": (math.isnan(value), _signed(value, sign), str(record.started_at or "")),
            }
        )
    frame = pd.DataFrame(rows)
    frame = frame.loc[sorted(frame.index, key=lambda i: (frame["search"][i], frame["_order"][i]))]
    frame = frame.drop(columns="_order").reset_index(drop=True)
    frame.insert(0, "rank", frame.groupby("search").cumcount() + 1)
    frame.insert(1, "selected", (frame["rank"] == 1) & frame["value"].map(lambda v: not math.isnan(v)))
    frame.loc[~frame["selected"], "test_acc_of_selected"] = math.nan
    return frame


def search_of(run_dir: Path, roots: Sequence[Path]) -> str:
    """The folder of the search a trial belongs to, relative to its root ('' for the root itself)."""
    for root in roots:
        folder = Path(run_dir)
        while folder != folder.parent and folder.is_relative_to(root):
            if any((folder / name).is_file() for name in SEARCH_FILES):
                return folder.relative_to(root).as_posix() if folder != root else ""
            folder = folder.parent
    return ""


def _signed(value: float, sign: float) -> float:
    return 0.0 if math.isnan(value) else sign * value


def display_trials(trials: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The Markdown view: values to 3 significant digits, accuracies in %, test accuracy on the selected row."""
    objective = str(trials["objective"].iloc[0])
    several = trials["search"].nunique() > 1
    shown = {
        **({"search": trials["search"]} if several else {}),
        "rank": trials["rank"].astype(str),
        "": trials["selected"].map(lambda s: SELECTED if s else ""),
        "head": trials["head"].map(head_name),
        **{key_name(key): trials[key].map(_value_text) for key in keys},
        "status": trials["status"],
        f"{objective} % (validation)": trials["value"].map(lambda v: EMPTY if math.isnan(v) else pct(v)),
        "test acc % (selected only)": trials["test_acc_of_selected"].map(
            lambda v: EMPTY if v is None or math.isnan(v) else pct(v)
        ),
        "run": trials["run_dir"].map(lambda d: Path(d).name),
    }
    return pd.DataFrame(shown)


def _value_text(value: object) -> str:
    if isinstance(value, float):
        return EMPTY if math.isnan(value) else f"{value:.3g}"
    return EMPTY if value is None else str(value)


def render_search(roots: Sequence[Path], sweeper: str, trials: pd.DataFrame, keys: Sequence[str]) -> str:
    objective = str(trials["objective"].iloc[0])
    finished = int(trials["value"].map(lambda v: not math.isnan(v)).sum())
    varied = ", ".join(f"`{key}`" for key in keys) or "nothing (every trial has the same config)"
    datasets = ", ".join(sorted({dataset_name(d) for d in trials["dataset"]}))
    lines = [
        "# poolbench report: a tuning sweep",
        "",
        f"{len(trials)} trial(s) of {_searches(trials)} (`{sweeper.rsplit('.', 1)[-1]}`) read from: "
        + ", ".join(f"`{root}`" for root in roots)
        + f". Dataset: {datasets}. The search varied {varied} and optimised **{objective}** on the validation split "
        f"({direction(objective)}); {finished} trial(s) finished with a value.",
        "",
        "The trials are ranked by that validation objective; the selected trial (✓) is the best finished one, as "
        "the search selects it. Test accuracy is shown for the selected trial only: choose on validation, never "
        "on test. One trial is one seed, so this is a choice of setting, not a comparison: compare heads at their "
        "selected settings over seeds with the tuned protocol (`make tuned`, docs/sweeps.md).",
        "",
        "## Trials",
        "",
        to_markdown(display_trials(trials, keys)),
        "",
        "## Files",
        "",
        f"`{TRIALS_STEM}.csv` (every trial, raw numbers), `{TRIALS_STEM}.md` (the table above).",
        "",
    ]
    return "\n".join(lines)


def _searches(trials: pd.DataFrame) -> str:
    n = trials["search"].nunique()
    return "an Optuna search" if n == 1 else f"{n} Optuna searches (one per folder, each with its selected trial)"


def write_search_report(collection: Collection, report_md: Path, sweeper: str) -> int:
    """``report_md``, and trials.csv and trials.md beside it, of a tuning sweep; returns the number of ok trials."""
    trials = trials_frame(collection)
    keys = searched_keys(collection)
    out_dir = report_md.parent
    atomic_write_text(out_dir / f"{TRIALS_STEM}.csv", trials.to_csv(index=False))
    atomic_write_text(out_dir / f"{TRIALS_STEM}.md", to_markdown(display_trials(trials, keys)) + "\n")
    atomic_write_text(report_md, render_search(collection.roots, sweeper, trials, keys))
    return int((trials["status"] == "ok").sum())
