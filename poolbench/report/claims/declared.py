"""The plan's declared cells found in the records: each cell is the one setting of the runs whose values match every
pin (``$real``: the records' one real dataset, neither a probe task nor synthetic), its runs cut to the declared
heads and seeds. A cell that matches no setting, or several (the note names the keys that tell them apart, to pin
them), or a ``$real`` that names none or several datasets, has no setting: its primaries are not measured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from poolbench.report.claims.cells import Cell
from poolbench.report.claims.plan import REAL, CellSpec, Plan
from poolbench.report.variants import ABSENT


def cell_value(cell: Cell, key: str) -> str:
    named = dict(zip(cell.keys, cell.values))
    if key in named:
        return str(named[key])
    if key in cell.runs.columns:
        values = cell.runs[key].dropna().astype(str).unique()
        return str(values[0]) if len(values) == 1 else ABSENT
    return ABSENT


def is_real(cell: Cell) -> bool:
    """A cell of a real dataset (the plan's ``$real`` role): not a probe task, not synthetic data."""
    return not cell.task and str(cell.values[0]) != "synthetic"


@dataclass(frozen=True)
class Resolved:
    """A declared cell of the plan and the one setting of the records it names (None: why not, in ``note``)."""

    spec: CellSpec
    cell: Cell | None
    note: str = ""


def resolve_cells(plan: Plan, cells: Sequence[Cell]) -> dict[str, Resolved]:
    """Each declared cell's setting: the one cell of the records whose values match every pin (``$real``: the
    records' one real dataset), its runs cut to the declared heads and seeds (0 .. n-1); none where no cell or
    several cells match (the note names the keys to pin) or the records hold several real datasets."""
    real = sorted({str(cell.values[0]) for cell in cells if is_real(cell)})
    resolved = {}
    for spec in plan.cells:
        pins = dict(spec.pins)
        if pins.get("dataset") == REAL:
            if len(real) != 1:
                why = "no real-dataset runs" if not real else "several real datasets (" + ", ".join(real) + ")"
                resolved[spec.name] = Resolved(spec, None, f"{spec.name}: dataset {REAL} names none: {why}")
                continue
            pins["dataset"] = real[0]
        hits = [cell for cell in cells if all(cell_value(cell, key) == value for key, value in pins.items())]
        if len(hits) != 1:
            resolved[spec.name] = Resolved(spec, None, unresolved_note(spec.name, hits))
            continue
        runs = hits[0].runs
        keep = [head in spec.heads and int(seed) < spec.heads[head] for head, seed in zip(runs["head"], runs["seed"])]
        resolved[spec.name] = Resolved(spec, replace(hits[0], runs=runs[keep]))
    return resolved


def unresolved_note(name: str, hits: Sequence[Cell]) -> str:
    if not hits:
        return f"{name}: no runs with its pins"
    keys = [k for k in hits[0].keys if len({cell_value(c, k) for c in hits}) > 1]
    return f"{name}: {len(hits)} settings of the records match (they differ in {', '.join(keys)}): pin it in the plan"


def allowed_cells(plan: Plan, claim: str) -> list[str]:
    """The declared cells a claim may use: every one but the counter-cases of other claims."""
    barred = {name for case in plan.counter_cases if claim not in case.about for name in case.cells}
    return [cell.name for cell in plan.cells if cell.name not in barred]
