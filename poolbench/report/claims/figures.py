"""One figure per claim: its primary endpoints (what decides it), one small panel each, stacked.

Each panel shows the effect (head named first minus the head named second) with its 95% CI, every seed's own
value as an open dot (a bimodal outcome shows as two clusters, not as a wide interval), the zero line, the
band of +-SESOI (inside it an effect is negligible) and a dashed line at the SESOI on the side the claim
predicts. An exact quantity is one marker; an endpoint without its runs says so. 3.4 in wide (one column),
about 1 in per endpoint, fonts >= 7 pt, titles wrapped inside the figure (never clipped); PNG and PDF.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
from matplotlib.figure import Figure

from poolbench.report.canvas import SINGLE_COLUMN_IN, FigureFile, head_gid, save_figure, style_path
from poolbench.report.claims.rows import Row
from poolbench.report.claims.rules import verdict_of
from poolbench.report.claims.verdict import ClaimVerdict
from poolbench.report.decide import GREATER, LESS, NONINFERIOR
from poolbench.report.names import head_styles

PANEL_HEIGHT_IN = 1.05
TITLE_HEIGHT_IN = 0.35
WRAP_CHARS = 58  # a 7-pt line across 3.4 in
UNIT_SCALE = {"pp": 100.0, "%": 100.0, "": 1.0}
UNIT_LABEL = {"pp": "percentage points", "%": "percent", "": "value"}


def endpoint_title(row: Row) -> str:
    late = " (not converged)" if row.note.startswith("not converged") else ""
    text = f"{row.quantity} — {row.comparison} · {row.setting}: {verdict_of(row)}{late}"
    return "\n".join(textwrap.wrap(text, WRAP_CHARS))


def draw_panel(axes, row: Row, color: str, marker: str) -> None:
    """One primary endpoint on its own x axis (its unit); y carries nothing but the seeds' jitter."""
    scale = UNIT_SCALE[row.spec.unit]
    sesoi = row.spec.sesoi.value * scale
    axes.set_title(endpoint_title(row), fontsize=7, loc="left")
    axes.set_yticks([])
    axes.set_ylim(-1, 1)
    axes.axvspan(-sesoi, sesoi, color="0.9", linewidth=0, zorder=0)
    axes.axvline(0, color="black", linewidth=0.8)
    claimed = {GREATER: sesoi, LESS: -sesoi, NONINFERIOR: -sesoi}[row.spec.direction]
    axes.axvline(claimed, color="0.4", linestyle="--", linewidth=0.8)
    axes.set_xlabel(UNIT_LABEL[row.spec.unit], fontsize=7)
    estimate = row.estimate
    if not estimate.measured:
        note = "\n".join(textwrap.wrap(f"not measured: {row.note}", WRAP_CHARS)[:2])
        box = {"facecolor": "white", "edgecolor": "none", "pad": 1}
        axes.text(0.5, 0.5, note, transform=axes.transAxes, ha="center", va="center", fontsize=7, bbox=box)
        axes.set_xlim(-3 * sesoi, 3 * sesoi)
        return
    effect = estimate.effect * scale
    points = np.asarray(estimate.points, dtype=float) * scale
    if not estimate.exact and points.size:
        jitter = np.linspace(-0.45, 0.45, points.size) if points.size > 1 else np.zeros(1)
        axes.scatter(points, jitter, s=9, facecolors="none", edgecolors=color, linewidths=0.7, gid=head_gid(row.head))
    low, high = estimate.interval(0.95)
    if math.isfinite(low) and not estimate.exact:
        axes.plot([low * scale, high * scale], [0, 0], color=color, linewidth=2.0, gid=head_gid(row.head))
    axes.plot([effect], [0], marker=marker, color=color, markersize=6, linestyle="none", gid=head_gid(row.head))
    values = [effect, -sesoi, sesoi, *points.tolist(), *([low * scale, high * scale] if math.isfinite(low) else [])]
    span = max(values) - min(values)
    axes.set_xlim(min(values) - 0.08 * span, max(values) + 0.08 * span)


def claim_figure(item: ClaimVerdict) -> Figure | None:
    """The primary endpoints of one claim, one panel each; None without a primary endpoint."""
    rows = item.primary
    if not rows:
        return None
    styles = head_styles({row.head for row in rows})
    height = TITLE_HEIGHT_IN + PANEL_HEIGHT_IN * len(rows)
    figure = Figure(figsize=(SINGLE_COLUMN_IN, height), layout="constrained")
    panels = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    for axes, row in zip(panels, rows):
        draw_panel(axes, row, styles[row.head].color, styles[row.head].marker)
    title = f"Claim {item.claim.id}: {item.verdict} (primary endpoints; dots: seeds; grey: ±SESOI)"
    figure.suptitle("\n".join(textwrap.wrap(title, WRAP_CHARS)), fontsize=8)
    return figure


def write_claim_figures(verdicts: Sequence[ClaimVerdict], out_dir: Path) -> list[FigureFile]:
    """``claim_N.png``/``.pdf`` for every claim with a primary endpoint."""
    written = []
    with matplotlib.style.context(style_path()):
        for item in verdicts:
            figure = claim_figure(item)
            if figure is None:
                continue
            png, pdf = save_figure(figure, out_dir, f"claim_{item.claim.id}")
            written.append(FigureFile(f"claim_{item.claim.id}", f"Claim {item.claim.id}", png, pdf))
    return written
