"""LaTeX tables sized for a paper: a ``tabular*`` stretched to an exact width (``\\columnwidth`` or
``\\textwidth``), booktabs rules, right-aligned number columns of fixed decimals, and one italic heading row per
panel instead of repeated key columns. Each file starts with a comment naming the packages it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from poolbench.report.formatting import MINUS
from poolbench.report.names import NAMERS, head_name, key_name, latex_escape
from poolbench.report.variants import ABSENT

LATEX_PACKAGES = ("booktabs",)


COLUMN_WIDTH = r"\columnwidth"


TEXT_WIDTH = r"\textwidth"


# Body lines (rows, panel headings) of one table float: with its header and caption it fits \textheight.
PAGE_LINES = 36


HEADING_LINES = 2  # a panel heading, with the space above it (a long one wraps)


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
    part: tuple[int, int] = (1, 1)  # (this part, parts): a table taller than a page is cut into parts

    def row_lines(self, row: int) -> int:
        """Text lines of one body row: a cell stacking lines (a CI under its difference) counts each."""
        return 1 + max((column.cells[row].count("\\\\") for column in self.columns), default=0)

    def parts(self, page_lines: int = PAGE_LINES) -> list[LatexTable]:
        """The table cut between panels into parts of at most ``page_lines`` body lines, each a table float that
        fits a page (a float taller than ``\\textheight`` runs off the page); a panel longer than a page is cut
        between rows, its heading repeated. One part: the table itself."""
        n_rows = len(self.columns[0].cells) if self.columns else 0
        chunks: list[tuple[str, list[int]]] = []
        for heading, rows in self.panels or [("", list(range(n_rows)))]:
            pieces: list[list[int]] = [[]]
            size = HEADING_LINES
            for row in rows:
                if pieces[-1] and size + self.row_lines(row) > page_lines:
                    pieces.append([])
                    size = HEADING_LINES
                pieces[-1].append(row)
                size += self.row_lines(row)
            continued = f"{heading} (continued)" if heading else ""
            chunks += [(continued if index else heading, piece) for index, piece in enumerate(pieces)]
        groups: list[list[tuple[str, list[int]]]] = [[]]
        used = 0
        for heading, rows in chunks:
            lines = HEADING_LINES + sum(self.row_lines(row) for row in rows)
            if groups[-1] and used + lines > page_lines:
                groups.append([])
                used = 0
            groups[-1].append((heading, rows))
            used += lines
        if len(groups) == 1:
            return [self]
        return [self._subset(group, (index + 1, len(groups))) for index, group in enumerate(groups)]

    def _subset(self, panels: list[tuple[str, list[int]]], part: tuple[int, int]) -> LatexTable:
        order = [row for _, rows in panels for row in rows]
        columns = [LatexColumn(c.header, c.align, [c.cells[row] for row in order]) for c in self.columns]
        renumbered, start = [], 0
        for heading, rows in panels:
            renumbered.append((heading, list(range(start, start + len(rows)))))
            start += len(rows)
        caption = self.caption if part[0] == 1 else f"{self.caption} (continued)" if self.caption else ""
        return replace(self, columns=columns, panels=renumbered, caption=caption, part=part)

    def render(self) -> str:
        n_columns = len(self.columns)
        spec = "".join(column.align for column in self.columns)
        lines = [
            f"% poolbench: {self.purpose}"
            + (
                f", part {self.part[0]} of {self.part[1]} (cut between panels to fit a page)"
                if self.part[1] > 1
                else ""
            ),
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
    """``Fashion-MNIST · Small CNN · learning rate = 0.1`` (plain text, for headings and figure titles). A key
    that does not apply to the setting (its runs' configs lack it: ``ABSENT``) is left out, not shown as "= —"."""
    parts = []
    for key, value in zip(keys, values):
        if value is None or str(value) in (ABSENT, "nan"):
            continue
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


LONG_HEAD_NAME = 14  # characters: a longer head name (``Flatten + dropout + FC``) takes two lines


def head_column(frame: pd.DataFrame) -> LatexColumn:
    return LatexColumn("Head", "l", [head_cell(head_name(head)) for head in frame["head"]])


def head_cell(name: str) -> str:
    """A head's name for the first column; a long one breaks after its first `` + `` (a narrow column)."""
    first, plus, rest = name.partition(" + ")
    if len(name) <= LONG_HEAD_NAME or not plus:
        return tex(name)
    return rf"\begin{{tabular}}[t]{{@{{}}l@{{}}}}{tex(first)} +\\{{}}{tex(rest)}\end{{tabular}}"


def two_line(text: str) -> str:
    """A two-line header cell (keeps number columns narrow)."""
    top, _, bottom = text.partition("\n")
    return rf"\begin{{tabular}}[b]{{@{{}}r@{{}}}}{top}\\{{}}{bottom}\end{{tabular}}" if bottom else top
