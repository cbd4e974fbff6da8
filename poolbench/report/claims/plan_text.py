"""The analysis plan as claims.md prints it above the results: file, hash, its history, the rule, the SESOIs with
their reasons, the declared grid (cells, pins, heads x seeds), the counter-cases, and per claim the seed's words,
how its parts combine, its primary endpoints (each with the phrase it tests) and secondary rows."""

from __future__ import annotations

from pathlib import Path

from poolbench.report.claims.plan import PLAN_FILE, CellSpec, EndpointSpec, Plan, default_plan_path
from poolbench.report.claims.rules import CLAIM_RULE
from poolbench.report.decide import GREATER, LESS, RULE
from poolbench.report.formatting import MINUS
from poolbench.report.names import head_name

DIRECTION_TEXT = {GREATER: "> 0", LESS: "< 0", "noninferior": f"> {MINUS}SESOI"}


def cells_text(names: tuple[str, ...], plan: Plan | None = None) -> str:
    if plan is not None and len(names) == len(plan.cells) > 1:
        return "every declared cell"
    return ", ".join(f"`{name}`" for name in names)


def cell_line(cell: CellSpec) -> str:
    pins = ", ".join(f"{key} = {value}" for key, value in cell.pins.items())
    counts = sorted(set(cell.heads.values()))
    if len(counts) == 1:
        heads = f"{', '.join(head_name(h) for h in cell.heads)} × {counts[0]} seeds"
    else:
        heads = ", ".join(f"{head_name(h)} × {n}" for h, n in cell.heads.items()) + " seeds"
    why = f" — {cell.why}" if cell.why else ""
    return f"- `{cell.name}`: {pins} · {heads}{why}"


def sesoi_text(spec: EndpointSpec) -> str:
    value = spec.sesoi.value
    shown = f"{100 * value:g} {spec.sesoi.unit}" if spec.sesoi.unit in ("pp", "%") else f"{value:g}"
    return f"{shown} ({spec.sesoi.name})"


def effect_text(spec: EndpointSpec, head: str) -> str:
    """The effect in words, e.g. ``train_acc − test_acc: GAP − Flatten + FC`` or ``1 − GAP / Flatten + FC``."""
    metric = f"{spec.metric} − {spec.minus}" if spec.minus else spec.metric
    mine = head_name(head)
    theirs = head_name(spec.against) if spec.against else ""
    text = {
        "difference": f"{mine} − {theirs}, paired on seed",
        "relative": f"({mine} − {theirs}) / {theirs}, paired on seed",
        "reduction": f"1 − {mine} / {theirs}, exact",
        "reduction_ci": f"1 − ({mine} / {theirs}), its CI from the stored ratio's bootstrap",
        "interaction": f"({mine} − {theirs}) in the cells minus in the versus cells, Welch",
        "value": f"{mine}, per seed",
    }[spec.effect]
    return f"{metric}: {text}"


def endpoint_line(spec: EndpointSpec, plan: Plan | None = None) -> str:
    heads = ", ".join(head_name(h) for h in spec.heads)
    cells = cells_text(spec.cells, plan)
    if spec.versus is not None:
        cells += f" vs `{spec.versus}`"
    phrase = f" tests “{spec.phrase}”" if spec.phrase else ""
    extras = [text for flag, text in ((spec.converged, "converged models only"),) if flag]
    if spec.by_construction:
        extras.append(f"by construction, never counted: {spec.by_construction}")
    tail = f" · {'; '.join(extras)}" if extras else ""
    return (
        f"- **{spec.name}** ({heads}){phrase} — cells: {cells} · effect: {effect_text(spec, spec.heads[0])} · "
        f"claimed: {DIRECTION_TEXT[spec.direction]} · SESOI {sesoi_text(spec)}{tail}"
    )


def plan_name(plan: Plan) -> str:
    """The plan file as a reader can find it: the shipped plan by its place in the package, another by the path
    it was given (relative to the working directory where it lies below it), never this machine's absolute path."""
    path = plan.path.resolve()
    if path == default_plan_path().resolve():
        return f"poolbench/conf/{PLAN_FILE.as_posix()} (shipped)"
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return plan.path.name


NO_HISTORY = (
    "The plan does not say when it was written (no `history:`): read its verdicts as those of a plan that may "
    "have been written after its results."
)


def render_plan(plan: Plan) -> list[str]:
    lines = [
        "## Analysis plan",
        "",
        f"Plan file `{plan_name(plan)}`, sha256 `{plan.sha256}` (of the parsed plan as canonical JSON: its grid, "
        "endpoints and robustness section included). Edit the file and re-run only the report with "
        "`poolbench-report DIR --plan FILE`.",
        "",
        "**History of this plan.** " + (plan.history or NO_HISTORY),
        "",
        f"**Rule, each endpoint** (alpha = {plan.alpha:g}, power of the planning number {plan.power:.0%}). " + RULE,
        "",
        "**Rule, each claim.** " + CLAIM_RULE,
        "",
        "**Smallest effect sizes of interest (SESOI).**",
        "",
    ]
    for sesoi in plan.sesois:
        shown = f"{100 * sesoi.value:g} {sesoi.unit}" if sesoi.unit in ("pp", "%") else f"{sesoi.value:g}"
        lines.append(f"- `{sesoi.name}` = {shown}: {sesoi.reason}")
    if plan.failed_run is not None:
        failed = plan.failed_run
        lines += [
            "",
            f"**A failed run**: {failed.describe} ({failed.reason}); where an endpoint's runs include one, "
            "its failure rate is a row of its own (never voted).",
        ]
    lines += [
        "",
        "**The grid** (declared cells, each pinned on every key that defines it; `$real` is the sweep's real "
        "dataset, whatever it is; seeds 0 .. n−1; no other cell is read).",
        "",
        *map(cell_line, plan.cells),
    ]
    lines += ["", "**Counter-cases** (never counted for a claim they are not about)."]
    lines += [
        "",
        *(f"- {cells_text(c.cells)}, about claim {', '.join(c.about)}: {c.why}" for c in plan.counter_cases),
    ]
    for claim in plan.claims:
        reason = f" ({claim.combine_reason})" if claim.combine_reason else ""
        lines += [
            "",
            f"**Claim {claim.id}.** “{claim.words}” Parts combine: **{claim.combine}**{reason}. Primary endpoints:",
            "",
            *(endpoint_line(spec, plan) for spec in claim.primary),
        ]
        if claim.secondary:
            lines += ["", "Secondary (shown, never voted):", "", *(endpoint_line(s, plan) for s in claim.secondary)]
    return [*lines, ""]
