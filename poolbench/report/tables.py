"""Shared by the report's tables (one module per table: ``summary``, ``paired``, ``failed``, ``shift``,
``timing``): write a table as CSV (raw numbers, every column), Markdown (every column, human-formatted) and
LaTeX (sized for a paper).

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
    is_missing,
    pct,
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


def seeds_needed_text(value: object) -> str:
    """Seeds that would decide an undecided comparison; beyond ``MAX_SEEDS``: the effect sits on a boundary."""
    if is_missing(value):
        return EMPTY
    number = int(float(value))  # type: ignore[arg-type]
    return f"> {MAX_SEEDS}" if number > MAX_SEEDS else str(number)


def write_table(
    raw: pd.DataFrame,
    display: pd.DataFrame,
    out_dir: Path,
    stem: str,
    latex: Sequence[tuple[str, LatexTable]] = (),
    preface: str = "",
) -> list[Path]:
    """``stem.csv`` from the raw numbers, ``stem.md`` from the display view (after ``preface``, a line that says
    what the table is of), each ``(name, table)`` of ``latex`` as ``name.tex`` (a table taller than a page:
    ``name.tex``, ``name_part2.tex``, ...; ``LatexTable.parts``)."""
    paths = [out_dir / f"{stem}.csv", out_dir / f"{stem}.md"]
    atomic_write_text(paths[0], raw.to_csv(index=False))
    atomic_write_text(paths[1], (f"{preface}\n\n" if preface else "") + to_markdown(display) + "\n")
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
