"""Write the robustness map (the plan's ``robustness:`` section): ``robustness.csv``, ``robustness.tex``,
``robustness.md`` (every specification's rows per claim), one specification-curve figure per claim, and a
section of claims.md: per claim "holds in k of n specifications", the reference word beside it, robust /
fragile. The headline word of claims.md stays the pre-registered one.

The specification runs may live beside the claims folder (the section's ``results``: ``make claims`` writes
them to results/claims_robust/), so the runs read here are the report's own plus those folders'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from poolbench.atomic import atomic_write_text
from poolbench.report.aggregate import row_keys
from poolbench.report.canvas import FigureFile
from poolbench.report.claims.cells import cells_of
from poolbench.report.claims.output import ClaimsResult, claims_runs
from poolbench.report.claims.plan import Plan
from poolbench.report.claims.robust_tables import (
    ClaimMap,
    claim_maps,
    display_endpoints,
    display_maps,
    robustness_frame,
    robustness_latex,
)
from poolbench.report.claims.robustness import RobustnessPlan
from poolbench.report.claims.specifications import SpecResult, decide_all_specifications
from poolbench.report.claims.verdict import convergence_lookup
from poolbench.report.collect import Collection, collect_runs
from poolbench.report.convergence import convergence_table
from poolbench.report.curves import curves_frame
from poolbench.report.tables import to_markdown

STEM = "robustness"


@dataclass
class RobustnessResult:
    maps: list[ClaimMap]
    results: list[SpecResult]
    section: list[str]  # the claims.md section
    files: list[Path] = field(default_factory=list)
    figures: list[FigureFile] = field(default_factory=list)


def with_siblings(collection: Collection, folders: Sequence[str]) -> Collection:
    """The report's runs and those of the section's folders beside each root (where they exist)."""
    roots = list(collection.roots)
    siblings = [root.parent / name for root in roots for name in folders]
    extra = [path for path in siblings if path.is_dir() and all(path.resolve() != r.resolve() for r in roots)]
    return collection if not extra else collect_runs([*roots, *extra])


def decide_map(collection: Collection, plan: Plan, robustness: RobustnessPlan) -> list[SpecResult]:
    runs, extra = claims_runs(collection, plan, robustness.config_keys())
    if runs.empty:
        return []
    keys = row_keys(extra)
    plateaus = convergence_table(runs, curves_frame(collection, runs, extra), keys)
    converged = convergence_lookup(runs, plateaus, keys[:-1])
    return decide_all_specifications(plan, robustness, cells_of(runs, extra), converged)


def render_section(maps: Sequence[ClaimMap], robustness: RobustnessPlan, n_specs: int) -> list[str]:
    return [
        "## How far each verdict holds (the robustness map)",
        "",
        f"{robustness.why} {n_specs} specifications (the plan's `robustness:` section; every row in "
        "robustness.md and robustness.csv). The word in the verdict above stays the pre-registered one.",
        "",
        to_markdown(display_maps(maps).astype(str)),
        "",
    ]


def render_page(
    section: Sequence[str],
    maps: Sequence[ClaimMap],
    results: Sequence[SpecResult],
    figures: Sequence[FigureFile],
    out_dir: Path,
) -> str:
    lines = ["# The robustness map: each claim re-decided in every specification", "", *section[2:]]
    shown = {figure.kind: figure for figure in figures}
    for item in maps:
        if not item.in_map:
            continue
        lines += [f"## Claim {item.claim.id}: {item.holds_text} ({item.standing})", ""]
        figure = shown.get(f"{STEM}_claim_{item.claim.id}")
        if figure is not None:
            lines += [f"![{figure.title}]({figure.png.relative_to(out_dir).as_posix()})", ""]
        lines += [to_markdown(display_endpoints(results, item.claim.id).astype(str)), ""]
    return "\n".join(lines)


def write_robustness(
    collection: Collection,
    out_dir: Path,
    plan: Plan,
    reference_words: Mapping[str, str],
    figures: bool = True,
) -> RobustnessResult | None:
    """The map, written; None (nothing written) without a robustness section or where no specification but
    the reference has a measured row."""
    robustness = plan.robustness
    if robustness is None:
        return None
    results = decide_map(with_siblings(collection, robustness.results), plan, robustness)
    if not any(row.estimate.measured for r in results[1:] for c in plan.claims for row in r.mapped_rows(c.id)):
        return None
    maps = claim_maps(plan, results, reference_words)
    result = RobustnessResult(maps, results, render_section(maps, robustness, len(results)))
    if figures:
        from poolbench.report.claims.spec_curve import write_curve_figures

        words = {item.claim.id: item.reference_word for item in maps}
        claims = [item.claim.id for item in maps if item.in_map]
        result.figures = write_curve_figures(results, words, claims, out_dir / "figures")
    outputs = {
        f"{STEM}.csv": robustness_frame(robustness, results).to_csv(index=False),
        f"{STEM}.tex": robustness_latex(maps).render(),
        f"{STEM}.md": render_page(result.section, maps, results, result.figures, out_dir),
    }
    for name, text in outputs.items():
        atomic_write_text(out_dir / name, text)
        result.files.append(out_dir / name)
    return result


def append_to_claims_md(claims_md: Path, section: Sequence[str]) -> None:
    """claims.md with the map's section at its end (the verdict writes the file; the map adds to it)."""
    text = claims_md.read_text(encoding="utf-8").rstrip("\n")
    atomic_write_text(claims_md, text + "\n\n" + "\n".join(section) + "\n")


def write_robustness_map(collection: Collection, out_dir: Path, claims: ClaimsResult, figures: bool = True) -> None:
    """The map of the plan the claims were judged by, its section appended to their claims.md (nothing where the
    plan has no robustness section or no specification but the reference was measured)."""
    words = {item.claim.id: item.verdict for item in claims.verdicts}
    robust = write_robustness(collection, out_dir, claims.plan, words, figures)
    if robust is not None:
        append_to_claims_md(claims.files[-1], robust.section)
