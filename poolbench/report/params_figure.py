"""Accuracy vs parameters (log x): heads that share a parameter count are moved sideways by a fixed
fraction of a decade, in order of count, with a thin line back to the true count, so no head hides another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter
from matplotlib.typing import FillStyleType

from poolbench.report.canvas import head_gid, head_handles, new_figure, seeds_text
from poolbench.report.names import HeadStyle, backbone_name, head_order

# accuracy vs parameters: points closer than DODGE_FRACTION of the log axis span (heads sharing a count) are
# spread sideways to that spacing, in order of count, with a leader line to the true count (dodge_positions).
DODGE_FRACTION = 0.03


MIN_SPAN_DECADES = 0.3


BACKBONE_FILLS: tuple[FillStyleType, ...] = ("full", "none", "left", "bottom")


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
