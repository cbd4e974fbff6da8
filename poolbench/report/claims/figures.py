"""One figure per claim: a forest plot of the claim's measurements, each effect with its 95% CI.

Rows are grouped by setting (the parts of the setting label that all rows share go into the title), one marker
per global head in its report colour and marker (``poolbench.report.names.head_styles``), dodged within a
setting; the zero line and, for deterministic quantities, the claim's threshold are drawn. Positive is what
the claim says, so a reader checks a claim by looking right of zero. 3.4 in wide (one column), fonts >= 7 pt
(the report style), PNG and PDF like every report figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
from matplotlib.figure import Figure

from poolbench.report.canvas import (
    SINGLE_COLUMN_IN,
    FigureFile,
    head_gid,
    head_legend,
    new_figure,
    save_figure,
    style_path,
)
from poolbench.report.claims.rules import (
    MATERIAL_REDUCTION,
    REPORTED,
    SIGNIFICANT_REDUCTION,
    Measurement,
)
from poolbench.report.claims.verdict import ClaimVerdict
from poolbench.report.names import head_order, head_styles

ROW_HEIGHT_IN = 0.24
LINE_HEIGHT_IN = 0.16  # one 7-pt tick-label line and its spacing
BASE_HEIGHT_IN = 1.5
# Which rows a claim's figure shows (one unit per figure): the rest are in claims.md.
FIGURE_ROWS: dict[str, Callable[[Measurement], bool]] = {
    "1": lambda r: True,
    "2": lambda r: r.quantity.startswith("train − test accuracy"),
    "3": lambda r: True,
    "4": lambda r: "accuracy drop" not in r.quantity,
    "5": lambda r: r.unit == "%",
    "5b": lambda r: True,
}
THRESHOLDS = {"1": SIGNIFICANT_REDUCTION, "5": MATERIAL_REDUCTION, "5b": MATERIAL_REDUCTION}
DESCRIPTIONS = {  # what the x axis shows (positive: as the claim says), above the plot
    "1": "parameters removed vs flatten + FC (%)",
    "2": "flatten's minus the global head's train − test acc. (pp)",
    "3": "GMP − GAP test accuracy (pp)",
    "4": "filled: consistency, global − flatten (pp)\nopen: position task, accuracy, flatten − global (pp)",
    "5": "saved vs flatten + FC (%): size, latency, throughput",
    "5b": "saved vs flatten + FC (%): multiply-adds, latency",
}
X_UNITS = {"1": "%", "5": "%", "5b": "%"}


def shared_parts(rows: Sequence[Measurement]) -> tuple[str, ...]:
    """The setting-label parts every row has (they go into the title, not each row's label)."""
    if not rows:
        return ()
    common = set(rows[0].setting_parts)
    for row in rows[1:]:
        common &= set(row.setting_parts)
    return tuple(part for part in rows[0].setting_parts if part in common)


def row_label(row: Measurement, shared: Sequence[str], with_quantity: bool) -> str:
    parts = [part for part in row.setting_parts if part not in shared]
    if with_quantity:
        parts.append(row.quantity.replace(" (zero fill)", ", zero").replace(" (circular)", ", circ."))
    return "\n".join(parts) if parts else "all runs"


def claim_figure(item: ClaimVerdict) -> Figure | None:
    """The forest plot of one claim, or None when it has no row to show."""
    chosen = FIGURE_ROWS.get(item.claim.key, lambda r: True)
    rows = [r for r in item.rows if r.role != REPORTED and r.n > 0 and math.isfinite(r.effect) and chosen(r)]
    if not rows:
        return None
    shared = shared_parts(rows)
    with_quantity = len({r.quantity for r in rows}) > 1
    labels: list[str] = []
    for row in rows:
        label = row_label(row, shared, with_quantity)
        if label not in labels:
            labels.append(label)
    heads = head_order({r.head for r in rows})
    styles = head_styles(heads)
    per_label = [
        max(ROW_HEIGHT_IN * max(1.0, len(heads) / 2), LINE_HEIGHT_IN * (label.count("\n") + 1)) for label in labels
    ]
    height = BASE_HEIGHT_IN + sum(per_label)
    figure, axes = new_figure(SINGLE_COLUMN_IN, height)
    offsets = np.linspace(-0.3, 0.3, len(heads)) if len(heads) > 1 else np.zeros(1)
    for row in rows:
        y = labels.index(row_label(row, shared, with_quantity)) + offsets[heads.index(row.head)]
        style = styles[row.head]
        low, high = (row.ci_low, row.ci_high) if math.isfinite(row.ci_low) else (row.effect, row.effect)
        filled = row.role != "counter-case"
        axes.errorbar(
            [100 * row.effect],
            [y],
            xerr=[[100 * (row.effect - low)], [100 * (high - row.effect)]],
            fmt=style.marker,
            color=style.color,
            markerfacecolor=style.color if filled else "white",
            capsize=2,
            gid=head_gid(row.head),
        )
    axes.axvline(0, color="black", linewidth=0.8)
    if item.claim.key in THRESHOLDS:
        axes.axvline(100 * THRESHOLDS[item.claim.key], color="grey", linestyle="--", linewidth=0.8)
    axes.set_yticks(range(len(labels)), labels)
    axes.invert_yaxis()
    axes.set_xlabel("percent" if X_UNITS.get(item.claim.key) == "%" else "percentage points")
    title = f"Claim {item.claim.key}: {item.verdict}" + (f" · {' · '.join(shared)}" if shared else "")
    figure.suptitle(f"{title}\n{DESCRIPTIONS.get(item.claim.key, 'effect')}", fontsize=8)
    head_legend(figure, styles, heads, ncols=4)
    return figure


def write_claim_figures(verdicts: Sequence[ClaimVerdict], out_dir: Path) -> list[FigureFile]:
    """``claim_N.png``/``.pdf`` for every claim with rows to show."""
    written = []
    with matplotlib.style.context(style_path()):
        for item in verdicts:
            figure = claim_figure(item)
            if figure is None:
                continue
            png, pdf = save_figure(figure, out_dir, f"claim_{item.claim.key}")
            written.append(FigureFile(f"claim_{item.claim.key}", f"Claim {item.claim.key}", png, pdf))
    return written
