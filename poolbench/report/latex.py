"""LaTeX tables sized for a paper: a ``tabular*`` stretched to an exact width (``\\columnwidth`` or
``\\textwidth``), booktabs rules, right-aligned number columns of fixed decimals, and one italic heading row per
panel instead of repeated key columns. Each file starts with a comment naming the packages it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from poolbench.report.formatting import MINUS
from poolbench.report.names import NAMERS, head_name, key_name, latex_escape

LATEX_PACKAGES = ("booktabs",)


COLUMN_WIDTH = r"\columnwidth"


TEXT_WIDTH = r"\textwidth"


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
                # A paragraph as wide as the table: a long heading (many grouping keys) wraps instead of widening it.
                cell = rf"@{{}}p{{{self.width}}}@{{}}"
                lines.append(rf"\multicolumn{{{n_columns}}}{{{cell}}}{{\raggedright\textit{{{heading}}}}} \\")
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
