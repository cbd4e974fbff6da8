"""Write tables as CSV (raw numbers, every column), Markdown (every column, human-formatted) and LaTeX (sized for
a paper).

CSV keeps full precision for further analysis. Markdown and LaTeX show accuracies in percent and differences in
percentage points (pp), with display names from ``poolbench.report.names``. Display conventions, the same in
Markdown and LaTeX: confidence intervals of accuracies are clipped to [0, 100] (the t interval of a mean near
100 % can run past it; the CSV keeps the unclipped bounds); p-values have two significant digits and read
"<0.001" below 0.001; negative numbers carry a real minus sign (``$-$`` in LaTeX, U+2212 in Markdown).

LaTeX: every ``.tex`` is a ``tabular*`` stretched to an exact width, with booktabs rules, right-aligned number
columns of fixed decimals (so they line up) and one italic heading row per panel (dataset, backbone and any
grouping keys) instead of repeated key columns. ``main.tex`` fits ``\\columnwidth`` of a two-column paper; the
full tables (``summary.tex``, ``cost.tex``, ``paired.tex``, ``shift.tex``, ``failed.tex``) fit ``\\textwidth``
(``table*`` in a two-column paper). Each file starts with a comment naming the packages it needs (booktabs only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.decide import MAX_SEEDS
from poolbench.report.formatting import (
    EMPTY,
    ci_text,
    count,
    format_p,
    is_missing,
    num_pm,
    p_value_text,
    pct,
    pct_pm,
    signed_text,
)
from poolbench.report.latex import LatexTable
from poolbench.report.names import NAMERS, key_name


def column_of(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([math.nan] * len(frame), index=frame.index)


def _map_rows(frame: pd.DataFrame, make: Callable[[pd.Series], str]) -> list[str]:
    return [make(row) for _, row in frame.iterrows()]


def named_keys(frame: pd.DataFrame, key_columns: Sequence[str]) -> pd.DataFrame:
    """The key columns with display names: dataset/backbone/head names, config keys under readable headers."""
    out = pd.DataFrame(index=frame.index)
    for key in key_columns:
        namer = NAMERS.get(key)
        out[key if key in NAMERS else key_name(key)] = frame[key].map(namer) if namer else frame[key].astype(str)
    return out


def has_references(summary: pd.DataFrame) -> bool:
    return "reference_acc" in summary.columns and bool(summary["reference_acc"].notna().any())


def reference_text(row: pd.Series) -> str:
    """A published accuracy with the setting it was measured in, e.g. ``91.25 (164 epochs, ...; He et al.)``."""
    if is_missing(row.get("reference_acc")):
        return EMPTY
    setting = str(row.get("reference_note") or "").strip()
    source = str(row.get("reference_source") or "").split("(")[0].strip()
    details = "; ".join(part for part in (setting, source) if part)
    return f"{pct(row['reference_acc'])} ({details})" if details else pct(row["reference_acc"])


def display_summary(summary: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """The summary as text: one row per (keys, head), mean ± std (ddof=1) and the 95% CI in percent."""
    out = named_keys(summary, key_columns)
    out["n"] = summary["n_seeds"]
    if summary.empty:
        return out
    out["test acc %"] = _map_rows(summary, lambda r: pct_pm(r["test_acc_mean"], r["test_acc_std"]))
    out["95% CI"] = [ci_text(low, high) for low, high in zip(summary["test_acc_ci_low"], summary["test_acc_ci_high"])]
    out["generalization gap pp"] = _map_rows(summary, lambda r: pct_pm(r["overfit_acc_mean"], r["overfit_acc_std"]))
    out["loss gap"] = _map_rows(summary, lambda r: num_pm(r["overfit_loss_mean"], r["overfit_loss_std"]))
    out["params"] = summary["params_total"].map(count)
    out["backbone params"] = summary["params_backbone"].map(count)
    out["head params"] = summary["params_head"].map(count)
    out["head share %"] = summary["head_share"].map(lambda v: pct(v, 1))
    out["M mult-adds/img"] = column_of(summary, "macs_per_image").map(
        lambda v: EMPTY if is_missing(v) else f"{v / 1e6:.2f}"
    )
    out["MFLOPs/img (2 per mult-add)"] = summary["flops_per_image"].map(
        lambda v: EMPTY if is_missing(v) else f"{v / 1e6:.2f}"
    )
    out["model KB"] = column_of(summary, "model_bytes").map(lambda v: EMPTY if is_missing(v) else f"{v / 1e3:,.0f}")
    out["CPU latency ms (batch 1)"] = column_of(summary, "latency_ms_mean").map(
        lambda v: EMPTY if is_missing(v) else f"{v:.2f}"
    )
    out["CPU img/s (batch 256)"] = column_of(summary, "throughput_ips_mean").map(
        lambda v: EMPTY if is_missing(v) else f"{v:,.0f}"
    )
    if "precision" not in key_columns:  # what the runs computed in (grouped by it where it differs)
        out["precision"] = column_of(summary, "precision").map(lambda v: EMPTY if is_missing(v) else v)
    out["train s"] = summary["train_seconds_mean"].map(lambda v: EMPTY if is_missing(v) else f"{v:.1f}")
    out["img/s"] = summary["images_per_second_mean"].map(lambda v: EMPTY if is_missing(v) else f"{v:,.0f}")
    if column_of(summary, "gem_p_mean").notna().any():
        gem_mean, gem_std = column_of(summary, "gem_p_mean"), column_of(summary, "gem_p_std")
        out["GeM p"] = [num_pm(mean, std, 2) for mean, std in zip(gem_mean, gem_std)]
    if has_references(summary):
        out["published acc % (setting)"] = _map_rows(summary, reference_text)
    return out


def display_paired(paired: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    out = named_keys(paired, [*key_columns, "baseline"])
    out["pairs"] = paired["n_pairs"]
    if paired.empty:
        return out
    out["Δ test acc pp"] = _map_rows(paired, lambda r: pct_pm(r["diff_mean"], r["diff_std"], signed=True))
    out["95% CI pp"] = [
        ci_text(lo, hi, bounds=(-1.0, 1.0)) for lo, hi in zip(paired["diff_ci_low"], paired["diff_ci_high"])
    ]
    out["d_z"] = column_of(paired, "effect_dz").map(lambda v: EMPTY if is_missing(v) else signed_text(float(v), 1))
    out["p (paired t)"] = _map_rows(paired, lambda r: p_value_text(r["p_value"], r["test"]))
    out["p Holm"] = column_of(paired, "p_holm").map(format_p)
    out["tests in family"] = column_of(paired, "n_tests")
    delta = column_of(paired, "delta").dropna()
    header = f"verdict (δ = {pct(delta.iloc[0], 1)} pp)" if len(delta) else "verdict"
    out[header] = _map_rows(paired, paired_word)
    out["seeds needed"] = column_of(paired, "seeds_needed").map(seeds_needed_text)
    return out


def paired_word(row: pd.Series) -> str:
    """better / worse / equivalent within ±δ / undecided (``poolbench.report.paired``), δ in pp."""
    word = row.get("verdict")
    if is_missing(word):
        return EMPTY
    return f"equivalent within ±{pct(row['delta'], 1)} pp" if word == "equivalent" else str(word)


def seeds_needed_text(value: object) -> str:
    """Seeds that would decide an undecided comparison; beyond ``MAX_SEEDS``: the effect sits on a boundary."""
    if is_missing(value):
        return EMPTY
    number = int(float(value))  # type: ignore[arg-type]
    return f"> {MAX_SEEDS}" if number > MAX_SEEDS else str(number)


def write_table(
    raw: pd.DataFrame, display: pd.DataFrame, out_dir: Path, stem: str, latex: Sequence[tuple[str, LatexTable]] = ()
) -> list[Path]:
    """``stem.csv`` from the raw numbers, ``stem.md`` from the display view, each ``(name, table)`` of ``latex``
    as ``name.tex`` (a table taller than a page: ``name.tex``, ``name_part2.tex``, ...; ``LatexTable.parts``)."""
    paths = [out_dir / f"{stem}.csv", out_dir / f"{stem}.md"]
    atomic_write_text(paths[0], raw.to_csv(index=False))
    atomic_write_text(paths[1], to_markdown(display) + "\n")
    for name, table in latex:
        parts = table.parts()
        for stale in out_dir.glob(f"{name}_part*.tex"):  # from an earlier, longer report
            stale.unlink()
        for index, part in enumerate(parts, start=1):
            paths.append(out_dir / (f"{name}.tex" if index == 1 else f"{name}_part{index}.tex"))
            atomic_write_text(paths[-1], part.render())
    return paths


def to_markdown(display: pd.DataFrame) -> str:
    if display.empty:
        return "_(none)_"
    cells = display.astype(str).map(lambda text: text.replace("|", "\\|").replace("\n", " "))
    return cells.to_markdown(index=False, disable_numparse=True)


# ----------------------------------------------------------------------------------------------------------- LaTeX
