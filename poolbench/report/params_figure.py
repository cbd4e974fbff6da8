"""Accuracy vs parameters (log x): every head at its true parameter count. Heads that share a count (global
pools add no parameters of their own) stand on one vertical line, which the x label says; where one marker would
cover another, it is drawn larger and behind (``marker_sizes``), so no head hides another. No point is moved.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, LogLocator
from matplotlib.typing import FillStyleType

from poolbench.report.canvas import head_gid, head_handles, new_figure, seeds_text
from poolbench.report.names import HeadStyle, backbone_name, head_order

MIN_SPAN_DECADES = 0.3  # the x axis spans at least this much (a single shared count would get a 1 % axis)


# Labelled ticks at 1, 2 and 5 of each decade, and the axis starts at or below the tick under the smallest count:
# the global heads' ~24k parameters read against 20k, not against an unlabelled stretch of axis.
TICK_SUBS = (1.0, 2.0, 5.0)
MINOR_SUBS = (3.0, 4.0, 6.0, 7.0, 8.0, 9.0)


def tick_below(value: float) -> float:
    """The largest 1-2-5 tick strictly below ``value`` (24k -> 20k, 20k -> 10k, 10k -> 5k)."""
    decade = 10 ** math.floor(math.log10(value))
    below = [decade * sub for sub in TICK_SUBS if decade * sub < value]
    return max(below) if below else decade / 10 * TICK_SUBS[-1]


BACKBONE_FILLS: tuple[FillStyleType, ...] = ("full", "none", "left", "bottom")


MARKER_PT = 5.0  # a marker's size; one that would cover another is drawn MARKER_STEP_PT larger, behind it
MARKER_STEP_PT = 1.8
CLOSE_X = 0.03  # of the log axis span: points this close in x stand on one vertical ...
CLOSE_Y = 0.06  # ... and this close in y (of the accuracy span) would cover each other


def marker_sizes(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """A marker size per point: a point that would cover earlier ones (close in log x and in y) gets a size one
    step above the largest of them; drawn largest first, each shows around the ones in front of it."""
    logs = [math.log10(v) for v in x]
    x_close = CLOSE_X * max(max(logs) - min(logs), MIN_SPAN_DECADES)
    y_close = CLOSE_Y * max(max(y) - min(y), 1.0)
    ranks: list[int] = []
    for i in range(len(x)):
        covered = [ranks[j] for j in range(i) if abs(logs[i] - logs[j]) < x_close and abs(y[i] - y[j]) < y_close]
        ranks.append(max(covered) + 1 if covered else 0)
    return [MARKER_PT + MARKER_STEP_PT * rank for rank in ranks]


def accuracy_vs_params(summary: pd.DataFrame, title: str, styles: dict[str, HeadStyle]) -> Figure:
    """Mean test accuracy (± std over seeds, no caps) against total parameters (log x, each head at its true
    count): one colour and marker per head, fill per backbone; heads sharing a count nest (``marker_sizes``)."""
    figure, axes = new_figure(height=2.9)
    backbones = sorted(summary["backbone"].unique())
    rank = {head: i for i, head in enumerate(head_order(summary["head"]))}
    rows = summary.assign(_rank=summary["head"].map(rank)).sort_values(["backbone", "_rank"], kind="stable")
    counts, means = rows["params_total"].astype(float).tolist(), (rows["test_acc_mean"] * 100).tolist()
    sizes = marker_sizes(counts, means)
    logs = sorted(math.log10(c) for c in counts)
    shared = any(b - a < CLOSE_X * max(logs[-1] - logs[0], MIN_SPAN_DECADES) for a, b in itertools.pairwise(logs))
    for size, row in sorted(zip(sizes, rows.itertuples(index=False)), key=lambda pair: -pair[0]):
        style = styles[row.head]
        std = row.test_acc_std * 100
        axes.errorbar(
            row.params_total,
            row.test_acc_mean * 100,
            yerr=None if math.isnan(std) else std,
            fmt=style.marker,
            markersize=size,
            color=style.color,
            fillstyle=BACKBONE_FILLS[backbones.index(row.backbone) % len(BACKBONE_FILLS)],
            capsize=0,
            zorder=3,
            gid=head_gid(row.head),
        )
    axes.set_xscale("log")
    low, high = float(rows["params_total"].min()), float(rows["params_total"].max())
    span = math.log10(high / low)  # decades; widened to MIN_SPAN_DECADES, plus a margin for the markers
    widen = max(0.0, MIN_SPAN_DECADES - span) / 2 + 0.06 * max(span, MIN_SPAN_DECADES)
    axes.set_xlim(min(low / 10**widen, tick_below(low)), high * 10**widen)
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=TICK_SUBS))
    axes.xaxis.set_minor_locator(LogLocator(base=10, subs=MINOR_SUBS))
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))
    if summary["params_total"].max() < 10 * summary["params_total"].min():  # within a decade: label minor ticks
        axes.xaxis.set_minor_formatter(EngFormatter(sep=""))
    same = "\nheads on one vertical: (nearly) equal counts" if shared else ""
    axes.set_xlabel(f"parameters (total, log scale){same}")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{title}\n{seeds_text(summary['n_seeds'])}")
    heads = head_order(summary["head"])
    handles = head_handles(styles, heads)
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
