"""The report's LaTeX tables: ``main.tex`` (compact, fits ``\\columnwidth``) and the full tables
(``summary.tex``, ``cost.tex``, ``paired.tex``, ``failed.tex``; ``\\textwidth``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from poolbench.report.formatting import (
    EMPTY,
    ci_text,
    count,
    format_p,
    is_missing,
    num_pm,
    pct,
    pct_pm,
    short_count,
    signed_text,
)
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
from poolbench.report.tables import column_of, has_references, reference_text


def main_latex(summary: pd.DataFrame, paired: pd.DataFrame, panel_columns: Sequence[str], baseline: str) -> LatexTable:
    """The compact table for ``\\columnwidth``: head, test accuracy, Δ vs baseline [95% CI], Holm p, params."""
    frame = ordered_rows(summary, panel_columns)
    keyed = paired.set_index([*panel_columns, "head"]) if not paired.empty else None

    def pair(row: pd.Series, column: str) -> Any:
        key = tuple(row[c] for c in [*panel_columns, "head"])
        if keyed is None or key not in keyed.index:
            return math.nan
        return keyed.loc[key, column]

    rows = [row for _, row in frame.iterrows()]
    delta = []
    for r in rows:
        if is_missing(pair(r, "diff_mean")):
            delta.append(tex(EMPTY))
            continue
        value = tex(pct(pair(r, "diff_mean"), 1, plus=True))  # one decimal, as its CI
        interval = ci_text(pair(r, "diff_ci_low"), pair(r, "diff_ci_high"), 1, (-1.0, 1.0))
        if interval == EMPTY:
            delta.append(value)
            continue
        # The CI under the difference, as the header reads: wide negative intervals still fit \columnwidth.
        interval = tex(interval).replace(", ", r",\,")
        delta.append(rf"\begin{{tabular}}[t]{{@{{}}r@{{}}}}{value}\\{{}}{interval}\end{{tabular}}")
    p_holm = [format_p(pair(r, "p_holm")) for r in rows]
    base = tex(head_name(baseline))
    columns = [
        head_column(frame),
        number_column(two_line("Test acc.\n(\\%)"), [pct_pm(r["test_acc_mean"], r["test_acc_std"]) for r in rows]),
        LatexColumn(two_line("$\\Delta$ (pp)\n[95\\% CI]"), "r", delta),
        number_column(two_line("$p$\nHolm"), p_holm),
        number_column(two_line("Params"), [short_count(r["params_total"]) for r in rows]),
    ]
    n_seeds = sorted({int(n) for n in frame["n_seeds"]}) if not frame.empty else []
    caption = (
        f"Test accuracy (mean $\\pm$ sample std over {'/'.join(map(str, n_seeds))} seeds); $\\Delta$: "
        f"difference to {base} paired on seed, with its 95\\% CI and Holm-adjusted paired $t$-test $p$; "
        "Params: total parameters."
    )
    return LatexTable(
        "main results (compact)",
        COLUMN_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        caption=caption,
        font=r"\footnotesize",
        tabcolsep_pt=1.5,
    )


def summary_latex(summary: pd.DataFrame, panel_columns: Sequence[str]) -> LatexTable:
    """Accuracy and generalization for ``\\textwidth``: n, accuracy ± std, CI, generalization gap, loss gap,
    GeM p and a published value where one matches."""
    frame = ordered_rows(summary, panel_columns)
    rows = [row for _, row in frame.iterrows()]
    columns = [
        head_column(frame),
        number_column("$n$", [str(int(r["n_seeds"])) for r in rows]),
        number_column(two_line("Test acc.\n(\\%)"), [pct_pm(r["test_acc_mean"], r["test_acc_std"]) for r in rows]),
        number_column(
            two_line("95\\% CI\n(\\%)"), [ci_text(r["test_acc_ci_low"], r["test_acc_ci_high"]) for r in rows]
        ),
        number_column(
            two_line("Generalization\ngap (pp)"), [pct_pm(r["overfit_acc_mean"], r["overfit_acc_std"]) for r in rows]
        ),
        number_column(
            two_line("Loss gap\n(test $-$ train)"),
            [num_pm(r["overfit_loss_mean"], r["overfit_loss_std"]) for r in rows],
        ),
    ]
    if column_of(frame, "gem_p_mean").notna().any():
        columns.append(
            number_column(
                two_line("Final\nGeM $p$"), [num_pm(r.get("gem_p_mean"), r.get("gem_p_std"), 2) for r in rows]
            )
        )
    if has_references(frame):
        published = [EMPTY if is_missing(r["reference_acc"]) else pct(r["reference_acc"]) for r in rows]
        columns.append(number_column(two_line("Published\nacc. (\\%)"), published))
    caption = (
        "Test accuracy, 95\\% CI of the mean (Student's $t$, clipped to [0, 100]) and generalization gap "
        "(train $-$ test accuracy, percentage points); mean $\\pm$ sample std over seeds."
    )
    if has_references(frame):
        published = frame[frame["reference_acc"].notna()]
        settings = sorted({reference_text(row).split(" ", 1)[1].strip("()") for _, row in published.iterrows()})
        caption += " Published: " + "; ".join(tex(setting) for setting in settings) + "."
    return LatexTable(
        "accuracy and generalization (full)", TEXT_WIDTH, columns, panel_rows(frame, panel_columns), caption=caption
    )


def cost_latex(summary: pd.DataFrame, panel_columns: Sequence[str]) -> LatexTable:
    """Parameters, FLOPs and speed for ``\\textwidth``."""
    frame = ordered_rows(summary, panel_columns)
    rows = [row for _, row in frame.iterrows()]

    def number(value: Any, fmt: str) -> str:
        return EMPTY if is_missing(value) else format(float(value), fmt)

    columns = [
        head_column(frame),
        number_column(two_line("Params\n(total)"), [count(r["params_total"]) for r in rows]),
        number_column(two_line("Params\n(backbone)"), [count(r["params_backbone"]) for r in rows]),
        number_column(two_line("Params\n(head)"), [count(r["params_head"]) for r in rows]),
        number_column(two_line("Head\nshare (\\%)"), [pct(r["head_share"], 1) for r in rows]),
        number_column(
            two_line("M mult-\nadds/img"), [number(r.get("macs_per_image", math.nan) / 1e6, ".2f") for r in rows]
        ),
        number_column(two_line("MFLOPs\nper image"), [number(r["flops_per_image"] / 1e6, ".2f") for r in rows]),
        number_column(two_line("Size\n(KB)"), [number(r.get("model_bytes", math.nan) / 1e3, ",.0f") for r in rows]),
        number_column(two_line("CPU lat.\n(ms)"), [number(r.get("latency_ms_mean", math.nan), ".2f") for r in rows]),
        number_column(two_line("Train\ntime (s)"), [number(r["train_seconds_mean"], ".1f") for r in rows]),
        number_column(two_line("Images\nper s"), [number(r["images_per_second_mean"], ",.0f") for r in rows]),
    ]
    return LatexTable(
        "parameters, multiply-adds, FLOPs, size and speed (full)",
        TEXT_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        caption=(
            "Parameters, forward multiply-adds and FLOPs (2 per multiply-add) per image, serialized model size, CPU "
            "latency at batch 1 (median, fp32, threads as recorded) and training speed (means over seeds)."
        ),
        font=r"\footnotesize",  # eleven columns
    )


def paired_latex(paired: pd.DataFrame, panel_columns: Sequence[str], baseline: str) -> LatexTable:
    """Each head minus the baseline, paired on seed, for ``\\textwidth``."""
    frame = ordered_rows(paired, panel_columns)
    rows = [row for _, row in frame.iterrows()]
    columns = [
        head_column(frame),
        number_column("Pairs", [str(int(r["n_pairs"])) for r in rows]),
        number_column(
            two_line(r"$\Delta$ test acc." + "\n(pp)"),
            [pct_pm(r["diff_mean"], r["diff_std"], signed=True) for r in rows],
        ),
        number_column(
            two_line("95\\% CI\n(pp)"), [ci_text(r["diff_ci_low"], r["diff_ci_high"], 2, (-1.0, 1.0)) for r in rows]
        ),
        number_column(
            two_line("Effect\n$d_z$"),
            [EMPTY if is_missing(r["effect_dz"]) else signed_text(r["effect_dz"], 1) for r in rows],
        ),
        number_column(
            "$t$", [EMPTY if is_missing(r["t_statistic"]) else signed_text(r["t_statistic"], 2) for r in rows]
        ),
        number_column("$p$", [format_p(r["p_value"]) for r in rows]),
        number_column(two_line("$p$\nHolm"), [format_p(r["p_holm"]) for r in rows]),
    ]
    base = tex(head_name(baseline))
    caption = (
        f"Difference to {base} in test accuracy, paired on seed: mean $\\pm$ sample std of the differences, "
        "95\\% CI, Cohen's $d_z$, paired $t$-test $p$ and Holm-adjusted $p$ (family: all heads of a panel)."
    )
    return LatexTable(
        "paired comparison with the baseline (full)",
        TEXT_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        empty_text=f"No head paired with {base}.",
        caption=caption,
    )


def failed_latex(failed: pd.DataFrame, panel_columns: Sequence[str]) -> LatexTable:
    """Failed and diverged runs with their error (wrapped in a paragraph column)."""
    frame = ordered_rows(failed, panel_columns)

    def error_cell(text: Any) -> str:
        text = "" if is_missing(text) else str(text)
        text = text if len(text) <= 160 else text[:157] + "..."
        return tex(text).replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")

    columns = [
        head_column(frame),
        LatexColumn("Seed", "r", [str(seed) for seed in frame["seed"]]),
        LatexColumn("Status", "l", [tex(status) for status in frame["status"]]),
        LatexColumn(
            two_line("Epochs\ndone"),
            "r",
            [str(int(e)) if not is_missing(e) else "---" for e in frame["epochs_completed"]],
        ),
        LatexColumn(
            "Error", "l", [rf"\parbox[t]{{0.5\textwidth}}{{\raggedright {error_cell(e)}}}" for e in frame["error"]]
        ),
    ]
    return LatexTable(
        "failed and diverged runs (full)",
        TEXT_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        empty_text="No failed or diverged runs.",
        caption="Failed and diverged runs (never averaged in).",
    )
