"""The tuned-per-head report: each head's setting chosen on the validation split (stage 1), then its test
accuracy over seeds at that setting (stage 2). Reads run records only, like the rest of the report.

Stage 1 (``experiment=tuned``) holds one Optuna search per head; the chosen setting of a head is the one of its
finished trial with the best validation objective (the run's ``objective``, default ``val_acc``), read from the
trials' own records, so the choice is the same one Optuna made and never looks at a test number. Stage 2
(``experiment=tuned_test``) holds each head's runs at that setting over seeds; a stage-2 run at any other
setting is listed and left out, so the table can only show settings that validation chose.

    python -m poolbench.report.tuned results/tuned_search results/tuned_test [--out DIR]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.config.run_folder import flatten
from poolbench.errors import PoolbenchError
from poolbench.objective import direction, objective_value
from poolbench.report.aggregate import run_config, runs_frame
from poolbench.report.collect import CollectedRun, check_paths, collect_runs
from poolbench.report.formatting import ci_text, pct_pm
from poolbench.report.names import head_name, head_order
from poolbench.report.paired import display_paired, paired_comparison
from poolbench.report.summary import summary_table
from poolbench.report.tables import to_markdown

TUNED_KEYS = ("trainer.lr", "trainer.weight_decay")  # what stage 1 searches (conf/hydra/sweeper/tune.yaml)
BASELINE = "gap"


@dataclass(frozen=True)
class Chosen:
    """One head's setting chosen on validation in stage 1."""

    head: str
    setting: tuple[float, ...]  # values of TUNED_KEYS
    objective: str
    value: float  # the chosen trial's validation objective
    trials: int  # stage-1 trials of this head (finished or not)
    finished: int  # trials with an objective (ok runs)
    run_dir: Path


def setting_of(run: CollectedRun) -> tuple[float, ...]:
    flat = flatten(run_config(run))
    return tuple(float(flat[key]) if flat.get(key) is not None else math.nan for key in TUNED_KEYS)


def objective_of(runs: Sequence[CollectedRun]) -> str:
    """The objective the search optimised: the runs' ``objective`` key (val_acc for records without one)."""
    names = {str(run_config(run).get("objective") or "val_acc") for run in runs}
    if len(names) > 1:
        raise PoolbenchError(f"stage-1 runs of one search disagree on the objective ({', '.join(sorted(names))})")
    return names.pop() if names else "val_acc"


def choose_settings(search: Sequence[CollectedRun]) -> dict[str, Chosen]:
    """Each head's best stage-1 trial by its validation objective (ties: the first in run-directory order)."""
    objective = objective_of(search)
    sign = 1.0 if direction(objective) == "maximize" else -1.0
    chosen: dict[str, Chosen] = {}
    for head in head_order({run.record.head for run in search}):
        trials = sorted((run for run in search if run.record.head == head), key=lambda run: str(run.run_dir))
        scored = [(objective_value(run.record, objective), run) for run in trials]
        finished = [(value, run) for value, run in scored if not math.isnan(value)]
        if not finished:
            continue
        value, best = max(finished, key=lambda pair: sign * pair[0])
        chosen[head] = Chosen(head, setting_of(best), objective, value, len(trials), len(finished), best.run_dir)
    return chosen


def stage_two_runs(test: Sequence[CollectedRun], chosen: dict[str, Chosen]) -> tuple[list[CollectedRun], list[Path]]:
    """Stage-2 runs at their head's chosen setting, and the run dirs of any other (left out of the table)."""
    kept: list[CollectedRun] = []
    other: list[Path] = []
    for run in test:
        choice = chosen.get(run.record.head)
        if choice is not None and all(math.isclose(a, b) for a, b in zip(setting_of(run), choice.setting)):
            kept.append(run)
        else:
            other.append(run.run_dir)
    return kept, other


def choices_frame(chosen: dict[str, Chosen]) -> pd.DataFrame:
    rows = [
        {
            "head": c.head,
            **dict(zip(TUNED_KEYS, c.setting)),
            "objective": c.objective,
            "chosen_value": c.value,
            "trials": c.trials,
            "trials_finished": c.finished,
            "chosen_run": str(c.run_dir),
        }
        for c in chosen.values()
    ]
    return pd.DataFrame(rows)


def display_results(summary: pd.DataFrame, chosen: dict[str, Chosen]) -> pd.DataFrame:
    """One row per head: the setting validation chose, how it was chosen, and test accuracy at it."""
    rows = []
    for _, row in summary.iterrows():
        c = chosen[row["head"]]
        rows.append(
            {
                "head": head_name(row["head"]),
                "lr (chosen on val)": f"{c.setting[0]:.3g}",
                "weight decay (chosen on val)": f"{c.setting[1]:.2g}",
                f"chosen by: best {c.objective}": f"{c.value:.4f} of {c.finished}/{c.trials} trials",
                "n seeds": int(row["n_seeds"]),
                "test acc %": pct_pm(row["test_acc_mean"], row["test_acc_std"]),
                "95% CI": ci_text(row["test_acc_ci_low"], row["test_acc_ci_high"]),
                "val acc %": pct_pm(row["val_acc_mean"], row["val_acc_std"]),
            }
        )
    return pd.DataFrame(rows)


def protocol_text(chosen: dict[str, Chosen], seeds: str, wall: str | None) -> str:
    objective = next(iter(chosen.values())).objective if chosen else "val_acc"
    budgets = sorted({c.trials for c in chosen.values()})
    lines = [
        "# Tuned-per-head comparison",
        "",
        f"Stage 1: for each head, Optuna searched {' and '.join(TUNED_KEYS)} with the same budget "
        f"({', '.join(map(str, budgets))} trials per head) and picked the trial with the best **{objective}** on "
        "the **validation split** (carved from the training split). The test split was not used to choose.",
        f"Stage 2: each head was trained at its chosen setting over seeds {seeds}; the table reports test accuracy "
        "(mean ± std over seeds, 95% CI). A single shared learning rate can favour some heads; this is the fair "
        "comparison.",
    ]
    if wall:
        lines += ["", f"Wall time (both stages): {wall}."]
    return "\n".join(lines) + "\n"


def write_tuned_report(search_root: Path, test_root: Path, out_dir: Path, wall: str | None = None) -> list[Path]:
    """tuned.md plus tuned_choices.csv, tuned_summary.csv and tuned_paired.csv under ``out_dir``."""
    search, test = collect_runs([search_root]), collect_runs([test_root])
    chosen = choose_settings(search.runs)
    if not chosen:
        raise PoolbenchError(f"{search_root}: no finished stage-1 trial: no head has a setting chosen on validation")
    kept, other = stage_two_runs(test.runs, chosen)
    test.runs = kept
    runs = runs_frame(test)
    summary = summary_table(runs) if not runs.empty else pd.DataFrame()
    seeds = ",".join(sorted({str(run.record.seed) for run in kept}, key=int)) or "none"
    body = [protocol_text(chosen, seeds, wall), "## Chosen settings and test accuracy", ""]
    body.append(to_markdown(display_results(summary, chosen)) if not summary.empty else "_(no stage-2 runs yet)_")
    paired = paired_comparison(runs, BASELINE) if not runs.empty else pd.DataFrame()
    if not paired.empty:
        body += ["", f"## Each head vs {head_name(BASELINE)} (paired on seed, each at its own tuned setting)", ""]
        body.append(to_markdown(display_paired(paired, ["dataset", "backbone", "head"])))
        body.append("\nHolm-adjusted p-values control the family-wise error over the heads compared with the baseline.")
    missing = [head for head in chosen if summary.empty or head not in set(summary["head"])]
    if missing:
        body += ["", f"No stage-2 run yet for: {', '.join(head_name(h) for h in missing)}."]
    if other:
        body += ["", "Left out (stage-2 runs at a setting validation did not choose):", *[f"- {p}" for p in other]]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in ("tuned.md", "tuned_choices.csv", "tuned_summary.csv", "tuned_paired.csv")]
    atomic_write_text(paths[0], "\n".join(body) + "\n")
    atomic_write_text(paths[1], choices_frame(chosen).to_csv(index=False))
    atomic_write_text(paths[2], summary.to_csv(index=False))
    atomic_write_text(paths[3], paired.to_csv(index=False))
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m poolbench.report.tuned", description=__doc__.splitlines()[0])
    parser.add_argument("search", type=Path, help="stage-1 results (e.g. results/tuned_search)")
    parser.add_argument("test", type=Path, help="stage-2 results (e.g. results/tuned_test)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: TEST/report_tuned)")
    args = parser.parse_args(argv)
    try:
        roots = check_paths([args.search, args.test])
        paths = write_tuned_report(roots[0], roots[1], args.out or roots[1] / "report_tuned")
    except PoolbenchError as error:
        raise SystemExit(f"poolbench-report: {error}") from None
    print(paths[0])


if __name__ == "__main__":
    main()
