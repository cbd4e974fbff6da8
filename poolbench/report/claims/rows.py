"""Measure every endpoint of an analysis plan (``poolbench.report.claims.plan``) on the cells of a runs frame: one
``Row`` per endpoint, head and declared cell (or pair of cells, for an interaction), with its ``Estimate``.

Only the cells the plan declares are read, each the one setting of the records that matches its pins
(``resolve_cells``); a cell that is a counter-case never enters a claim its ``about`` does not name; a cell
that has not converged (where the endpoint asks for converged models) is shown with its estimate but never
decides anything; a primary endpoint without its runs still gets a row ("not measured"), so a pre-registered
endpoint cannot silently disappear. Secondary rows skip cells that lack one of their heads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from scipy import stats

from poolbench.report.claims.cells import STRUCTURAL_PREFIXES, Cell, number
from poolbench.report.claims.declared import Resolved, allowed_cells, is_real, resolve_cells
from poolbench.report.claims.images import ImageResult, PredictionStore, images_for
from poolbench.report.claims.plan import (
    INTERACTION,
    REDUCTION,
    REDUCTION_CI,
    RELATIVE,
    ClaimSpec,
    EndpointSpec,
    Plan,
)
from poolbench.report.decide import (
    Decision,
    Estimate,
    exact_estimate,
    independent_estimate,
    paired_estimate,
)
from poolbench.report.names import head_name

Converged = Callable[[Cell, str], bool | None]  # did every run of this head in this cell converge? None: unknown


@dataclass
class Row:
    claim: str
    primary: bool
    spec: EndpointSpec
    head: str
    setting: str
    estimate: Estimate
    note: str = ""  # why it does not count (not converged, no runs) or how to read it (by construction)
    counts: bool = True  # False: shown, but never enters a decision (not converged, by construction)
    real_data: bool = False
    setting_full: str = ""
    cells: tuple[Cell, ...] = field(default=(), repr=False, compare=False)
    decision: Decision | None = field(default=None, compare=False)
    images: ImageResult | None = field(default=None, compare=False)  # seed-only and seeds+images intervals
    cell_names: tuple[str, ...] = ()  # the plan's declared cells this row reads
    failure: bool = False  # a failure-rate row (``failure_rows``): shown beside its endpoint, never voted

    @property
    def comparison(self) -> str:
        if self.spec.against is None:
            return head_name(self.head)
        sign = "vs" if self.spec.effect in (REDUCTION, REDUCTION_CI, RELATIVE) else "−"
        return f"{head_name(self.head)} {sign} {head_name(self.spec.against)}"

    @property
    def quantity(self) -> str:
        return self.spec.name


def per_run(spec: EndpointSpec) -> Callable[[pd.Series], float]:
    """The metric of one run, minus the ``minus`` column of the same run when the plan names one."""

    def value(row: pd.Series) -> float:
        base = number(row.get(spec.metric))
        return base - number(row.get(spec.minus)) if spec.minus else base

    return value


def paired_values(cell: Cell, spec: EndpointSpec, head: str) -> pd.Series:
    """Per seed: head minus against (divided by against for a relative effect); the head alone for a value."""
    mine = cell.by_seed(head, per_run(spec))
    if spec.against is None:
        return mine.dropna()
    theirs = cell.by_seed(spec.against, per_run(spec))
    pairs = pd.concat({"a": mine, "b": theirs}, axis=1, join="inner").dropna()
    differences = pairs["a"] - pairs["b"]
    return differences / pairs["b"] if spec.effect == RELATIVE else differences


def estimate_in(cell: Cell, spec: EndpointSpec, head: str) -> Estimate:
    if spec.effect == REDUCTION:
        assert spec.against is not None  # the plan checks it
        mine, theirs = (cell.by_seed(h, per_run(spec)).dropna() for h in (head, spec.against))
        if mine.empty or theirs.empty or not theirs.iloc[0]:
            return exact_estimate(None)
        return exact_estimate(1.0 - float(mine.iloc[0]) / float(theirs.iloc[0]))
    if spec.effect == REDUCTION_CI:
        return measured_reduction(cell, spec, head)
    return paired_estimate(paired_values(cell, spec, head).tolist())


def measured_reduction(cell: Cell, spec: EndpointSpec, head: str) -> Estimate:
    """1 - the head's stored ratio, its standard error read off the ratio's own 95 % CI (a normal approximation
    of poolbench-deploy's bootstrap over timing processes and rounds: se = CI width / (2 z_0.975)). Not a
    per-seed quantity: no seeds number is planned from it (sd NaN)."""
    columns = [spec.metric, f"{spec.metric}_ci_low", f"{spec.metric}_ci_high"]
    runs = cell.runs[cell.runs["head"] == head]
    if runs.empty or not set(columns) <= set(runs.columns) or runs[columns].dropna().empty:
        return exact_estimate(None)
    ratio, low, high = (float(value) for value in runs[columns].dropna().iloc[0])
    processes = runs.get("cell_timing_processes", pd.Series(dtype=float)).dropna()
    se = (high - low) / (2 * float(stats.norm.ppf(0.975)))
    return Estimate(1.0 - ratio, se, math.inf, int(processes.iloc[0]) if len(processes) else 1, math.nan)


def missing_note(cell: Cell, spec: EndpointSpec, heads: Sequence[str]) -> str:
    """Why a cell gives no value: a head without runs, or a model that cannot run at that input size."""
    absent = [h for h in heads if h not in cell.heads()]
    if absent:
        return "no runs of " + ", ".join(head_name(h) for h in absent)
    if spec.metric.startswith("size_acc_"):
        errors = f"size_errors_{spec.metric.removeprefix('size_acc_')}"
        if errors in cell.runs.columns and cell.runs.loc[cell.runs["head"].isin(heads), errors].notna().any():
            return f"cannot run at {spec.metric.removeprefix('size_acc_')} px ({errors})"
    return f"no {spec.metric} values" + (f" or {spec.minus}" if spec.minus else "")


def convergence_note(cells: Sequence[Cell], heads: Sequence[str], converged: Converged) -> str:
    """Which head (in which cell, for a pair of cells) has not converged (or has no learning curves)."""
    late = [
        head_name(h) + (f" ({c.label})" if len(cells) > 1 else "")
        for c in cells
        for h in heads
        if converged(c, h) is not True
    ]
    return "" if not late else "not converged: " + ", ".join(late) + " (convergence.md); shown, not counted"


def make_row(
    claim: str, primary: bool, spec: EndpointSpec, head: str, cells: Sequence[Resolved], estimate: Estimate
) -> Row:
    found = [r.cell for r in cells if r.cell is not None]
    names = tuple(r.spec.name for r in cells)
    if len(found) != len(cells):  # a declared cell without its setting in the records
        return Row(claim, primary, spec, head, " vs ".join(names), estimate, cell_names=names)
    setting = found[0].label if len(found) == 1 else pair_label(found[0], found[1])
    full = " vs ".join(f"{name}: {c.full_label}" for name, c in zip(names, found))
    return Row(
        claim,
        primary,
        spec,
        head,
        setting,
        estimate,
        real_data=is_real(found[0]),
        setting_full=full,
        cells=tuple(found),
        cell_names=names,
    )


def pair_label(first: Cell, second: Cell) -> str:
    a, b = first.label.split(" · "), second.label.split(" · ")
    shared = [part for part in a if part in b]
    own = " · ".join(p for p in a if p not in shared) + " vs " + " · ".join(p for p in b if p not in shared)
    return " · ".join([own, *shared])


def rows_for(
    claim: ClaimSpec,
    spec: EndpointSpec,
    primary: bool,
    resolved: Mapping[str, Resolved],
    allowed: Sequence[str],
    converged: Converged,
    store: PredictionStore | None = None,
) -> Iterator[Row]:
    """Every row of one endpoint: per head, per declared cell it names (interaction: with its versus cell); its
    estimate includes the test images where the runs' predictions allow (``poolbench.report.claims.images``)."""
    store = store or PredictionStore()
    for head in spec.heads:
        heads = [head] if spec.against is None else [head, spec.against]
        for name in [n for n in spec.cells if n in allowed or primary]:
            group = [resolved[name], *([resolved[spec.versus]] if spec.versus else [])]
            missing = [r.note for r in group if r.cell is None]
            found = [r.cell for r in group if r.cell is not None]
            if missing or not all(set(heads) <= set(c.heads()) for c in found):
                if primary:  # a pre-registered endpoint stays visible without its runs
                    row = make_row(claim.id, primary, spec, head, group, exact_estimate(None))
                    row.note = "; ".join(missing or [missing_note(c, spec, heads) for c in found])
                    yield row
                continue
            if spec.effect == INTERACTION:
                first, second = (paired_values(c, spec, head).tolist() for c in found)
                estimate = independent_estimate(first, second)
            else:
                estimate = estimate_in(found[0], spec, head)
            row = make_row(claim.id, primary, spec, head, group, estimate)
            row.images = images_for(spec, head, found, estimate, store)
            row.estimate = row.images.estimate if row.images else estimate  # the interval that decides
            if not estimate.measured:
                row.note = "; ".join(missing_note(c, spec, heads) for c in found)
            elif spec.converged and (late := convergence_note(found, heads, converged)):
                row.note, row.counts = late, False
            elif spec.by_construction:
                row.note, row.counts = f"by construction: {spec.by_construction}", False
            if row.images is not None and row.images.warning:
                row.note = "; ".join(filter(None, [row.note, row.images.warning]))
            yield row


def measure(plan: Plan, cells: Sequence[Cell], converged: Converged) -> list[Row]:
    """Every row of every claim of the plan: primary rows first, then secondary rows (exact secondary rows once
    per model: cells that differ only in training give the same parameter count). Only the plan's declared cells
    are read (``resolve_cells``); each run's predictions are read once (``PredictionStore``)."""
    resolved = resolve_cells(plan, cells)
    rows: list[Row] = []
    store = PredictionStore()
    for claim in plan.claims:
        allowed = allowed_cells(plan, claim.id)
        for spec in claim.primary:
            rows += rows_for(claim, spec, True, resolved, allowed, converged, store)
        seen: set[tuple[object, ...]] = set()
        for spec in claim.secondary:
            for row in rows_for(claim, spec, False, resolved, allowed, converged, store):
                if spec.effect == REDUCTION:
                    key = (spec.name, row.head, spec.metric, model_of(row.cells[0]))
                    if key in seen:
                        continue
                    seen.add(key)
                rows.append(row)
    return rows


def model_of(cell: Cell) -> tuple[object, ...]:
    """The dataset, backbone and model-changing keys of a cell (what a parameter count depends on)."""
    return tuple(
        (k, v)
        for k, v in zip(cell.keys, cell.values)
        if k in ("dataset", "backbone", "dataset.task") or k.startswith(STRUCTURAL_PREFIXES)
    )
