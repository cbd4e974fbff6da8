"""Per-epoch curves from ``epochs.csv`` (learning curves, GeM p), gathered over seeds for the figures."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from poolbench.report.aggregate import ok_runs, row_keys, run_config
from poolbench.report.collect import CollectedRun, Collection


def curves_frame(collection: Collection, runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> pd.DataFrame:
    """Long table of epochs.csv rows for ok runs: row keys, seed, epoch and every per-epoch column; runs that
    log ``gem_p`` get an epoch-0 row holding only their initial p (``head.p`` from config.yaml)."""
    keys = row_keys(extra_keys)
    by_dir = {row["run_dir"]: row for row in ok_runs(runs).to_dict("records")} if not runs.empty else {}
    frames = []
    for run in collection.runs:
        run_row = by_dir.get(str(run.run_dir))
        if run_row is None or not run.epochs:
            continue
        frame = pd.DataFrame(run.epochs)
        initial = initial_gem_p(run)
        if "gem_p" in frame.columns and initial is not None:  # epoch 0: p before training, from config.yaml
            frame = pd.concat([pd.DataFrame([{"epoch": 0, "gem_p": initial}]), frame], ignore_index=True)
        for key in [*keys, "seed"]:
            frame[key] = run_row[key]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*keys, "seed", "epoch"])


def initial_gem_p(run: CollectedRun) -> float | None:
    """GeM's p before the first step: ``head.p`` of the run's config.yaml (None when not recorded)."""
    head = run_config(run).get("head")
    value = head.get("p") if isinstance(head, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def curve_band(curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per epoch: mean, sample std (ddof=1) and n over seeds of one column (epochs a seed lacks are skipped)."""
    values = curves[["epoch", column]].dropna()
    grouped = values.groupby("epoch")[column]
    return pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1), "n": grouped.count()}).reset_index()
