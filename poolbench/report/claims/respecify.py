"""Every claim's primary endpoints re-decided in every specification of the robustness section
(``poolbench.report.claims.robustness``), with the verdict's own engine: the same rows
(``poolbench.report.claims.rows.rows_for``), the same rule and Holm's adjustment (``verdict.decide``), here
within each specification (its family: every primary endpoint of the plan, as the verdict's).

The interface is one function, ``respecified(endpoint, overrides)``: a primary endpoint with its cell selector
overridden (config key -> value), and optionally another metric and SESOI. A specification's overrides pin
every factor's key (its reference level where the specification does not move it), so the reference cell is
one cell even where the specification runs share its results. Endpoints outside the map (the plan's
``endpoints`` selector does not match their cells: the probe tasks) enter every specification's family
unchanged, so the reference specification decides what the verdict decides (save where the map's longer-run
controls show a reference head converged that the verdict's records alone could not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from poolbench.report.claims.cells import Cell
from poolbench.report.claims.plan import EndpointSpec, Plan, Selector, Sesoi
from poolbench.report.claims.robustness import RobustnessPlan, Specification
from poolbench.report.claims.rows import Converged, Row, allowed_cells, rows_for
from poolbench.report.claims.rules import claim_verdict
from poolbench.report.claims.verdict import decide
from poolbench.report.decide import NOT_MEASURED


@dataclass(frozen=True)
class Overrides:
    """What a specification changes in a primary endpoint."""

    cells: Selector
    metrics: Mapping[str, str]
    sesoi: Sesoi | None
    waive_convergence: str


@dataclass
class SpecResult:
    """One specification: its primary rows (decided) and each claim's word in it."""

    spec: Specification
    rows: list[Row]
    mapped: set[int]  # id() of the rows the specification re-specified (the others: outside the map)
    words: dict[str, str]  # claim id -> verdict in this specification
    moved: set[int]  # id() of the mapped rows it changes (a metric variant leaves other metrics alone)

    def mapped_rows(self, claim: str) -> list[Row]:
        return [row for row in self.rows if row.claim == claim and id(row) in self.mapped]

    def applies(self, claim: str) -> bool:
        """Does it change any of the claim's mapped endpoints (the reference: yes)?"""
        return any(not self.spec.moved or id(r) in self.moved for r in self.mapped_rows(claim))

    def judged(self, claim: str) -> bool:
        """Did this specification decide any of the claim's mapped endpoints that it changes (measured,
        counted)? The reference changes none and judges every one."""
        rows = [r for r in self.mapped_rows(claim) if not self.spec.moved or id(r) in self.moved]
        return any(row.decision is not None and row.decision.verdict != NOT_MEASURED for row in rows)


def overrides_of(spec: Specification) -> Overrides:
    """Every factor's cells at its level (the moved levels last, so a level that sets another factor's key, as
    10k images set the epochs, wins), and the moved levels' metric changes."""
    cells: dict[str, tuple[str, ...]] = {}
    moved = [(f, level) for f, level in spec.levels if level.name != f.reference]
    for _, level in [*((f, lv) for f, lv in spec.levels if lv.name == f.reference), *moved]:
        cells.update(level.cells)
    metrics = {k: v for _, level in moved for k, v in level.metrics.items()}
    sesoi = next((level.sesoi for _, level in moved if level.sesoi is not None), None)
    waived = "; ".join(level.waive_convergence for _, level in moved if level.waive_convergence)
    return Overrides(cells, metrics, sesoi, waived)


def respecified(endpoint: EndpointSpec, overrides: Overrides) -> EndpointSpec:
    """The endpoint in another specification: its selector with ``overrides.cells`` set, its metric (and minus)
    replaced where ``overrides.metrics`` names it (then judged by ``overrides.sesoi``), its convergence
    requirement waived where the specification says why."""
    metric = overrides.metrics.get(endpoint.metric, endpoint.metric)
    minus = overrides.metrics.get(endpoint.minus, endpoint.minus) if endpoint.minus else None
    sesoi = overrides.sesoi if metric != endpoint.metric and overrides.sesoi is not None else None
    return replace(
        endpoint,
        name=f"{endpoint.name} [read as {metric}]" if sesoi else endpoint.name,
        cells={**endpoint.cells, **overrides.cells},
        metric=metric,
        minus=minus,
        sesoi=sesoi or endpoint.sesoi,
        converged=endpoint.converged and not overrides.waive_convergence,
    )


def in_map(endpoint: EndpointSpec, robustness: RobustnessPlan) -> bool:
    """An endpoint the map re-decides: one cell (no interaction) that the ``endpoints`` selector covers."""
    if endpoint.versus is not None:
        return False
    return all(
        set(endpoint.cells.get(key, ())) and set(endpoint.cells[key]) <= set(allowed)
        for key, allowed in robustness.endpoints.items()
    )


def decide_specification(
    plan: Plan, robustness: RobustnessPlan, spec: Specification, cells: Sequence[Cell], converged: Converged
) -> SpecResult:
    """Every primary endpoint of the plan in ``spec`` (mapped ones re-specified), decided with Holm's adjustment
    across them; rows with fewer seeds than the plan's minimum are shown and not counted."""
    overrides = overrides_of(spec)
    rows: list[Row] = []
    mapped: set[int] = set()
    changed: set[int] = set()
    for claim in plan.claims:
        usable = allowed_cells(plan, claim.id, cells)
        for endpoint in claim.primary:
            moved = in_map(endpoint, robustness)
            target = respecified(endpoint, overrides) if moved else endpoint
            for row in rows_for(claim, target, True, usable, converged):
                if moved:
                    mapped.add(id(row))
                    mark(row, overrides.waive_convergence if endpoint.converged else "", robustness.min_seeds)
                    if changes(spec, endpoint):
                        changed.add(id(row))
                rows.append(row)
    decide(plan, rows)
    words = {claim.id: claim_verdict([r for r in rows if r.claim == claim.id])[0] for claim in plan.claims}
    return SpecResult(spec, rows, mapped, words, changed)


def changes(spec: Specification, endpoint: EndpointSpec) -> bool:
    """Does the specification change what this endpoint reads: a moved level that sets cells, or one that
    replaces its metric?"""
    moved = [level for factor, level in spec.levels if level.name != factor.reference]
    return any(level.cells or {endpoint.metric, endpoint.minus} & set(level.metrics) for level in moved)


def mark(row: Row, waived: str, min_seeds: int) -> None:
    """Too few seeds: shown, not counted; a waived convergence requirement (``waived``: why): said in the note."""
    estimate = row.estimate
    if estimate.measured and not estimate.exact and estimate.n < min_seeds and row.counts:
        row.note, row.counts = f"{estimate.n} seeds (< {min_seeds}, the plan's minimum); shown, not counted", False
    elif waived and not row.note:
        row.note = f"convergence not required: {waived}"


def decide_all_specifications(
    plan: Plan, robustness: RobustnessPlan, cells: Sequence[Cell], converged: Converged
) -> list[SpecResult]:
    return [decide_specification(plan, robustness, spec, cells, converged) for spec in robustness.specifications()]
