"""Every claim's primary endpoints re-decided in every specification of the robustness section
(``poolbench.report.claims.robustness``) with the verdict's own engine: each specification is the plan with the
base cell re-pinned (``plan_load.respecify``), its primary rows measured as the verdict measures them
(``rows.rows_for``), decided by the same rule with Holm's adjustment within the specification (``verdict.decide``:
its family is every primary endpoint of the plan) and each claim's word given by its declared combine rule
(``rules.claim_verdict``).

Primaries that do not read the base cell (the probe tasks) are measured once and enter every specification's
family unchanged, so the reference specification decides what the verdict decides. A row of the base cell with
fewer seeds than the section's ``min_seeds`` is shown and not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from poolbench.report.claims.cells import Cell
from poolbench.report.claims.declared import allowed_cells, resolve_cells
from poolbench.report.claims.images import PredictionStore
from poolbench.report.claims.plan import EndpointSpec, Plan
from poolbench.report.claims.plan_load import respecify
from poolbench.report.claims.robustness import RobustnessPlan, Specification
from poolbench.report.claims.rows import Converged, Row, rows_for
from poolbench.report.claims.rules import claim_verdict
from poolbench.report.claims.verdict import decide
from poolbench.report.decide import NOT_MEASURED


@dataclass
class SpecResult:
    """One specification: its primary rows (decided) and each claim's word in it."""

    spec: Specification
    rows: list[Row]
    mapped: set[int]  # id() of the rows on the base cell (the others: outside the map)
    words: dict[str, str]  # claim id -> verdict in this specification
    moved: set[int]  # id() of the mapped rows it changes (a metric level leaves other metrics alone)

    def mapped_rows(self, claim: str) -> list[Row]:
        return [row for row in self.rows if row.claim == claim and id(row) in self.mapped]

    def changed_rows(self, claim: str) -> list[Row]:
        """The claim's rows on the base cell that this specification changes (the reference: every one)."""
        return [r for r in self.mapped_rows(claim) if not self.spec.moved or id(r) in self.moved]

    def applies(self, claim: str) -> bool:
        """Does it change any of the claim's endpoints on the base cell (the reference: yes)?"""
        return bool(self.changed_rows(claim))

    def judged(self, claim: str) -> bool:
        """Did it decide any of the claim's rows that it changes (measured, counted)?"""
        return any(r.decision is not None and r.decision.verdict != NOT_MEASURED for r in self.changed_rows(claim))


def specification_plan(plan: Plan, robustness: RobustnessPlan, spec: Specification) -> Plan:
    """The plan in ``spec``: the base cell re-pinned at every factor's level, the metrics it reads instead."""
    return respecify(
        plan,
        {robustness.base: spec.pins(plan.data["cells"][robustness.base]["pins"])},
        metrics=spec.metrics(),
        sesoi=spec.sesoi(),
        waive_convergence=bool(spec.waived()),
    )


def reads(endpoint: EndpointSpec, cell: str) -> bool:
    return cell in (*endpoint.cells, endpoint.versus)


def changes(spec: Specification, row: Row) -> bool:
    """Does the specification change what this row of the base cell reads: a moved level that re-pins the cell,
    or one whose metric it reads instead?"""
    instead = set(spec.metrics().values())
    return any(level.pins for level in spec.moved_levels) or bool({row.spec.metric, row.spec.minus} & instead)


def mark(row: Row, waived: str, min_seeds: int) -> None:
    """Too few seeds: shown, not counted; a waived convergence requirement (``waived``: why): said in the note."""
    estimate = row.estimate
    if estimate.measured and not estimate.exact and estimate.n < min_seeds and row.counts:
        row.note, row.counts = f"{estimate.n} seeds (< {min_seeds}, the plan's minimum); shown, not counted", False
    elif waived and not row.note:
        row.note = f"convergence not required: {waived}"


class SpecificationJudge:
    """Decides the specifications of one robustness section on one set of cells; the rows of primaries that do
    not read the base cell, and every run's predictions, are read once."""

    def __init__(self, plan: Plan, robustness: RobustnessPlan, cells: Sequence[Cell], converged: Converged) -> None:
        self.plan, self.robustness, self.cells, self.converged = plan, robustness, cells, converged
        self.store = PredictionStore()
        self.outside: dict[tuple[str, int], list[Row]] = {}

    def decide(self, spec: Specification) -> SpecResult:
        plan = specification_plan(self.plan, self.robustness, spec)
        resolved = resolve_cells(plan, self.cells)
        base, waived = self.robustness.base, spec.waived()
        rows: list[Row] = []
        mapped: set[int] = set()
        moved: set[int] = set()
        for claim, original in zip(plan.claims, self.plan.claims):
            allowed = allowed_cells(plan, claim.id)
            for index, endpoint in enumerate(claim.primary):
                if not reads(endpoint, base):
                    key = (claim.id, index)
                    if key not in self.outside:
                        found = rows_for(claim, endpoint, True, resolved, allowed, self.converged, self.store)
                        self.outside[key] = list(found)
                    rows += [replace(row, decision=None) for row in self.outside[key]]
                    continue
                for row in rows_for(claim, endpoint, True, resolved, allowed, self.converged, self.store):
                    required = original.primary[index].converged  # as the plan wrote it (a level may waive it)
                    mark(row, waived if required else "", self.robustness.min_seeds)
                    mapped.add(id(row))
                    if changes(spec, row):
                        moved.add(id(row))
                    rows.append(row)
        decide(plan, rows)
        words = {c.id: claim_verdict([r for r in rows if r.claim == c.id], c.combine)[0] for c in plan.claims}
        return SpecResult(spec, rows, mapped, words, moved)


def decide_all_specifications(
    plan: Plan, robustness: RobustnessPlan, cells: Sequence[Cell], converged: Converged
) -> list[SpecResult]:
    judge = SpecificationJudge(plan, robustness, cells, converged)
    return [judge.decide(spec) for spec in robustness.specifications()]
