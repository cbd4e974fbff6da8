"""Measure every endpoint of an analysis plan (``poolbench.report.claim_plan``) on the cells of a runs frame: one
``Row`` per endpoint, head and matching cell (or pair of cells, for an interaction), with its ``Estimate``.

A cell that is a counter-case never enters a claim its ``about`` does not name; a cell that has not converged
(where the endpoint asks for converged models) is shown with its estimate but never decides anything; a
primary endpoint without its runs still gets a row ("not measured"), so a pre-registered endpoint cannot
silently disappear. Secondary rows skip cells that lack one of their heads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

from poolbench.report.claims.cells import STRUCTURAL_PREFIXES, Cell, number
from poolbench.report.claims.images import ImageResult, PredictionStore, images_for
from poolbench.report.claims.plan import (
    INTERACTION,
    REDUCTION,
    RELATIVE,
    ClaimSpec,
    EndpointSpec,
    Plan,
    Selector,
)
from poolbench.report.decide import (
    Decision,
    Estimate,
    exact_estimate,
    independent_estimate,
    paired_estimate,
)
from poolbench.report.names import head_name
from poolbench.report.variants import ABSENT

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

    @property
    def comparison(self) -> str:
        if self.spec.against is None:
            return head_name(self.head)
        sign = "vs" if self.spec.effect in (REDUCTION, RELATIVE) else "−"
        return f"{head_name(self.head)} {sign} {head_name(self.spec.against)}"

    @property
    def quantity(self) -> str:
        return self.spec.name


def cell_value(cell: Cell, key: str) -> str:
    named = dict(zip(cell.keys, cell.values))
    if key in named:
        return str(named[key])
    if key in cell.runs.columns:
        values = cell.runs[key].dropna().astype(str).unique()
        return str(values[0]) if len(values) == 1 else ABSENT
    return ABSENT


def matches(cell: Cell, selector: Selector) -> bool:
    return all(cell_value(cell, key) in allowed for key, allowed in selector.items())


def allowed_cells(plan: Plan, claim: str, cells: Sequence[Cell]) -> list[Cell]:
    """The cells a claim may use: every cell but the counter-cases of other claims."""
    return [
        cell
        for cell in cells
        if not any(claim not in case.about and matches(cell, case.cells) for case in plan.counter_cases)
    ]


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
    return paired_estimate(paired_values(cell, spec, head).tolist())


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
    claim: str, primary: bool, spec: EndpointSpec, head: str, cells: Sequence[Cell], estimate: Estimate
) -> Row:
    setting = cells[0].label if len(cells) == 1 else pair_label(cells[0], cells[1])
    full = " vs ".join(c.full_label for c in cells)
    return Row(
        claim,
        primary,
        spec,
        head,
        setting,
        estimate,
        real_data=cells[0].real_data,
        setting_full=full,
        cells=tuple(cells),
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
    cells: Sequence[Cell],
    converged: Converged,
    store: PredictionStore | None = None,
) -> Iterator[Row]:
    """Every row of one endpoint: per head, per matching cell (interaction: per matched pair of cells); its
    estimate includes the test images where the runs' predictions allow (``poolbench.report.claims.images``)."""
    store = store or PredictionStore()
    for head in spec.heads:
        heads = [head] if spec.against is None else [head, spec.against]
        groups = cell_groups(spec, cells)
        if not groups and primary:
            yield Row(claim.id, primary, spec, head, selector_text(spec), exact_estimate(None), "no cell matches")
        for group in groups:
            if not all(set(heads) <= set(c.heads()) for c in group):
                if primary:  # a pre-registered endpoint stays visible without its runs
                    row = make_row(claim.id, primary, spec, head, group, exact_estimate(None))
                    row.note = "; ".join(missing_note(c, spec, heads) for c in group)
                    yield row
                continue
            if spec.effect == INTERACTION:
                first, second = (paired_values(c, spec, head).tolist() for c in group)
                estimate = independent_estimate(first, second)
            else:
                estimate = estimate_in(group[0], spec, head)
            row = make_row(claim.id, primary, spec, head, group, estimate)
            row.images = images_for(spec, head, group, estimate, store)
            row.estimate = row.images.estimate if row.images else estimate  # the interval that decides
            if not estimate.measured:
                row.note = "; ".join(missing_note(c, spec, heads) for c in group)
            elif spec.converged and (late := convergence_note(group, heads, converged)):
                row.note, row.counts = late, False
            elif spec.by_construction:
                row.note, row.counts = f"by construction: {spec.by_construction}", False
            if row.images is not None and row.images.warning:
                row.note = "; ".join(filter(None, [row.note, row.images.warning]))
            yield row


def cell_groups(spec: EndpointSpec, cells: Sequence[Cell]) -> list[list[Cell]]:
    """The matching cells, each alone; for an interaction, each matching cell with its ``versus`` cell of the
    same backbone and training (every grouping key under a ``match`` prefix equal)."""
    chosen = [c for c in cells if matches(c, spec.cells)]
    if spec.versus is None:
        return [[c] for c in chosen]
    versus = spec.versus
    pairs = []
    for cell in chosen:
        same = [
            other
            for other in cells
            if other is not cell
            and matches(other, versus)
            and all(cell_value(cell, k) == cell_value(other, k) for k in matched_keys(cell, other, spec.match))
        ]
        pairs += [[cell, other] for other in same]
    return pairs


def matched_keys(first: Cell, second: Cell, prefixes: Sequence[str]) -> list[str]:
    keys = dict.fromkeys([*first.keys, *second.keys])
    return [k for k in keys if any(k == p or k.startswith(f"{p}.") for p in prefixes)]


def selector_text(spec: EndpointSpec) -> str:
    parts = [f"{k} = {'/'.join(v)}" for k, v in spec.cells.items()] or ["every cell"]
    if spec.versus is not None:
        parts.append("vs " + ", ".join(f"{k} = {'/'.join(v)}" for k, v in spec.versus.items()))
    return ", ".join(parts)


def measure(plan: Plan, cells: Sequence[Cell], converged: Converged) -> list[Row]:
    """Every row of every claim of the plan: primary rows first, then secondary rows (exact secondary rows once
    per model: cells that differ only in training give the same parameter count). Each run's predictions are
    read once (``PredictionStore``)."""
    rows: list[Row] = []
    store = PredictionStore()
    for claim in plan.claims:
        usable = allowed_cells(plan, claim.id, cells)
        for spec in claim.primary:
            rows += rows_for(claim, spec, True, usable, converged, store)
        seen: set[tuple[object, ...]] = set()
        for spec in claim.secondary:
            for row in rows_for(claim, spec, False, usable, converged, store):
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
