"""Aggregate run records into the tables a paper prints.

Conventions, used everywhere in the report:
- std is the *sample* standard deviation (ddof=1); it is NaN for a single seed.
- a 95% confidence interval of a mean is ``mean ± t(0.975, n-1) · std / sqrt(n)`` (Student's t); NaN for n < 2.
- only runs with status ``ok`` enter means; failed and diverged runs go to their own table (``report.failed``).
- the summary table (one row per setting and head, each declared field aggregated as declared):
  ``poolbench.report.summary``.
- the paired comparison (every head against a baseline): ``poolbench.report.paired``.
- rows are split by dataset, backbone, head and every config key that varies between runs of one head
  (``auto_group_keys``); only records of the same config (same run_key) and seed are duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from poolbench.config.run_folder import flatten, read_config
from poolbench.record import record_fields
from poolbench.report.collect import CollectedRun, Collection
from poolbench.report.variants import semantic_flat_config, value_text, varying_keys

IDENTITY = ("dataset", "backbone", "head")
CONFIDENCE = 0.95
SHIFT_PREFIX = "shift_acc_"  # runs-frame column of the translation test at N pixels: shift_acc_N
POOL_PARAMS = "pool_params"  # learned pooling parameters ({"gem_p": 2.9}): runs-frame columns of their own names


def panel_keys(extra: Sequence[str] = ()) -> list[str]:
    """The columns that define one comparison panel: everything in a row key except the head."""
    return ["dataset", "backbone", *extra]


def row_keys(extra: Sequence[str] = ()) -> list[str]:
    return [*panel_keys(extra), "head"]


def runs_frame(collection: Collection, extra_keys: Sequence[str] = ()) -> pd.DataFrame:
    """One row per run record: every RunRecord field, pool params as columns, extra keys from config.yaml
    (a result field of that name wins; ``run_key`` is a field), plus ``config_jobs`` (the run's ``jobs``).
    Every declared record field is a column (``poolbench.record.record_fields``), a ``{key: value}`` one as
    FIELD_KEY columns."""
    keyed = [name for name, declared in record_fields().items() if declared.keyed and name != POOL_PARAMS]
    rows = []
    for run in collection.runs:
        row: dict[str, Any] = asdict(run.record)
        pool = row.pop(POOL_PARAMS) or {}
        row.update({key: value for key, value in pool.items() if isinstance(value, (int, float))})
        for name in keyed:  # shift_acc_4, size_acc_32, ...: one column per key of a {key: value} field
            row.update({f"{name}_{key}": value for key, value in (row.pop(name, None) or {}).items()})
        config = flatten(run_config(run))
        for key in extra_keys:
            row[key] = value_text(row[key] if key in row else config.get(key))
        row.update(run.deploy_timing)  # cell_latency_ms, ... (poolbench-deploy), None where not timed
        row["config_jobs"] = config.get("jobs")
        row["run_dir"] = str(run.run_dir)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values([*row_keys(extra_keys), "seed"], kind="stable").reset_index(drop=True)


def run_config(run: CollectedRun) -> dict[str, Any]:
    """The run's config.yaml as a dict, read once per run ({} when absent or unreadable)."""
    if run.config is None:
        run.config = read_config(run.run_dir) or {}
    return run.config


def auto_group_keys(collection: Collection, manual: Sequence[str] = ()) -> list[str]:
    """The grouping keys of a report: ``manual`` (--group-by) first, then every config key that varies between
    runs of one (dataset, backbone, head) (see ``poolbench.report.variants``), then ``run_key`` when two records
    of one row and seed still differ in run key (configs missing or unreadable: the difference is unknown, but
    they are not the same computation, so they are neither averaged together nor called duplicates)."""
    identities = [(run.record.dataset, run.record.backbone, run.record.head) for run in collection.runs]
    # The precision a run computed in (record field) tells runs apart like a config key: never pooled silently.
    configs = [
        {**semantic_flat_config(run_config(run)), "precision": run.record.precision} if run_config(run) else None
        for run in collection.runs
    ]
    keys = [key for key in manual if key not in IDENTITY]
    keys += [key for key in varying_keys(zip(identities, configs)) if key not in keys]
    seen: dict[tuple[Any, ...], str] = {}
    for run, identity in zip(collection.runs, identities):
        flat = flatten(run_config(run))
        values = tuple(
            value_text(getattr(run.record, k, None) if hasattr(run.record, k) else flat.get(k)) for k in keys
        )
        row = (*identity, *values, run.record.seed)
        if seen.setdefault(row, run.record.run_key) != run.record.run_key and "run_key" not in keys:
            keys.append("run_key")
    return keys


def select_panel(frame: pd.DataFrame, keys: Sequence[str], values: Sequence[object]) -> pd.DataFrame:
    """The rows of ``frame`` whose ``keys`` equal ``values`` (one panel of a table)."""
    if frame.empty:
        return frame
    mask = pd.Series(True, index=frame.index)
    for key, value in zip(keys, values):
        mask &= frame[key] == value
    return frame[mask]


def deduplicate(runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One record per (row keys, seed): the latest finished. The others are returned to be listed, because
    averaging two records of one seed would count it twice. With the keys of ``auto_group_keys`` every such
    record has the kept one's run_key: the same config run again."""
    if runs.empty:
        return runs, runs
    identity = [*row_keys(extra_keys), "seed"]
    ordered = runs.assign(_finished=runs["finished_at"].fillna("")).sort_values("_finished", kind="stable")
    duplicated = ordered.duplicated(identity, keep="last")
    kept = ordered[~duplicated].drop(columns="_finished").sort_values(identity, kind="stable")
    dropped = ordered[duplicated].drop(columns="_finished")
    latest_key = kept.assign(_run_key=kept["run_key"]).set_index(identity)["_run_key"]
    reasons = [
        "same run_key and seed as the kept record (a rerun of the same config)"
        if latest_key.loc[tuple(row[identity])] == row["run_key"]
        else "different run_key: another config (separate them with --group-by KEY)"
        for _, row in dropped.iterrows()
    ]
    listed = [*identity, *(column for column in ("status", "run_key", "run_dir") if column not in identity)]
    dropped = dropped[listed].assign(reason=reasons)
    return kept.reset_index(drop=True), dropped.reset_index(drop=True)


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"] if not runs.empty else runs


def mean_std_ci(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, sample std (ddof=1), ci_low, ci_high) of the finite values; NaN where undefined."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = data.size
    if n == 0:
        return (math.nan,) * 4
    mean = float(data.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(data.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half
