"""The translation test in the report: test accuracy with the test images moved by N pixels, per head.

Every run that set ``dataset.eval_shifts`` stores ``shift_acc`` (``{"N": accuracy}``) in its record; the runs
frame holds it as ``shift_acc_N`` columns. Means and sample stds are over seeds, as everywhere in the report;
the drop (test accuracy minus shifted accuracy) is taken per seed first, so its spread is the paired one.
Records that hold the consistency test (``shift_consistency``, ``shift_circular_consistency``) add its mean and
std at each shift; the Markdown table shows them at the largest shift. The table in one place: frame, Markdown,
LaTeX and files (shift.csv, shift.md, shift.tex).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from poolbench.report.aggregate import SHIFT_PREFIX, mean_std_ci, ok_runs, row_keys
from poolbench.report.formatting import pct_pm
from poolbench.report.latex import (
    TEXT_WIDTH,
    LatexTable,
    head_column,
    number_column,
    ordered_rows,
    panel_rows,
    tex,
    two_line,
)
from poolbench.report.tables import named_keys, write_table

# Runs-frame fields of the consistency test (share of test images keeping their unshifted prediction) and the
# shift-table column stems they become.
CONSISTENCY_FIELDS = (("shift_consistency", "consistency"), ("shift_circular_consistency", "circular_consistency"))


def shift_pixels(runs: pd.DataFrame) -> list[int]:
    """The shifts (pixels) any run was tested at, ascending; 0 (the plain test set) is always first."""
    found = {int(column[len(SHIFT_PREFIX) :]) for column in runs.columns if column.startswith(SHIFT_PREFIX)}
    return sorted(found | {0}) if found else []


def shift_accuracy_column(runs: pd.DataFrame, pixels: int) -> pd.Series:
    """Accuracy at ``pixels`` (one of ``shift_pixels(runs)``): the plain test accuracy at 0."""
    return runs["test_acc"] if pixels == 0 else runs[f"{SHIFT_PREFIX}{pixels}"]


def shift_table(runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (dataset, backbone, [extra keys], head) with a translation test: for every shift N the mean
    and std of the accuracy (``acc_N_mean``/``acc_N_std``) and of the per-seed drop from the plain test
    accuracy (``drop_N_mean``/``drop_N_std``); runs without the test are left out."""
    ok = ok_runs(runs)
    pixels = shift_pixels(ok)
    keys = row_keys(extra_keys)
    if not pixels:
        return pd.DataFrame(columns=[*keys, "n_seeds"])
    tested = ok[ok[[f"{SHIFT_PREFIX}{p}" for p in pixels if p > 0]].notna().any(axis=1)]
    rows = []
    for key_values, group in tested.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, key_values))
        row["n_seeds"] = int(group["seed"].nunique())
        for shift in pixels:
            accuracy = shift_accuracy_column(group, shift)
            row[f"acc_{shift}_mean"], row[f"acc_{shift}_std"], _, _ = mean_std_ci(accuracy.dropna().tolist())
            if shift > 0:
                drop = (group["test_acc"] - accuracy).dropna().tolist()
                row[f"drop_{shift}_mean"], row[f"drop_{shift}_std"], _, _ = mean_std_ci(drop)
                for field, name in CONSISTENCY_FIELDS:  # records from before consistency existed: NaN
                    values = group[f"{field}_{shift}"].dropna().tolist() if f"{field}_{shift}" in group else []
                    row[f"{name}_{shift}_mean"], row[f"{name}_{shift}_std"], _, _ = mean_std_ci(values)
        rows.append(row)
    return pd.DataFrame(rows)


def table_pixels(table: pd.DataFrame) -> list[int]:
    return sorted(
        int(column.split("_")[1]) for column in table.columns if column.startswith("acc_") and column.endswith("_mean")
    )


def display_shift(table: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """A non-empty ``shift_table`` as text: accuracy (%) at every shift, mean ± std, and the drop at the largest
    shift in percentage points."""
    out = named_keys(table, key_columns)
    out["n"] = table["n_seeds"]
    pixels = table_pixels(table)
    for shift in pixels:
        out[f"{shift} px %"] = [pct_pm(m, s) for m, s in zip(table[f"acc_{shift}_mean"], table[f"acc_{shift}_std"])]
    widest = max(pixels)
    out[f"drop at {widest} px pp"] = [
        pct_pm(m, s) for m, s in zip(table[f"drop_{widest}_mean"], table[f"drop_{widest}_std"])
    ]
    for name, label in (("consistency", "consistency"), ("circular_consistency", "circular consistency")):
        mean, std = f"{name}_{widest}_mean", f"{name}_{widest}_std"
        if widest > 0 and mean in table and table[mean].notna().any():
            out[f"{label} at {widest} px %"] = [pct_pm(m, s) for m, s in zip(table[mean], table[std])]
    return out


def shift_latex(table: pd.DataFrame, panel_columns: Sequence[str], setting: str = "") -> LatexTable:
    """The translation test for ``\\textwidth``: accuracy at every shift and the drop at the largest."""
    frame = ordered_rows(table, panel_columns)
    rows = [row for _, row in frame.iterrows()]
    pixels = table_pixels(frame)
    widest = max(pixels)
    columns = [head_column(frame), number_column("$n$", [str(int(r["n_seeds"])) for r in rows])]
    for shift in pixels:
        header = two_line(f"{shift} px\n(\\%)") if shift else two_line("Unshifted\n(\\%)")
        columns.append(number_column(header, [pct_pm(r[f"acc_{shift}_mean"], r[f"acc_{shift}_std"]) for r in rows]))
    columns.append(
        number_column(
            two_line(f"Drop at\n{widest} px (pp)"),
            [pct_pm(r[f"drop_{widest}_mean"], r[f"drop_{widest}_std"]) for r in rows],
        )
    )
    caption = (
        "Translation test: test accuracy with every test image moved by $N$ pixels (zero fill), mean "
        "$\\pm$ sample std over seeds, and the per-seed drop at the largest shift."
    )
    caption = f"{caption} {tex(setting)}" if setting else caption
    return LatexTable("translation test (full)", TEXT_WIDTH, columns, panel_rows(frame, panel_columns), caption=caption)


def write_shift(table: pd.DataFrame, key_columns: list[str], out: Path, setting: str = "") -> None:
    """``shift.csv``, ``shift.md`` and ``shift.tex`` (a non-empty ``shift_table``)."""
    latex = [("shift", shift_latex(table, key_columns[:-1], setting))]
    write_table(table, display_shift(table, key_columns), out, "shift", latex, preface=setting)
