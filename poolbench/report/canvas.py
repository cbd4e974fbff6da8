"""The figures' common ground: print sizes (3.4 in single column, 7 in double), the paper style sheet,
saving PNG + PDF, titles, the seeds note, legends with each head's own colour and marker, and mean ± std bands.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from poolbench.atomic import atomic_write_bytes
from poolbench.report.latex import panel_heading
from poolbench.report.names import HeadStyle, head_name

STYLE_FILE = "poolbench.mplstyle"


FORMATS = ("png", "pdf")


SINGLE_COLUMN_IN = 3.4


DOUBLE_COLUMN_IN = 7.0


MIN_FONT_PT = 7.0


MAX_WRAPS = 8  # fit_titles: attempts at wrapping one title
MIN_WRAP_CHARS = 12
TITLE_MARGIN_PX = 4.0


@dataclass(frozen=True)
class FigureFile:
    kind: str
    title: str
    png: Path
    pdf: Path


@dataclass
class BuiltFigure:
    """A figure before it is saved: what the tests inspect (colours, fonts, size)."""

    kind: str
    title: str
    key_values: tuple[object, ...]
    figure: Figure


def style_path() -> str:
    return str(resources.files("poolbench.report").joinpath(STYLE_FILE))


def slug(values: Sequence[object]) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join(str(v) for v in values)).strip("_") or "all"


def head_gid(head: object) -> str:
    return f"head:{head}"


def save_figure(figure: Figure, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Render to bytes in memory, then write each format atomically (no half-written figure on disk); titles
    are wrapped to fit first (``fit_titles``)."""
    fit_titles(figure)
    paths = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        figure.savefig(buffer, format=fmt, metadata=metadata)
        path = out_dir / f"{stem}.{fmt}"
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths[0], paths[1]


def fit_titles(figure: Figure) -> None:
    """Wrap every title (the figure's and each axes') that would run past an edge of the figure onto more lines,
    at the " · " between a heading's parts, else between words, until it lies inside: saved at exactly its print
    size (no tight bounding box), a figure would cut such a title off at both edges. Constrained layout then
    makes room for the extra lines."""
    FigureCanvasAgg(figure)
    texts = [*figure.texts, *(axes.title for axes in figure.axes if axes.get_visible())]
    for text in texts:
        if not text.get_text():
            continue
        for _ in range(MAX_WRAPS):
            figure.draw_without_rendering()  # lays the figure out: the title's final position and size
            box, edges = text.get_window_extent(), figure.bbox
            room = 2 * min(box.x0 + box.width / 2 - edges.x0, edges.x1 - box.x0 - box.width / 2) - TITLE_MARGIN_PX
            if box.width <= room:
                break
            longest = max(len(line) for line in text.get_text().split("\n"))
            text.set_text(wrapped(text.get_text(), max(MIN_WRAP_CHARS, int(longest * room / box.width) - 1)))


def wrapped(text: str, chars: int) -> str:
    """Each line of ``text`` cut into lines of at most ``chars`` characters where it can be: between the parts of
    a heading (" · "), else between words (a single longer word stays whole)."""
    lines = []
    for line in text.split("\n"):
        current = ""
        for chunk in line.split(" · "):
            for index, piece in enumerate(textwrap.wrap(chunk, chars, break_long_words=False) or [""]):
                joint = " · " if index == 0 else " "
                if current and len(current) + len(joint) + len(piece) <= chars:
                    current += joint + piece
                else:
                    lines += [current] if current else []
                    current = piece
        lines.append(current)
    return "\n".join(lines)


def new_figure(width: float = SINGLE_COLUMN_IN, height: float = 2.4, **subplots: Any) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(**subplots) if subplots else figure.add_subplot()


def panel_title(keys: Sequence[str], values: Sequence[object]) -> str:
    return panel_heading(keys, values)


def seeds_text(n_values: Sequence[int]) -> str:
    """How many seeds a figure averages, honestly: 'single run (1 seed)', 'mean ± std, n = 3 seeds'."""
    counts = sorted({int(n) for n in n_values})
    if counts == [1]:
        return "single run (1 seed), no spread"
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"mean ± std over n = {n} seeds"


def head_handles(styles: dict[str, HeadStyle], heads: Sequence[str]) -> list[Line2D]:
    """Legend entries: each head's own colour and marker, tagged with its id (tests read the gid)."""
    return [
        Line2D(
            [],
            [],
            color=styles[h].color,
            marker=styles[h].marker,
            linestyle="none",
            label=head_name(h),
            gid=head_gid(h),
        )
        for h in heads
    ]


def head_legend(figure: Figure, styles: dict[str, HeadStyle], heads: Sequence[str], ncols: int = 3) -> None:
    handles = head_handles(styles, heads)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(ncols, len(handles)))


def mean_std_band(
    axes, band: pd.DataFrame, color: str, style: str, scale: float, gid: str, marker: str | None = None
) -> None:
    mean = band["mean"] * scale
    axes.plot(band["epoch"], mean, style, color=color, gid=gid, marker=marker if len(band) < 8 else None, markersize=3)
    if (band["n"] > 1).any():
        std = band["std"].fillna(0) * scale
        axes.fill_between(band["epoch"], mean - std, mean + std, color=color, alpha=0.18, linewidth=0, gid=gid)
