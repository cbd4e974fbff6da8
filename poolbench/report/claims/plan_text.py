"""The analysis plan as claims.md prints it above the results: file, hash, the rule, the SESOIs with their
reasons, the counter-cases, and per claim its primary endpoints and secondary rows."""

from __future__ import annotations

from pathlib import Path

from poolbench.report.claims.plan import PLAN_FILE, EndpointSpec, Plan, Selector, default_plan_path
from poolbench.report.claims.rules import CLAIM_RULE
from poolbench.report.decide import GREATER, LESS, RULE
from poolbench.report.formatting import MINUS
from poolbench.report.names import head_name

DIRECTION_TEXT = {GREATER: "> 0", LESS: "< 0", "noninferior": f"> {MINUS}SESOI"}


def selector_text(selector: Selector) -> str:
    if not selector:
        return "every cell"
    return ", ".join(f"{key} = {' or '.join(values)}" for key, values in selector.items())


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
        "interaction": f"({mine} − {theirs}) in the cells minus in the versus cells, Welch",
        "value": f"{mine}, per seed",
    }[spec.effect]
    return f"{metric}: {text}"


def endpoint_line(spec: EndpointSpec) -> str:
    heads = ", ".join(head_name(h) for h in spec.heads)
    cells = selector_text(spec.cells)
    if spec.versus is not None:
        cells += f" vs {selector_text(spec.versus)} (same {', '.join(spec.match)})"
    extras = [text for flag, text in ((spec.converged, "converged models only"),) if flag]
    if spec.by_construction:
        extras.append(f"by construction, never counted: {spec.by_construction}")
    tail = f" · {'; '.join(extras)}" if extras else ""
    return (
        f"- **{spec.name}** ({heads}) — cells: {cells} · effect: {effect_text(spec, spec.heads[0])} · "
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


def render_plan(plan: Plan) -> list[str]:
    lines = [
        "## Analysis plan",
        "",
        f"Plan file `{plan_name(plan)}`, sha256 `{plan.sha256}` (of the parsed plan as canonical JSON). Edit the file "
        "and re-run only the report with `poolbench-report DIR --plan FILE`.",
        "",
        f"**Rule, each endpoint** (alpha = {plan.alpha:g}, power of the seeds-needed number {plan.power:.0%}). " + RULE,
        "",
        "**Rule, each claim.** " + CLAIM_RULE,
        "",
        "**Smallest effect sizes of interest (SESOI).**",
        "",
    ]
    for sesoi in plan.sesois:
        shown = f"{100 * sesoi.value:g} {sesoi.unit}" if sesoi.unit in ("pp", "%") else f"{sesoi.value:g}"
        lines.append(f"- `{sesoi.name}` = {shown}: {sesoi.reason}")
    lines += ["", "**Counter-cases** (never counted for a claim they are not about)."]
    lines += [
        "",
        *(f"- {selector_text(c.cells)}, about claim {', '.join(c.about)}: {c.why}" for c in plan.counter_cases),
    ]
    for claim in plan.claims:
        lines += ["", f"**Claim {claim.id}.** Primary endpoints:", "", *map(endpoint_line, claim.primary)]
        if claim.secondary:
            lines += ["", "Secondary (shown, never voted):", "", *map(endpoint_line, claim.secondary)]
    return [*lines, ""]
