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

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from poolbench.report.aggregate import ok_runs, panel_keys, select_panel
from poolbench.report.canvas import (
    DOUBLE_COLUMN_IN,
    BuiltFigure,
    FigureFile,
    head_gid,
    head_legend,
    mean_std_band,
    new_figure,
    panel_title,
    save_figure,
    seeds_text,
    slug,
    style_path,
)
from poolbench.report.curves import curve_band
from poolbench.report.names import HeadStyle, head_name, head_order, head_styles
from poolbench.report.params_figure import accuracy_vs_params
from poolbench.report.shift import table_pixels

# PDF font subsetting logs every table it touches at INFO; under Hydra's root logger that floods a sweep's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)
CURVE_COLUMNS_MAX = 4  # learning curves: at most this many panels per row


def accuracy_per_head(summary: pd.DataFrame, runs: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    return _dot_plot(summary, runs, "test_acc", "test accuracy (%)", title, styles)


def generalization_gap_per_head(
    summary: pd.DataFrame, runs: pd.DataFrame, title: str, styles: dict[str, HeadStyle]
) -> Figure:
    return _dot_plot(summary, runs, "overfit_acc", "generalization gap\n(train − test acc., pp)", title, styles)


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


# Learning-curve columns: (epochs.csv column, line style, label). Validation is drawn where no test curve was
# recorded (``trainer.curves`` without test), so a figure is never empty; what was not recorded is named in it.
Curve = tuple[str, Literal["--", ":", "-"], str]
CURVES: tuple[Curve, ...] = (
    ("train_acc", "--", "train"),
    ("val_acc", ":", "validation"),
    ("test_acc", "-", "test"),
)


def recorded_curves(curves: pd.DataFrame) -> list[Curve]:
    """The curves to draw: train and test where recorded, validation only in place of a missing test curve."""
    present = {column for column, _, _ in CURVES if column in curves and curves[column].notna().any()}
    return [c for c in CURVES if c[0] in present and (c[0] != "val_acc" or "test_acc" not in present)]


def learning_curves(curves: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    """Small multiples, one panel per head on shared axes: train (dashed) and test (solid) accuracy per epoch,
    or validation (dotted) in place of an unrecorded test curve; mean over seeds with a ± std band when there
    are several seeds. The legend names the curves the runs did not record (``trainer.curves``)."""
    heads = head_order(curves["head"])
    shown = recorded_curves(curves)
    ncols = min(CURVE_COLUMNS_MAX, len(heads))
    nrows = math.ceil(len(heads) / ncols)
    figure, grid = new_figure(
        DOUBLE_COLUMN_IN, 0.75 + 1.45 * nrows, nrows=nrows, ncols=ncols, sharex=True, sharey=True, squeeze=False
    )
    n_seeds = curves.groupby("head")["seed"].nunique()
    for index, head in enumerate(heads):
        axes = grid[index // ncols][index % ncols]
        group = curves[curves["head"] == head]
        for column, style, _ in shown:
            mean_std_band(axes, curve_band(group, column), styles[head].color, style, scale=100, gid=head_gid(head))
        axes.set_title(head_name(head))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for index in range(len(heads), nrows * ncols):
        grid[index // ncols][index % ncols].set_visible(False)
    for axes in grid[-1]:
        axes.set_xlabel("epoch")
    for row in grid:
        row[0].set_ylabel("accuracy (%)")
    lines = [Line2D([], [], color="0.2", linestyle=style, label=label) for _, style, label in shown]
    unrecorded = [
        label for column, _, label in CURVES if column != "val_acc" and column not in {c for c, _, _ in shown}
    ]
    if unrecorded:
        lines.append(Line2D([], [], linestyle="none", label=f"{' and '.join(unrecorded)}: not recorded per epoch"))
    figure.legend(handles=lines, loc="outside lower center", ncols=len(lines))
    figure.suptitle(f"{title}: learning curves, {seeds_text(n_seeds.tolist())}", fontsize="medium")
    return figure


def gem_p_curves(curves: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    """The learned GeM p per epoch from its initial value (epoch 0: ``head.p`` of the run's config)."""
    figure, axes = new_figure(height=2.4)
    heads = head_order(curves["head"])
    for head in heads:
        mean_std_band(
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
        head_legend(figure, styles, heads)
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
    head_legend(figure, styles, heads)
    return figure


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
            if not panel_curves.empty and recorded_curves(panel_curves):
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
