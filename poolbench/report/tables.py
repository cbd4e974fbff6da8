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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.names import backbone_name, dataset_name, head_name, key_name, latex_escape

EMPTY = "—"
MINUS = "\u2212"  # the minus sign; a hyphen is not one
P_FLOOR = 0.001
LATEX_PACKAGES = ("booktabs",)
COLUMN_WIDTH = r"\columnwidth"
TEXT_WIDTH = r"\textwidth"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def signed_text(number: float, digits: int, plus: bool = False) -> str:
    """``-1.50`` as ``−1.50`` (a real minus); ``+1.50`` when ``plus``; a rounded -0.00 prints as 0.00."""
    text = f"{number:.{digits}f}"
    if text.lstrip("-").strip("0.") == "":  # rounds to zero: no sign
        return text.lstrip("-")
    if text.startswith("-"):
        return MINUS + text[1:]
    return f"+{text}" if plus else text


def pct(value: Any, digits: int = 2, plus: bool = False) -> str:
    return EMPTY if _missing(value) else signed_text(100 * float(value), digits, plus)


def pct_pm(mean: Any, std: Any, digits: int = 2, signed: bool = False) -> str:
    if _missing(mean):
        return EMPTY
    center = pct(mean, digits, plus=signed)
    return center if _missing(std) else f"{center} ± {pct(std, digits)}"


def num_pm(mean: Any, std: Any, digits: int = 3) -> str:
    if _missing(mean):
        return EMPTY
    center = signed_text(float(mean), digits)
    return center if _missing(std) else f"{center} ± {float(std):.{digits}f}"


def clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def ci_text(low: Any, high: Any, digits: int = 2, bounds: tuple[float, float] = (0.0, 1.0)) -> str:
    """A CI in percent (or pp), clipped to ``bounds`` (fractions): [0, 1] for accuracies, [-1, 1] for differences."""
    if _missing(low) or _missing(high):
        return EMPTY
    low, high = clip(float(low), *bounds), clip(float(high), *bounds)
    return f"[{pct(low, digits)}, {pct(high, digits)}]"


def count(value: Any) -> str:
    return EMPTY if _missing(value) else f"{int(value):,}"


def short_count(value: Any) -> str:
    """Parameter counts for a narrow column, three significant digits: 650, 1.34k, 24.1k, 272k, 1.27M."""
    if _missing(value):
        return EMPTY
    value = float(value)
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{int(value)}"


def format_p(p_value: Any) -> str:
    """Two significant digits (``0.0066``, ``0.50``, ``1.0``); ``<0.001`` below 0.001; EMPTY when undefined."""
    if _missing(p_value):
        return EMPTY
    p_value = float(p_value)
    return f"<{P_FLOOR:g}" if p_value < P_FLOOR else f"{p_value:#.2g}".rstrip(".")


def p_value_text(p_value: Any, test: str) -> str:
    """The p-value, or why there is none (``not enough seeds``)."""
    return test if _missing(p_value) else format_p(p_value)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([math.nan] * len(frame), index=frame.index)


def _map_rows(frame: pd.DataFrame, make: Callable[[pd.Series], str]) -> list[str]:
    return [make(row) for _, row in frame.iterrows()]


NAMERS = {"dataset": dataset_name, "backbone": backbone_name, "head": head_name, "baseline": head_name}


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
    if _missing(row.get("reference_acc")):
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
    out["generalization gap pp"] = _map_rows(summary, lambda r: pct_pm(r["gap_acc_mean"], r["gap_acc_std"]))
    out["loss gap"] = _map_rows(summary, lambda r: num_pm(r["gap_loss_mean"], r["gap_loss_std"]))
    out["params"] = summary["params_total"].map(count)
    out["backbone params"] = summary["params_backbone"].map(count)
    out["head params"] = summary["params_head"].map(count)
    out["head share %"] = summary["head_share"].map(lambda v: pct(v, 1))
    out["M mult-adds/img"] = _column(summary, "macs_per_image").map(
        lambda v: EMPTY if _missing(v) else f"{v / 1e6:.2f}"
    )
    out["MFLOPs/img (2 per mult-add)"] = summary["flops_per_image"].map(
        lambda v: EMPTY if _missing(v) else f"{v / 1e6:.2f}"
    )
    out["model KB"] = _column(summary, "model_bytes").map(lambda v: EMPTY if _missing(v) else f"{v / 1e3:,.0f}")
    out["CPU latency ms (batch 1)"] = _column(summary, "latency_ms_mean").map(
        lambda v: EMPTY if _missing(v) else f"{v:.2f}"
    )
    out["CPU img/s (batch 256)"] = _column(summary, "throughput_ips_mean").map(
        lambda v: EMPTY if _missing(v) else f"{v:,.0f}"
    )
    out["train s"] = summary["train_seconds_mean"].map(lambda v: EMPTY if _missing(v) else f"{v:.1f}")
    out["img/s"] = summary["images_per_second_mean"].map(lambda v: EMPTY if _missing(v) else f"{v:,.0f}")
    if _column(summary, "gem_p_mean").notna().any():
        gem_mean, gem_std = _column(summary, "gem_p_mean"), _column(summary, "gem_p_std")
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
    out["d_z"] = _column(paired, "effect_dz").map(lambda v: EMPTY if _missing(v) else signed_text(float(v), 1))
    out["p (paired t)"] = _map_rows(paired, lambda r: p_value_text(r["p_value"], r["test"]))
    out["p Holm"] = _column(paired, "p_holm").map(format_p)
    out["tests in family"] = _column(paired, "n_tests")
    return out


def write_table(
    raw: pd.DataFrame, display: pd.DataFrame, out_dir: Path, stem: str, latex: Sequence[tuple[str, LatexTable]] = ()
) -> list[Path]:
    """``stem.csv`` from the raw numbers, ``stem.md`` from the display view, each ``(name, table)`` of ``latex``
    as ``name.tex``."""
    paths = [out_dir / f"{stem}.csv", out_dir / f"{stem}.md"]
    atomic_write_text(paths[0], raw.to_csv(index=False))
    atomic_write_text(paths[1], to_markdown(display) + "\n")
    for name, table in latex:
        paths.append(out_dir / f"{name}.tex")
        atomic_write_text(paths[-1], table.render())
    return paths


def to_markdown(display: pd.DataFrame) -> str:
    if display.empty:
        return "_(none)_"
    cells = display.astype(str).map(lambda text: text.replace("|", "\\|").replace("\n", " "))
    return cells.to_markdown(index=False, disable_numparse=True)


# ----------------------------------------------------------------------------------------------------------- LaTeX


def tex(text: object) -> str:
    """Display text (as made above, with ±, −, Δ, <) as LaTeX: escaped, with the symbols in math mode."""
    escaped = latex_escape(text)
    for plain, latex in (
        (" ± ", r"\,$\pm$\,"),
        ("±", r"$\pm$"),
        (MINUS, "$-$"),
        ("Δ", r"$\Delta$"),
        ("—", "---"),
        (r"\textless{}", "$<$"),
        ("·", r"$\cdot$"),
    ):
        escaped = escaped.replace(plain, latex)
    return escaped


@dataclass
class LatexColumn:
    header: str  # LaTeX
    align: str  # l, r, c or p{...}
    cells: list[str]  # LaTeX


@dataclass
class LatexTable:
    """A booktabs ``tabular*`` of an exact width, rows in panels each under an italic heading row."""

    purpose: str
    width: str
    columns: list[LatexColumn]
    panels: list[tuple[str, list[int]]] = field(default_factory=list)  # (heading LaTeX, row indices)
    empty_text: str = "None."
    caption: str = ""
    font: str = r"\small"
    tabcolsep_pt: float = 4.0

    def render(self) -> str:
        n_columns = len(self.columns)
        spec = "".join(column.align for column in self.columns)
        lines = [
            f"% poolbench: {self.purpose}",
            f"% Fits {self.width}"
            + (
                " (use table* in a two-column paper)."
                if self.width == TEXT_WIDTH
                else " (one column of a two-column paper)."
            ),
            "% Needs in the preamble: " + ", ".join(r"\usepackage{" + p + "}" for p in LATEX_PACKAGES) + ".",
            r"% Use: \begin{table"
            + ("*" if self.width == TEXT_WIDTH else "")
            + r"}\centering\input{THIS_FILE}"
            + (rf"\caption{{{self.caption}}}" if self.caption else r"\caption{...}")
            + r"\end{table"
            + ("*" if self.width == TEXT_WIDTH else "")
            + "}",
            f"{{{self.font}\\setlength{{\\tabcolsep}}{{{self.tabcolsep_pt:g}pt}}%",
            rf"\begin{{tabular*}}{{{self.width}}}{{@{{\extracolsep{{\fill}}}}{spec}@{{}}}}",
            r"\toprule",
            " & ".join(column.header for column in self.columns) + r" \\",
            r"\midrule",
        ]
        n_rows = len(self.columns[0].cells) if self.columns else 0
        panels = self.panels or [("", list(range(n_rows)))]
        if n_rows == 0:
            lines.append(rf"\multicolumn{{{n_columns}}}{{@{{}}l}}{{{self.empty_text}}} \\")
        for index, (heading, rows) in enumerate(panels):
            if index > 0:
                lines.append(r"\addlinespace")
            if heading and (len(panels) > 1 or n_columns > 0):
                lines.append(rf"\multicolumn{{{n_columns}}}{{@{{}}l}}{{\textit{{{heading}}}}} \\")
            for row in rows:
                lines.append(" & ".join(column.cells[row] for column in self.columns) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular*}}", ""]
        return "\n".join(lines)


def panel_heading(keys: Sequence[str], values: Sequence[object]) -> str:
    """``Fashion-MNIST · Small CNN · learning rate = 0.1`` (plain text, for headings and figure titles)."""
    parts = []
    for key, value in zip(keys, values):
        if key in NAMERS:
            parts.append(NAMERS[key](value))
        else:
            parts.append(f"{key_name(key)} = {value}")
    return " · ".join(parts)


def panel_rows(frame: pd.DataFrame, panel_columns: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Row positions of ``frame`` by panel, in the frame's order, each with its LaTeX heading."""
    if frame.empty:
        return []
    positions = pd.Series(range(len(frame)), index=frame.index)
    panels = []
    for values, group in frame.groupby(list(panel_columns), sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        panels.append((tex(panel_heading(panel_columns, values)), sorted(positions[group.index].tolist())))
    return panels


def ordered_rows(frame: pd.DataFrame, panel_columns: Sequence[str]) -> pd.DataFrame:
    from poolbench.report.names import head_order

    if frame.empty:
        return frame
    rank = {head: i for i, head in enumerate(head_order(frame["head"]))}
    return (
        frame.assign(_rank=frame["head"].map(rank))
        .sort_values([*panel_columns, "_rank"], kind="stable")
        .drop(columns="_rank")
    )


def number_column(header: str, cells: Sequence[str]) -> LatexColumn:
    return LatexColumn(header, "r", [tex(cell) for cell in cells])


def head_column(frame: pd.DataFrame) -> LatexColumn:
    return LatexColumn("Head", "l", [tex(head_name(head)) for head in frame["head"]])


def two_line(text: str) -> str:
    """A two-line header cell (keeps number columns narrow)."""
    top, _, bottom = text.partition("\n")
    return rf"\begin{{tabular}}[b]{{@{{}}r@{{}}}}{top}\\{{}}{bottom}\end{{tabular}}" if bottom else top


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
        if _missing(pair(r, "diff_mean")):
            delta.append(tex(EMPTY))
            continue
        interval = ci_text(pair(r, "diff_ci_low"), pair(r, "diff_ci_high"), 1, (-1.0, 1.0))
        interval = "" if interval == EMPTY else " " + tex(interval).replace(", ", r",\,")
        delta.append(tex(pct(pair(r, "diff_mean"), 1, plus=True)) + interval)  # one decimal, as its CI
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
            two_line("Generalization\ngap (pp)"), [pct_pm(r["gap_acc_mean"], r["gap_acc_std"]) for r in rows]
        ),
        number_column(
            two_line("Loss gap\n(test $-$ train)"), [num_pm(r["gap_loss_mean"], r["gap_loss_std"]) for r in rows]
        ),
    ]
    if _column(frame, "gem_p_mean").notna().any():
        columns.append(
            number_column(
                two_line("Final\nGeM $p$"), [num_pm(r.get("gem_p_mean"), r.get("gem_p_std"), 2) for r in rows]
            )
        )
    if has_references(frame):
        published = [EMPTY if _missing(r["reference_acc"]) else pct(r["reference_acc"]) for r in rows]
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
        return EMPTY if _missing(value) else format(float(value), fmt)

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
            [EMPTY if _missing(r["effect_dz"]) else signed_text(r["effect_dz"], 1) for r in rows],
        ),
        number_column("$t$", [EMPTY if _missing(r["t_statistic"]) else signed_text(r["t_statistic"], 2) for r in rows]),
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
        text = "" if _missing(text) else str(text)
        text = text if len(text) <= 160 else text[:157] + "..."
        return tex(text).replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")

    columns = [
        head_column(frame),
        LatexColumn("Seed", "r", [str(seed) for seed in frame["seed"]]),
        LatexColumn("Status", "l", [tex(status) for status in frame["status"]]),
        LatexColumn(
            two_line("Epochs\ndone"),
            "r",
            [str(int(e)) if not _missing(e) else "---" for e in frame["epochs_completed"]],
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
