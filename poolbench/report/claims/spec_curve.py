"""One specification-curve figure per claim (Simonsohn, Simmons & Nelson 2020): above, every (mapped primary
endpoint, specification) effect with its 95% CI, sorted; below, a panel of dots marking what each one is made
of (its endpoint, and each factor away from its reference level).

Endpoints of one claim may have different units (pp, %), so the y axis is the effect in SESOIs, signed so that
up is the side the claim predicts: the grey band is ±1 SESOI (an effect inside is negligible), the dashed line
+1 SESOI (what "supported" needs). Past ±10 SESOIs (exact parameter counts) the axis is symmetric-log; the
CI of a row that does not count may run off the axis. Colour: the word in that specification; a hollow marker
is a row that does not count (not converged, too few seeds).
7 in wide (two columns), fonts >= 7 pt; PNG and PDF.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.style
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from poolbench.report.canvas import DOUBLE_COLUMN_IN, FigureFile, save_figure, style_path
from poolbench.report.claims.rows import Row
from poolbench.report.claims.rules import verdict_of
from poolbench.report.claims.specifications import SpecResult
from poolbench.report.decide import CONTRADICTED, INCONCLUSIVE, LESS, NEGLIGIBLE, NOT_MEASURED, SUPPORTED

WORD_COLORS = {
    SUPPORTED: "#009E73",
    CONTRADICTED: "#D55E00",
    NEGLIGIBLE: "#0072B2",
    INCONCLUSIVE: "#E69F00",
    NOT_MEASURED: "#999999",
}
ROW_HEIGHT_IN = 0.16
CURVE_HEIGHT_IN = 2.2
LABEL_CHARS = 44
SYMLOG_BEYOND = 10.0


@dataclass(frozen=True)
class Point:
    row: Row
    result: SpecResult

    @property
    def sign(self) -> float:
        return -1.0 if self.row.spec.direction == LESS else 1.0

    def scaled(self, value: float) -> float:
        return self.sign * value / self.row.spec.sesoi.value

    @property
    def effect(self) -> float:
        return self.scaled(self.row.estimate.effect)

    @property
    def interval(self) -> tuple[float, float]:
        if self.row.estimate.exact:
            return self.effect, self.effect
        low, high = (self.scaled(v) for v in self.row.estimate.interval(0.95))
        return min(low, high), max(low, high)


def points_of(results: Sequence[SpecResult], claim: str) -> list[Point]:
    """The measured (endpoint, specification) rows of a claim that the specification changes, sorted by effect."""
    points = [
        Point(row, r)
        for r in results
        for row in r.mapped_rows(claim)
        if row.estimate.measured and (not r.spec.moved or id(row) in r.moved)  # what the specification changes
    ]
    return sorted(points, key=lambda p: p.effect)


def short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def dot_rows(points: Sequence[Point]) -> list[str]:
    """The dot panel's rows: each endpoint (and head), then each factor level some specification moves to."""
    endpoints = list(dict.fromkeys(endpoint_label(p) for p in points))
    levels = list(
        dict.fromkeys(
            f"{f.name}: {level.name}" for p in points for f, level in p.result.spec.levels if level.name != f.reference
        )
    )
    return [*endpoints, *levels]


def endpoint_label(point: Point) -> str:
    """The comparison and what it reads (two endpoints of one claim may share a name's first words)."""
    spec = point.row.spec
    return short(f"{point.row.comparison} · {spec.metric}" + (f" − {spec.minus}" if spec.minus else ""))


def marks(point: Point) -> set[str]:
    moved = {f"{f.name}: {level.name}" for f, level in point.result.spec.levels if level.name != f.reference}
    return {endpoint_label(point), *moved}


def draw_curve(axes, points: Sequence[Point]) -> None:
    xs = range(len(points))
    for x, point in zip(xs, points):
        color = WORD_COLORS.get(verdict_of(point.row), WORD_COLORS[NOT_MEASURED])
        low, high = point.interval
        if math.isfinite(low) and low != high:
            axes.plot([x, x], [low, high], color=color, linewidth=1.2)
        face = color if point.row.counts else "white"
        axes.plot([x], [point.effect], marker="o", color=color, markerfacecolor=face, markersize=4, linestyle="none")
    axes.axhspan(-1, 1, color="0.9", linewidth=0, zorder=0)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.axhline(1, color="0.4", linestyle="--", linewidth=0.8)
    effects = [p.effect for p in points if math.isfinite(p.effect)]
    counted = [v for p in points if p.row.counts for v in p.interval if math.isfinite(v)]
    values = [*effects, *counted, -1.5, 1.5]
    span = max(values) - min(values)
    axes.set_ylim(min(values) - 0.08 * span, max(values) + 0.08 * span)  # an uncounted row's CI may run off
    if max(abs(v) for v in effects) > SYMLOG_BEYOND:
        axes.set_yscale("symlog", linthresh=2.0)
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xlim(-0.7, len(points) - 0.3)
    axes.set_xticks([])
    axes.set_ylabel("effect in SESOIs\n(up: the claimed side)", fontsize=7)
    handles = [
        axes.plot([], [], marker="o", color=c, linestyle="none", label=w.replace(NOT_MEASURED, "not counted"))[0]
        for w, c in WORD_COLORS.items()
        if any(verdict_of(p.row) == w for p in points)
    ]
    axes.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles), fontsize=7)


def draw_dots(axes, points: Sequence[Point], rows: Sequence[str]) -> None:
    for x, point in enumerate(points):
        chosen = marks(point)
        for y, name in enumerate(rows):
            on = name in chosen
            axes.plot([x], [y], marker="o", markersize=3 if on else 1.5, color="black" if on else "0.8")
    axes.set_yticks(range(len(rows)), rows, fontsize=7)
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_xlim(-0.7, len(points) - 0.3)
    axes.set_xticks([])
    axes.set_xlabel("specifications, sorted by effect (the reference cell: no factor dot)", fontsize=7)
    axes.grid(False)


def curve_figure(results: Sequence[SpecResult], claim: str, reference_word: str) -> Figure | None:
    """The claim's specification curve; None where no mapped endpoint was measured."""
    points = points_of(results, claim)
    if not points:
        return None
    rows = dot_rows(points)
    height = CURVE_HEIGHT_IN + ROW_HEIGHT_IN * len(rows) + 0.6
    figure = Figure(figsize=(DOUBLE_COLUMN_IN, height), layout="constrained")
    curve, dots = figure.subplots(2, 1, sharex=True, height_ratios=[CURVE_HEIGHT_IN, ROW_HEIGHT_IN * len(rows) + 0.3])
    draw_curve(curve, points)
    draw_dots(dots, points, rows)
    title = (
        f"Claim {claim} (reference word: {reference_word}) across {len({id(p.result) for p in points})} "
        "specifications: primary endpoints, 95% CIs; grey: ±1 SESOI"
    )
    figure.suptitle("\n".join(textwrap.wrap(title, 90)), fontsize=8)
    return figure


def write_curve_figures(
    results: Sequence[SpecResult], words: dict[str, str], claims: Sequence[str], out_dir: Path
) -> list[FigureFile]:
    """``robustness_claim_N.png``/``.pdf`` for every claim with a measured mapped endpoint."""
    written = []
    with matplotlib.style.context(style_path()):
        for claim in claims:
            figure = curve_figure(results, claim, words.get(claim, ""))
            if figure is None:
                continue
            stem = f"robustness_claim_{claim}"
            png, pdf = save_figure(figure, out_dir, stem)
            written.append(FigureFile(stem, f"Claim {claim}: specification curve", png, pdf))
    return written
