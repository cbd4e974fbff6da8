"""Paper figures from the aggregated tables, each written as PNG and PDF.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas (no pyplot global state, no
display needed), in the style shipped as ``poolbench.mplstyle``, saved to memory, then written atomically.
Error bars and bands are ± one sample standard deviation (ddof=1) over seeds.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from poolbench.atomic import atomic_write_bytes
from poolbench.report.aggregate import ok_runs, panel_keys, select_panel
from poolbench.report.curves import curve_band
from poolbench.report.shift import table_pixels

# PDF font subsetting logs every table it touches at INFO; under Hydra's root logger that floods a sweep's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)
STYLE_FILE = "poolbench.mplstyle"
FORMATS = ("png", "pdf")
SEED_DOT_COLOR = "0.55"
MARKERS = "osD^v<>P*X"


@dataclass(frozen=True)
class FigureFile:
    kind: str
    title: str
    png: Path
    pdf: Path


def style_path() -> str:
    return str(resources.files("poolbench.report").joinpath(STYLE_FILE))


def slug(values: Sequence[object]) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join(str(v) for v in values)).strip("_") or "all"


def head_colors(heads: Sequence[str]) -> dict[str, str]:
    """One colour per head, the same in every figure of a report."""
    with matplotlib.style.context(style_path()):
        cycle = [entry["color"] for entry in matplotlib.rcParams["axes.prop_cycle"]]
    return {head: cycle[i % len(cycle)] for i, head in enumerate(sorted(heads))}


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


def new_figure(width_scale: float = 1.0) -> tuple[Figure, object]:
    figure = Figure()
    width, height = figure.get_size_inches()
    figure.set_size_inches(width * width_scale, height)
    return figure, figure.add_subplot()


def panel_title(keys: Sequence[str], values: Sequence[object]) -> str:
    return " · ".join(f"{v}" if k in ("dataset", "backbone") else f"{k}={v}" for k, v in zip(keys, values))


def accuracy_per_head(summary: pd.DataFrame, runs: pd.DataFrame, title: str, colors: dict[str, str]) -> Figure:
    return _dot_plot(summary, runs, "test_acc", "test accuracy (%)", title, colors, reference=True)


def gap_per_head(summary: pd.DataFrame, runs: pd.DataFrame, title: str, colors: dict[str, str]) -> Figure:
    return _dot_plot(summary, runs, "gap_acc", "train − test accuracy (pp)", title, colors, reference=False)


def _dot_plot(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    metric: str,
    ylabel: str,
    title: str,
    colors: dict[str, str],
    reference: bool,
) -> Figure:
    """Mean ± std per head, with each seed as a small grey dot so the spread is visible."""
    figure, axes = new_figure()
    heads = list(summary["head"])
    for x, row in enumerate(summary.itertuples(index=False)):
        seeds = runs[runs["head"] == row.head][metric].dropna() * 100
        axes.scatter(np.full(len(seeds), x + 0.18), seeds, s=6, color=SEED_DOT_COLOR, zorder=2, linewidths=0)
        axes.errorbar(
            x,
            getattr(row, f"{metric}_mean") * 100,
            yerr=np.nan_to_num(getattr(row, f"{metric}_std") * 100),
            fmt="o",
            color=colors[row.head],
            zorder=3,
        )
    if reference and "reference_acc" in summary and summary["reference_acc"].notna().any():
        axes.axhline(summary["reference_acc"].dropna().iloc[0] * 100, ls="--", lw=0.8, color="0.3", label="published")
        axes.legend(loc="lower right")
    axes.set_xticks(range(len(heads)), heads, rotation=30 if len(heads) > 5 else 0)
    axes.set_xlim(-0.5, len(heads) - 0.5)
    axes.set_ylabel(ylabel)
    axes.set_title(f"{title} (mean ± std, n={_n_text(summary)})")
    return figure


def _n_text(summary: pd.DataFrame) -> str:
    counts = sorted({int(n) for n in summary["n_seeds"]})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def accuracy_vs_params(summary: pd.DataFrame, title: str, colors: dict[str, str]) -> Figure:
    """Mean test accuracy against total parameters (log x): one colour per head, one marker per backbone."""
    figure, axes = new_figure(width_scale=1.25)
    backbones = sorted(summary["backbone"].unique())
    for row in summary.itertuples(index=False):
        marker = MARKERS[backbones.index(row.backbone) % len(MARKERS)]
        axes.errorbar(
            row.params_total,
            row.test_acc_mean * 100,
            yerr=np.nan_to_num(row.test_acc_std * 100),
            fmt=marker,
            color=colors[row.head],
            zorder=3,
        )
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))
    if summary["params_total"].max() < 10 * summary["params_total"].min():  # within a decade: label minor ticks
        axes.xaxis.set_minor_formatter(EngFormatter(sep=""))
    axes.set_xlabel("parameters (total, log scale)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(title)
    handles = [axes.plot([], [], "o", color=colors[h], label=h)[0] for h in sorted(summary["head"].unique())]
    if len(backbones) > 1:
        for index, backbone in enumerate(backbones):
            handles.append(axes.plot([], [], MARKERS[index % len(MARKERS)], color="0.3", label=backbone)[0])
    axes.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def learning_curves(curves: pd.DataFrame, title: str, colors: dict[str, str]) -> Figure:
    """Train (dashed) and test (solid) accuracy per epoch: mean over seeds with a ± std band."""
    figure, axes = new_figure(width_scale=1.25)
    for head, group in curves.groupby("head", sort=True):
        for column, style in (("train_acc", "--"), ("test_acc", "-")):
            label = f"{head} {column.split('_')[0]}"
            _band(axes, curve_band(group, column), colors[head], style, label=label, scale=100)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("accuracy (%)")
    axes.set_title(f"{title}: train (dashed) and test (solid)")
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def gem_p_curves(curves: pd.DataFrame, title: str, colors: dict[str, str]) -> Figure:
    figure, axes = new_figure()
    for head, group in curves.groupby("head", sort=True):
        _band(axes, curve_band(group, "gem_p"), colors[head], "-", label=head, scale=1)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("GeM p")
    axes.set_title(f"{title}: learned GeM p (mean ± std)")
    axes.legend()
    return figure


def accuracy_vs_shift(shifts: pd.DataFrame, title: str, colors: dict[str, str]) -> Figure:
    """The translation test: mean ± std test accuracy against how far the test images were moved."""
    figure, axes = new_figure()
    pixels = table_pixels(shifts)
    for row in shifts.to_dict("records"):
        means = np.array([row[f"acc_{p}_mean"] for p in pixels]) * 100
        stds = np.nan_to_num(np.array([row[f"acc_{p}_std"] for p in pixels]) * 100)
        axes.errorbar(pixels, means, yerr=stds, fmt="-o", color=colors[row["head"]], label=row["head"], capsize=2)
    axes.set_xticks(pixels)
    axes.set_xlabel("test images moved by (pixels, zero fill)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{title}: translation test (n={_n_text(shifts)})")
    axes.legend()
    return figure


def _band(axes, band: pd.DataFrame, color: str, style: str, label: str, scale: float) -> None:
    mean, std = band["mean"] * scale, band["std"].fillna(0) * scale
    axes.plot(band["epoch"], mean, style, color=color, label=label, marker="o" if len(band) < 3 else None)
    axes.fill_between(band["epoch"], mean - std, mean + std, color=color, alpha=0.18, linewidth=0)


def write_figures(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    out_dir: Path,
    extra_keys: Sequence[str] = (),
    shifts: pd.DataFrame | None = None,
) -> list[FigureFile]:
    """Every figure of the report; returns what was written, in report order."""
    if summary.empty:
        return []
    colors = head_colors(list(summary["head"].unique()))
    keys = panel_keys(extra_keys)
    ok = ok_runs(runs)
    written: list[FigureFile] = []

    def emit(kind: str, title: str, figure: Figure, key_values: Sequence[object]) -> None:
        png, pdf = save_figure(figure, out_dir, f"{kind}__{slug(key_values)}")
        written.append(FigureFile(kind, title, png, pdf))

    with matplotlib.style.context(style_path()):
        for values, panel in summary.groupby(keys, sort=True, dropna=False):
            title = panel_title(keys, values)
            panel_runs = select_panel(ok, keys, values)
            emit("accuracy_per_head", title, accuracy_per_head(panel, panel_runs, title, colors), values)
            emit("gap_per_head", title, gap_per_head(panel, panel_runs, title, colors), values)
            panel_curves = select_panel(curves, keys, values)
            if not panel_curves.empty and {"train_acc", "test_acc"} <= set(panel_curves.columns):
                emit("learning_curves", title, learning_curves(panel_curves, title, colors), values)
            if "gem_p" in panel_curves.columns and panel_curves["gem_p"].notna().any():
                gem_curves = panel_curves[panel_curves["gem_p"].notna()]
                emit("gem_p", title, gem_p_curves(gem_curves, title, colors), values)
            panel_shifts = select_panel(shifts, keys, values) if shifts is not None else pd.DataFrame()
            if not panel_shifts.empty:
                emit("accuracy_vs_shift", title, accuracy_vs_shift(panel_shifts, title, colors), values)
        for dataset, rows in summary.groupby("dataset", sort=True):
            emit("accuracy_vs_params", str(dataset), accuracy_vs_params(rows, str(dataset), colors), [dataset])
    return written
