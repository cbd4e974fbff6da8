"""Where the runs' time went, and what each head's deployment timing says: ``timing.{csv,md}`` and
``deploy_timing.{csv,md}``, and the report.md sections that show them.

The time split sums the record fields of ``poolbench.record.TIME_SPLIT_FIELDS`` per panel (dataset, backbone and
grouping keys) and over all runs: start-up, training steps, per-epoch evaluation, final metrics and tests,
deployment measurement, and the rest of ``run_seconds`` (writing epochs and checkpoints, trackers). Records made
before poolbench recorded the split are counted and named, never silently left out.

The deployment timing is ``poolbench-deploy``'s: each head's median batch-1 latency and batch throughput with
their interquartile ranges, timed in one process together with the other heads of its cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.record import TIME_SPLIT_FIELDS, record_fields
from poolbench.report.aggregate import ok_runs
from poolbench.report.canvas import panel_title
from poolbench.report.formatting import EMPTY, is_missing
from poolbench.report.tables import named_keys, to_markdown

TOTAL = "all runs"


def phases() -> dict[str, str]:
    """The time-split fields with their declared labels (``poolbench.record.schema``)."""
    declared = record_fields()
    return {name: declared[name].label for name in TIME_SPLIT_FIELDS}


def time_split_table(runs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Seconds per phase summed over the runs of each panel that recorded their split, and over all of them."""
    shown = ["runs"] if "precision" in keys else ["runs", "precision"]  # a grouping key already, or a column
    columns = [*keys, *shown, *TIME_SPLIT_FIELDS, "other_seconds", "run_seconds", "train_share"]
    timed = runs[runs["run_seconds"].notna()] if not runs.empty and "run_seconds" in runs else pd.DataFrame()
    if timed.empty:
        return pd.DataFrame(columns=columns)
    total_key = (TOTAL, *[""] * (len(keys) - 1))
    groups = [*timed.groupby(list(keys), sort=True, dropna=False), (total_key, timed)]
    rows = []
    for values, group in groups:
        row = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        sums = {phase: float(group[phase].fillna(0).sum()) for phase in TIME_SPLIT_FIELDS}
        total = float(group["run_seconds"].sum())
        row["runs"] = len(group)
        if "precision" not in keys:
            row["precision"] = ",".join(sorted(group["precision"].dropna().unique())) or None
        row.update(sums, other_seconds=total - sum(sums.values()), run_seconds=total)
        row["train_share"] = sums["train_seconds"] / total if total > 0 else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def display_time_split(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    out = named_keys(table, keys)
    out["runs"] = table["runs"]
    if "precision" in table and "precision" not in keys:
        out["precision"] = table["precision"].fillna(EMPTY)
    for column, label in [*phases().items(), ("other_seconds", "other s"), ("run_seconds", "run s")]:
        out[label] = table[column].map(lambda v: EMPTY if is_missing(v) else f"{v:,.1f}")
    out["training share %"] = table["train_share"].map(lambda v: EMPTY if is_missing(v) else f"{100 * v:.0f}")
    return out


def cell_timing_table(runs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One row per (panel, head) that poolbench-deploy timed: its medians and IQRs, threads, rounds, cell."""
    columns = ["cell_latency_ms", "cell_latency_ms_iqr", "cell_throughput_ips", "cell_throughput_ips_iqr"]
    columns += ["cell_batch_size", "cell_timing_threads", "cell_timing_rounds", "cell_heads", "cell_id"]
    ok = ok_runs(runs)
    if ok.empty or "cell_latency_ms" not in ok or ok["cell_latency_ms"].isna().all():
        return pd.DataFrame(columns=[*keys, "head", *columns])
    timed = ok[ok["cell_latency_ms"].notna()]
    return timed.groupby([*keys, "head"], sort=True, dropna=False)[columns].first().reset_index()


def display_cell_timing(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    out = named_keys(table, [*keys, "head"])
    out["latency ms (batch 1) [IQR]"] = [
        f"{m:.3f} [{iqr:.3f}]" for m, iqr in zip(table["cell_latency_ms"], table["cell_latency_ms_iqr"])
    ]
    out["img/s (batch) [IQR]"] = [
        f"{m:,.0f} [{iqr:,.0f}]" for m, iqr in zip(table["cell_throughput_ips"], table["cell_throughput_ips_iqr"])
    ]
    out["batch"], out["threads"] = table["cell_batch_size"], table["cell_timing_threads"]
    out["rounds"], out["timed together"] = table["cell_timing_rounds"], table["cell_heads"]
    return out


def untimed_panels(runs: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """Panels whose ok runs have no CPU latency at all: neither in-run (deploy.timing) nor poolbench-deploy's."""
    ok = ok_runs(runs)
    if ok.empty:
        return []
    missing = []
    for values, group in ok.groupby(list(keys), sort=True, dropna=False):
        in_run = group["latency_ms"].notna().any() if "latency_ms" in group else False
        cell = group["cell_latency_ms"].notna().any() if "cell_latency_ms" in group else False
        if not (in_run or cell):
            missing.append(panel_title(keys, values if isinstance(values, tuple) else (values,)))
    return missing


def write_timing(runs: pd.DataFrame, keys: Sequence[str], out: Path) -> None:
    """``timing.csv`` and ``deploy_timing.csv`` (raw numbers) in ``out``."""
    atomic_write_text(out / "timing.csv", time_split_table(runs, keys).to_csv(index=False))
    atomic_write_text(out / "deploy_timing.csv", cell_timing_table(runs, keys).to_csv(index=False))


def timing_sections(runs: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The report.md sections: the time split, then the deployment timing (or why there is none)."""
    split = time_split_table(runs, keys)
    lines = ["## Time split", ""]
    unrecorded = 0 if runs.empty or "run_seconds" not in runs else int(runs["run_seconds"].isna().sum())
    if split.empty:
        lines += ["No record holds its time split (records made before poolbench recorded it).", ""]
    else:
        share = split.iloc[-1]["train_share"]
        lines += [
            f"Wall seconds summed over the runs (`timing.csv`); training takes {100 * share:.0f} % of all run time. "
            "Per-epoch eval: the splits of `trainer.curves`; final tests: final train/val/test metrics, translation "
            "test, other input sizes; deployment: model size and in-run latency timing (`deploy.timing`); other: "
            "epoch files, checkpoints, trackers.",
            "",
            to_markdown(display_time_split(split, keys)),
            "",
        ]
    if unrecorded:
        lines += [f"{unrecorded} record(s) without a time split (made before it was recorded) are not summed.", ""]
    cells = cell_timing_table(runs, keys)
    if not cells.empty:
        lines += [
            "## Deployment timing (poolbench-deploy)",
            "",
            "CPU, fp32, eval mode: median and interquartile range over rounds that alternate between the heads "
            "timed together in one process on the same inputs (`deploy_timing.csv`; each run dir's "
            "`deploy_timing.json` names the CPU).",
            "",
            to_markdown(display_cell_timing(cells, keys)),
            "",
        ]
    untimed = untimed_panels(runs, keys)
    if untimed:
        lines += [
            "CPU latency and throughput not measured for: " + "; ".join(untimed) + " (in-run timing off with "
            "`deploy.timing=false`): run `poolbench-deploy RESULTS_DIR`, then the report again.",
            "",
        ]
    return lines
