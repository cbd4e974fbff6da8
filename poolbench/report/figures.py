"""Paper figures from the aggregated tables, each written as PNG and PDF at its print size.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas (no pyplot global state, no
display needed), in the style shipped as ``poolbench.mplstyle``, saved to memory, then written atomically.

Print size: every figure is made at the width it is printed at, 3.4 in (one column of a two-column paper,
``SINGLE_COLUMN_IN``) or 7 in (both columns, ``DOUBLE_COLUMN_IN``), and saved at exactly that size (no tight
bounding box), so at print size no text is smaller than 7 pt (``MIN_FONT_PT``; the style's smallest font).

Colours and markers: one per head, from ``poolbench.report.names.head_styles`` (keyed by the head's name,
never by its position), the same in every figure; every artist drawn for a head carries ``gid="head:NAME"``.
Error bars and bands are ± one sample standard deviation (ddof=1) over seeds; a single seed gets neither and
the figure says "single run".
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, MaxNLocator
from matplotlib.typing import FillStyleType

from poolbench.atomic import atomic_write_bytes
from poolbench.report.aggregate import ok_runs, panel_keys, select_panel
from poolbench.report.curves import curve_band
from poolbench.report.names import HeadStyle, backbone_name, head_name, head_order, head_styles
from poolbench.report.shift import table_pixels
from poolbench.report.tables import panel_heading

# PDF font subsetting logs every table it touches at INFO; under Hydra's root logger that floods a sweep's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)
STYLE_FILE = "poolbench.mplstyle"
FORMATS = ("png", "pdf")
SINGLE_COLUMN_IN = 3.4
DOUBLE_COLUMN_IN = 7.0
MIN_FONT_PT = 7.0
# accuracy vs parameters: points closer than DODGE_FRACTION of the log axis span (heads sharing a count) are
# spread sideways to that spacing, in order of count, with a leader line to the true count (dodge_positions).
DODGE_FRACTION = 0.03
MIN_SPAN_DECADES = 0.3
CURVE_COLUMNS_MAX = 4  # learning curves: at most this many panels per row
BACKBONE_FILLS: tuple[FillStyleType, ...] = ("full", "none", "left", "bottom")


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
    """Render to bytes in memory, then write each format atomically (no half-written figure on disk)."""
    FigureCanvasAgg(figure)
    paths = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        figure.savefig(buffer, format=fmt, metadata=metadata)
        path = out_dir / f"{stem}.{fmt}"
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths[0], paths[1]


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


def _head_handles(styles: dict[str, HeadStyle], heads: Sequence[str]) -> list[Line2D]:
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


def _head_legend(figure: Figure, styles: dict[str, HeadStyle], heads: Sequence[str], ncols: int = 3) -> None:
    handles = _head_handles(styles, heads)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(ncols, len(handles)))


def accuracy_per_head(summary: pd.DataFrame, runs: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    return _dot_plot(summary, runs, "test_acc", "test accuracy (%)", title, styles)


def generalization_gap_per_head(
    summary: pd.DataFrame, runs: pd.DataFrame, title: str, styles: dict[str, HeadStyle]
) -> Figure:
    return _dot_plot(summary, runs, "gap_acc", "generalization gap\n(train − test acc., pp)", title, styles)


def _dot_plot(
    summary: pd.DataFrame, runs: pd.DataFrame, metric: str, ylabel: str, title: str, styles: dict[str, HeadStyle]
) -> Figure:
    """Mean ± std per head in its colour and marker, each seed as a small hollow dot beside it."""
    heads = head_order(summary["head"])
    figure, axes = new_figure(height=2.5)
    rows = summary.set_index("head")
    for x, head in enumerate(heads):
        style, row = styles[head], rows.loc[head]
        seeds = runs[runs["head"] == head][metric].dropna() * 100
        if int(row["n_seeds"]) > 1:
            axes.scatter(
                np.full(len(seeds), x + 0.22),
                seeds,
                s=9,
                facecolors="none",
                edgecolors=style.color,
                linewidths=0.6,
                alpha=0.8,
                zorder=2,
                gid=head_gid(head),
            )
        std = row[f"{metric}_std"] * 100
        axes.errorbar(
            x,
            row[f"{metric}_mean"] * 100,
            yerr=None if math.isnan(std) else std,
            fmt=style.marker,
            color=style.color,
            zorder=3,
            gid=head_gid(head),
        )
    axes.set_xticks(
        range(len(heads)),
        [head_name(h) for h in heads],
        rotation=35 if len(heads) > 3 else 0,
        ha="right" if len(heads) > 3 else "center",
        rotation_mode="anchor",
    )
    axes.set_xlim(-0.5, len(heads) - 0.5)
    axes.set_ylabel(ylabel)
    axes.set_title(f"{title}\n{seeds_text(summary['n_seeds'])}")
    return figure


def dodge_positions(counts: Sequence[float]) -> list[float]:
    """x positions for parameter counts on a log axis, no two closer than DODGE_FRACTION of the axis span.

    Points are taken in order of count (ties: the given order, i.e. head order) and joined into chains wherever
    two would be closer than one step; each chain is laid out one step apart, centred on the mean log count of
    its members, and chains that then touch are merged, until none do. The order of the counts is kept, a lone
    point stays at its count, and the figure draws a leader line from each moved point to its true count."""
    if not counts:
        return []
    logs = [math.log10(float(c)) for c in counts]
    step = DODGE_FRACTION * max(max(logs) - min(logs), MIN_SPAN_DECADES)
    order = sorted(range(len(counts)), key=lambda i: (logs[i], i))
    chains = [[i] for i in order]

    def layout(chain: list[int]) -> list[float]:
        centre = sum(logs[i] for i in chain) / len(chain)
        return [centre + (k - (len(chain) - 1) / 2) * step for k in range(len(chain))]

    merged = True
    while merged:
        merged = False
        for k in range(len(chains) - 1):
            if layout(chains[k])[-1] + step > layout(chains[k + 1])[0] + 1e-12:
                chains[k : k + 2] = [chains[k] + chains[k + 1]]
                merged = True
                break
    positions = [0.0] * len(counts)
    for chain in chains:
        for index, x in zip(chain, layout(chain)):
            positions[index] = float(counts[index]) if len(chain) == 1 else 10**x
    return positions


def accuracy_vs_params(summary: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    """Mean test accuracy against total parameters (log x): one colour and marker per head, fill per backbone.
    Heads with the same count are dodged sideways (``dodge_positions``), which the x label says."""
    figure, axes = new_figure(height=2.9)
    backbones = sorted(summary["backbone"].unique())
    rank = {head: i for i, head in enumerate(head_order(summary["head"]))}
    rows = summary.assign(_rank=summary["head"].map(rank)).sort_values(["backbone", "_rank"], kind="stable")
    counts = rows["params_total"].astype(float).tolist()
    positions = dodge_positions(counts)
    dodged = any(not math.isclose(x, c, rel_tol=1e-9) for x, c in zip(positions, counts))
    for x, row in zip(positions, rows.itertuples(index=False)):
        style = styles[row.head]
        fill = BACKBONE_FILLS[backbones.index(row.backbone) % len(BACKBONE_FILLS)]
        std = row.test_acc_std * 100
        if not math.isclose(x, row.params_total, rel_tol=1e-9):  # leader line to the true count
            axes.plot(
                [row.params_total, x],
                [row.test_acc_mean * 100] * 2,
                color=style.color,
                linewidth=0.6,
                zorder=2,
                gid=head_gid(row.head),
            )
            axes.plot(
                [row.params_total],
                [row.test_acc_mean * 100],
                "|",
                color=style.color,
                markersize=4,
                zorder=2,
                gid=head_gid(row.head),
            )
        axes.errorbar(
            x,
            row.test_acc_mean * 100,
            yerr=None if math.isnan(std) else std,
            fmt=style.marker,
            color=style.color,
            fillstyle=fill,
            zorder=3,
            gid=head_gid(row.head),
        )
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))
    if summary["params_total"].max() < 10 * summary["params_total"].min():  # within a decade: label minor ticks
        axes.xaxis.set_minor_formatter(EngFormatter(sep=""))
    axes.set_xlabel("parameters (total, log scale)" + ("\npoints moved sideways; line: true count" if dodged else ""))
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{title}\n{seeds_text(summary['n_seeds'])}")
    heads = head_order(summary["head"])
    handles = _head_handles(styles, heads)
    if len(backbones) > 1:
        handles += [
            Line2D(
                [],
                [],
                color="0.3",
                marker="o",
                fillstyle=BACKBONE_FILLS[i % len(BACKBONE_FILLS)],
                linestyle="none",
                label=backbone_name(b),
            )
            for i, b in enumerate(backbones)
        ]
    figure.legend(handles=handles, loc="outside lower center", ncols=3)
    return figure


def learning_curves(curves: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    """Small multiples, one panel per head on shared axes: train (dashed) and test (solid) accuracy per epoch,
    mean over seeds with a ± std band when there are several seeds."""
    heads = head_order(curves["head"])
    ncols = min(CURVE_COLUMNS_MAX, len(heads))
    nrows = math.ceil(len(heads) / ncols)
    width = DOUBLE_COLUMN_IN if len(heads) > 2 else SINGLE_COLUMN_IN
    figure, grid = new_figure(
        width, 0.75 + 1.45 * nrows, nrows=nrows, ncols=ncols, sharex=True, sharey=True, squeeze=False
    )
    n_seeds = curves.groupby("head")["seed"].nunique()
    for index, head in enumerate(heads):
        axes = grid[index // ncols][index % ncols]
        group = curves[curves["head"] == head]
        for column, style in (("train_acc", "--"), ("test_acc", "-")):
            _band(axes, curve_band(group, column), styles[head].color, style, scale=100, gid=head_gid(head))
        axes.set_title(head_name(head))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for index in range(len(heads), nrows * ncols):
        grid[index // ncols][index % ncols].set_visible(False)
    for axes in grid[-1]:
        axes.set_xlabel("epoch")
    for row in grid:
        row[0].set_ylabel("accuracy (%)")
    lines = [
        Line2D([], [], color="0.2", linestyle="--", label="train"),
        Line2D([], [], color="0.2", linestyle="-", label="test"),
    ]
    figure.legend(handles=lines, loc="outside lower center", ncols=2)
    figure.suptitle(f"{title}: learning curves, {seeds_text(n_seeds.tolist())}", fontsize="medium")
    return figure


def gem_p_curves(curves: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    """The learned GeM p per epoch from its initial value (epoch 0: ``head.p`` of the run's config)."""
    figure, axes = new_figure(height=2.4)
    heads = head_order(curves["head"])
    for head in heads:
        _band(
            axes,
            curve_band(curves[curves["head"] == head], "gem_p"),
            styles[head].color,
            "-",
            scale=1,
            gid=head_gid(head),
            marker=styles[head].marker,
        )
    axes.set_xlabel("epoch (0: initial p)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("GeM p")
    n_seeds = curves.groupby("head")["seed"].nunique()
    axes.set_title(f"{title}: learned GeM p\n{seeds_text(n_seeds.tolist())}")
    if len(heads) > 1:
        _head_legend(figure, styles, heads)
    return figure


def accuracy_vs_shift(shifts: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    """The translation test: mean ± std test accuracy against how far the test images were moved."""
    figure, axes = new_figure(height=2.9)
    pixels = table_pixels(shifts)
    heads = head_order(shifts["head"])
    rows = shifts.set_index("head")
    for head in heads:
        row, style = rows.loc[head], styles[head]
        means = np.array([row[f"acc_{p}_mean"] for p in pixels]) * 100
        stds = np.array([row[f"acc_{p}_std"] for p in pixels]) * 100
        axes.errorbar(
            pixels,
            means,
            yerr=None if np.isnan(stds).all() else np.nan_to_num(stds),
            fmt=f"-{style.marker}",
            color=style.color,
            capsize=2,
            gid=head_gid(head),
        )
    axes.set_xticks(pixels)
    axes.set_xlabel("test images moved by (pixels, zero fill)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{title}: translation test\n{seeds_text(shifts['n_seeds'])}")
    _head_legend(figure, styles, heads)
    return figure


def _band(axes, band: pd.DataFrame, color: str, style: str, scale: float, gid: str, marker: str | None = None) -> None:
    mean = band["mean"] * scale
    axes.plot(band["epoch"], mean, style, color=color, gid=gid, marker=marker if len(band) < 8 else None, markersize=3)
    if (band["n"] > 1).any():
        std = band["std"].fillna(0) * scale
        axes.fill_between(band["epoch"], mean - std, mean + std, color=color, alpha=0.18, linewidth=0, gid=gid)


def build_figures(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    extra_keys: Sequence[str] = (),
    shifts: pd.DataFrame | None = None,
) -> list[BuiltFigure]:
    """Every figure of the report, in report order, as Figure objects (not yet saved)."""
    if summary.empty:
        return []
    styles = head_styles(summary["head"].unique())
    keys = panel_keys(extra_keys)
    ok = ok_runs(runs)
    built: list[BuiltFigure] = []
    with matplotlib.style.context(style_path()):
        for values, panel in summary.groupby(keys, sort=True, dropna=False):
            values = values if isinstance(values, tuple) else (values,)
            title = panel_title(keys, values)
            panel_runs = select_panel(ok, keys, values)
            built.append(
                BuiltFigure("accuracy_per_head", title, values, accuracy_per_head(panel, panel_runs, title, styles))
            )
            built.append(
                BuiltFigure(
                    "generalization_gap", title, values, generalization_gap_per_head(panel, panel_runs, title, styles)
                )
            )
            panel_curves = select_panel(curves, keys, values)
            if not panel_curves.empty and {"train_acc", "test_acc"} <= set(panel_curves.columns):
                trained = panel_curves[panel_curves["epoch"] > 0]
                built.append(BuiltFigure("learning_curves", title, values, learning_curves(trained, title, styles)))
            if "gem_p" in panel_curves.columns and panel_curves["gem_p"].notna().any():
                gem_curves = panel_curves[panel_curves["gem_p"].notna()]
                built.append(BuiltFigure("gem_p", title, values, gem_p_curves(gem_curves, title, styles)))
            panel_shifts = select_panel(shifts, keys, values) if shifts is not None else pd.DataFrame()
            if not panel_shifts.empty:
                built.append(
                    BuiltFigure("accuracy_vs_shift", title, values, accuracy_vs_shift(panel_shifts, title, styles))
                )
        # one per dataset and grouping-key values: backbones side by side, each head once per backbone
        across = ["dataset", *extra_keys]
        for values, rows in summary.groupby(across, sort=True, dropna=False):
            values = values if isinstance(values, tuple) else (values,)
            title = panel_title(across, values)
            built.append(BuiltFigure("accuracy_vs_params", title, values, accuracy_vs_params(rows, title, styles)))
    return built


def write_figures(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    out_dir: Path,
    extra_keys: Sequence[str] = (),
    shifts: pd.DataFrame | None = None,
) -> list[FigureFile]:
    """Every figure of the report written as PNG and PDF; returns what was written, in report order."""
    written = []
    with matplotlib.style.context(style_path()):
        for item in build_figures(summary, runs, curves, extra_keys, shifts):
            png, pdf = save_figure(item.figure, out_dir, f"{item.kind}__{slug(item.key_values)}")
            written.append(FigureFile(item.kind, item.title, png, pdf))
    return written
