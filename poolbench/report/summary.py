"""The summary table, in one place: the frame (one row per setting and head over the ok runs), its Markdown view,
its three LaTeX tables (``main.tex`` compact, ``summary.tex`` accuracy and generalization, ``cost.tex``) and the
files (``summary.csv``, ``summary.md``, the ``.tex``).

Which record fields it holds and shows, with which label, unit and aggregation, comes from their declarations
(``poolbench.record.fields``): a field aggregated ``mean`` becomes FIELD_mean and FIELD_std (sample std, ddof=1;
with ``ci`` the 95 % Student-t interval too), ``first`` becomes FIELD (a count, the same for every seed), and
``shown`` names the tables. Derived here: n, seeds, precision, the head's share of the parameters, learned
pooling parameters (GeM p) and published values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from poolbench.record import record_fields
from poolbench.record.fields import COUNT, Declared
from poolbench.report.aggregate import mean_std_ci, ok_runs, row_keys
from poolbench.report.formatting import EMPTY, ci_text, declared_text, format_p, is_missing, num_pm, pct, short_count
from poolbench.report.latex import (
    COLUMN_WIDTH,
    TEXT_WIDTH,
    LatexColumn,
    LatexTable,
    head_column,
    number_column,
    ordered_rows,
    panel_rows,
    tex,
    two_line,
)
from poolbench.report.names import head_name
from poolbench.report.tables import column_of, has_references, named_keys, reference_text, write_table

SHARE_AFTER = "params_head"  # the head's share of all parameters is shown right after its count


def declared(output: str) -> list[tuple[str, Declared]]:
    """The declared record fields an output shows (``poolbench.record.fields.OUTPUTS``), in field order."""
    return [(name, item) for name, item in record_fields().items() if output in item.shown]


def _columns_of(name: str, item: Declared) -> tuple[str, str | None]:
    """The summary columns holding a field's value and spread."""
    return (f"{name}_mean", f"{name}_std") if item.aggregate == "mean" else (name, None)


def summary_table(runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (dataset, backbone, [extra keys], head) over the ok runs; numbers stay numbers."""
    ok = ok_runs(runs)
    keys = row_keys(extra_keys)
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "n_seeds"])
    fields = {name: item for name, item in record_fields().items() if item.aggregate != "none" and name in ok}
    rows = []
    for key_values, group in ok.groupby(keys, sort=True, dropna=False):
        row: dict[str, Any] = dict(zip(keys, key_values))
        row["n_seeds"] = int(group["seed"].nunique())
        row["seeds"] = ",".join(str(s) for s in sorted(group["seed"].unique()))
        row["precision"] = ",".join(sorted(group["precision"].dropna().unique())) or None
        for name, item in fields.items():
            if item.aggregate == "first":  # the same for every seed of a config: the first recorded value
                values = pd.to_numeric(group[name], errors="coerce").dropna()
                row[name] = float(values.iloc[0]) if not values.empty else math.nan
                continue
            mean, std, low, high = mean_std_ci(pd.to_numeric(group[name], errors="coerce").tolist())
            row[f"{name}_mean"], row[f"{name}_std"] = mean, std
            if item.ci:
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
        total = row.get("params_total")
        row["head_share"] = row["params_head"] / total if total and "params_head" in row else math.nan
        for pool_column in sorted(column for column in ok.columns if column.startswith("gem_p")):
            if group[pool_column].notna().any():
                mean, std, _, _ = mean_std_ci(group[pool_column].dropna().tolist())
                row[f"{pool_column}_mean"], row[f"{pool_column}_std"] = mean, std
        rows.append(row)
    return pd.DataFrame(rows)


def _cells(frame: pd.DataFrame, name: str, item: Declared) -> list[str]:
    value, spread = _columns_of(name, item)
    means = column_of(frame, value)
    stds = column_of(frame, spread) if spread else pd.Series([None] * len(frame), index=frame.index)
    return [declared_text(item.unit, mean, std) for mean, std in zip(means, stds)]


def _ci_cells(frame: pd.DataFrame, name: str) -> list[str]:
    lows, highs = column_of(frame, f"{name}_ci_low"), column_of(frame, f"{name}_ci_high")
    return [ci_text(low, high) for low, high in zip(lows, highs)]


def _share_cells(frame: pd.DataFrame) -> list[str]:
    return [pct(value, 1) for value in column_of(frame, "head_share")]


def _gem_cells(frame: pd.DataFrame) -> list[str] | None:
    if not column_of(frame, "gem_p_mean").notna().any():
        return None
    return [num_pm(mean, std, 2) for mean, std in zip(column_of(frame, "gem_p_mean"), column_of(frame, "gem_p_std"))]


def display_summary(summary: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """The summary as text: the key columns, n, then every field the summary, cost and Markdown views show."""
    out = named_keys(summary, key_columns)
    out["n"] = summary["n_seeds"]
    if summary.empty:
        return out
    shown = {name: item for output in ("summary", "cost", "markdown") for name, item in declared(output)}
    for name, item in shown.items():
        out[item.label] = _cells(summary, name, item)
        if item.ci:
            out["95% CI"] = _ci_cells(summary, name)
        if name == SHARE_AFTER:
            out["head share %"] = _share_cells(summary)
    if "precision" not in key_columns:  # what the runs computed in (grouped by it where it differs)
        out["precision"] = column_of(summary, "precision").map(lambda v: EMPTY if is_missing(v) else v)
    gem = _gem_cells(summary)
    if gem is not None:
        out["GeM p"] = gem
    if has_references(summary):
        out["published acc % (setting)"] = [reference_text(row) for _, row in summary.iterrows()]
    return out


def _latex_header(item: Declared) -> str:
    return two_line(item.latex or tex(item.label))


def _latex_columns(frame: pd.DataFrame, output: str) -> list[LatexColumn]:
    columns = []
    for name, item in declared(output):
        columns.append(number_column(_latex_header(item), _cells(frame, name, item)))
        if item.ci:
            columns.append(number_column(two_line("95\\% CI\n(\\%)"), _ci_cells(frame, name)))
        if name == SHARE_AFTER:
            columns.append(number_column(two_line("Head\nshare (\\%)"), _share_cells(frame)))
    return columns


def summary_latex(summary: pd.DataFrame, panel_columns: Sequence[str], setting: str = "") -> LatexTable:
    """Accuracy and generalization for ``\\textwidth``: n, the fields declared for ``summary`` (test accuracy
    with its CI, generalization gap, loss gap), GeM p and a published value where one matches."""
    frame = ordered_rows(summary, panel_columns)
    columns = [head_column(frame), number_column("$n$", [str(int(n)) for n in frame["n_seeds"]])]
    columns += _latex_columns(frame, "summary")
    gem = _gem_cells(frame)
    if gem is not None:
        columns.append(number_column(two_line("Final\nGeM $p$"), gem))
    if has_references(frame):
        published = [EMPTY if is_missing(v) else pct(v) for v in frame["reference_acc"]]
        columns.append(number_column(two_line("Published\nacc. (\\%)"), published))
    caption = (
        "Test accuracy, 95\\% CI of the mean (Student's $t$, clipped to [0, 100]) and generalization gap "
        "(train $-$ test accuracy, percentage points); mean $\\pm$ sample std over seeds."
    )
    if has_references(frame):
        published_rows = frame[frame["reference_acc"].notna()]
        settings = sorted({reference_text(row).split(" ", 1)[1].strip("()") for _, row in published_rows.iterrows()})
        caption += " Published: " + "; ".join(tex(text) for text in settings) + "."
    return LatexTable(
        "accuracy and generalization (full)",
        TEXT_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        caption=_with_setting(caption, setting),
    )


def cost_latex(summary: pd.DataFrame, panel_columns: Sequence[str], setting: str = "") -> LatexTable:
    """The fields declared for ``cost`` (parameters, multiply-adds, FLOPs, size, speed) for ``\\textwidth``."""
    frame = ordered_rows(summary, panel_columns)
    caption = (
        "Parameters, forward multiply-adds and FLOPs (2 per multiply-add) per image, serialized model size, CPU "
        "latency at batch 1 (median, fp32, threads as recorded) and training speed (means over seeds)."
    )
    return LatexTable(
        "parameters, multiply-adds, FLOPs, size and speed (full)",
        TEXT_WIDTH,
        [head_column(frame), *_latex_columns(frame, "cost")],
        panel_rows(frame, panel_columns),
        caption=_with_setting(caption, setting),
        font=r"\footnotesize",  # eleven columns
    )


def main_latex(
    summary: pd.DataFrame, paired: pd.DataFrame, panel_columns: Sequence[str], baseline: str, setting: str = ""
) -> LatexTable:
    """The compact table for ``\\columnwidth``: head, the accuracy fields declared for ``main``, Δ vs baseline
    [95% CI], Holm p, then the cost fields declared for ``main`` (three significant digits)."""
    frame = ordered_rows(summary, panel_columns)
    keyed = paired.set_index([*panel_columns, "head"]) if not paired.empty else None

    def pair(row: pd.Series, column: str) -> Any:
        key = tuple(row[c] for c in [*panel_columns, "head"])
        return keyed.loc[key, column] if keyed is not None and key in keyed.index else math.nan

    rows = [row for _, row in frame.iterrows()]
    delta = []
    for r in rows:
        value = tex(pct(pair(r, "diff_mean"), 1, plus=True))  # one decimal, as its CI
        interval = ci_text(pair(r, "diff_ci_low"), pair(r, "diff_ci_high"), 1, (-1.0, 1.0))
        if is_missing(pair(r, "diff_mean")) or interval == EMPTY:
            delta.append(value)
            continue
        # The CI under the difference, as the header reads: wide negative intervals still fit \columnwidth.
        interval = tex(interval).replace(", ", r",\,")
        delta.append(rf"\begin{{tabular}}[t]{{@{{}}r@{{}}}}{value}\\{{}}{interval}\end{{tabular}}")
    main = declared("main")
    columns = [head_column(frame)]
    columns += [number_column(_latex_header(i), _cells(frame, n, i)) for n, i in main if i.role != "cost"]
    columns += [
        LatexColumn(two_line("$\\Delta$ (pp)\n[95\\% CI]"), "r", delta),
        number_column(two_line("$p$\nHolm"), [format_p(pair(r, "p_holm")) for r in rows]),
    ]
    for name, item in main:
        if item.role == "cost":
            cells = [short_count(v) for v in frame[name]] if item.unit == COUNT else _cells(frame, name, item)
            columns.append(number_column(two_line(tex(item.label.capitalize())), cells))
    n_seeds = sorted({int(n) for n in frame["n_seeds"]}) if not frame.empty else []
    caption = (
        f"Test accuracy (mean $\\pm$ sample std over {'/'.join(map(str, n_seeds))} seeds); $\\Delta$: "
        f"difference to {tex(head_name(baseline))} paired on seed, with its 95\\% CI and Holm-adjusted paired "
        "$t$-test $p$; Params: total parameters."
    )
    return LatexTable(
        "main results (compact)",
        COLUMN_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        caption=_with_setting(caption, setting),
        font=r"\footnotesize",
        tabcolsep_pt=1.5,
    )


def _with_setting(caption: str, setting: str) -> str:
    return f"{caption} {tex(setting)}" if setting else caption


def write_summary(
    summary: pd.DataFrame,
    paired: pd.DataFrame,
    key_columns: list[str],
    baseline: str,
    out: Path,
    setting: str = "",
) -> list[Path]:
    """``summary.csv`` (every column), ``summary.md`` (the setting line, then the display view), ``main.tex``,
    ``summary.tex`` and ``cost.tex`` (the setting in each caption)."""
    panel = key_columns[:-1]
    latex = [
        ("main", main_latex(summary, paired, panel, baseline, setting)),
        ("summary", summary_latex(summary, panel, setting)),
        ("cost", cost_latex(summary, panel, setting)),
    ]
    return write_table(summary, display_summary(summary, key_columns), out, "summary", latex, preface=setting)
