"""Failure rates beside a bimodal endpoint: where some of a head's seeds in a cell failed (the plan's
``failed_run``: its metric below a fixed value, or more than a margin below the median of the head's seeds in that
cell), the share of failed seeds is a row of its own (head minus against, paired on seed, in pp; never voted), so a
bimodal endpoint (seeds that fit and seeds in another mode) is read as a rate and a mean, not as one mean."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from poolbench.report.claims.cells import Cell, number
from poolbench.report.claims.plan import DIFFERENCE, VALUE, FailedRun
from poolbench.report.claims.rows import Row
from poolbench.report.decide import paired_estimate
from poolbench.report.names import head_name


def failed_seeds(failed: FailedRun, cell: Cell, head: str) -> pd.Series:
    """Per seed of ``head`` in ``cell``: 1.0 where the run failed, 0.0 where it did not (NaN: no value)."""
    values = cell.by_seed(head, lambda run: number(run.get(failed.metric))).dropna()
    if failed.below is not None:
        return (values < failed.below).astype(float)
    return (values < values.median() - (failed.below_median_by or 0.0)).astype(float)


def failure_rows(failed: FailedRun | None, rows: Sequence[Row]) -> list[Row]:
    """One failure-rate row per declared cell, head and against of ``rows`` where a seed failed."""
    made: dict[tuple[object, ...], Row] = {}
    for row in rows:
        if failed is None or row.estimate.exact or not row.cells:
            continue
        heads = [row.head, *([row.spec.against] if row.spec.against else [])]
        for cell, name in zip(row.cells, row.cell_names):
            key = (name, *heads)
            flags = {h: failed_seeds(failed, cell, h) for h in heads}
            if key in made or not any(flags[h].sum() for h in heads):
                continue
            made[key] = failure_row(failed, row, cell, name, flags)
    return list(made.values())


def failure_row(failed: FailedRun, row: Row, cell: Cell, name: str, flags: dict[str, pd.Series]) -> Row:
    spec = replace(
        row.spec,
        name=f"failure rate: {failed.describe}",
        metric="failed run (share of seeds, acc)",  # a share of seeds, in pp
        minus=None,
        versus=None,
        effect=DIFFERENCE if row.spec.against else VALUE,
        cells=(name,),
        converged=False,
        by_construction="",
    )
    if row.spec.against:
        pairs = pd.concat({"a": flags[row.head], "b": flags[row.spec.against]}, axis=1, join="inner").dropna()
        estimate = paired_estimate((pairs["a"] - pairs["b"]).tolist())
    else:
        estimate = paired_estimate(flags[row.head].tolist())
    counts = ", ".join(f"{head_name(h)} {int(f.sum())} of {len(f)} seeds" for h, f in flags.items())
    return Row(
        row.claim,
        False,
        spec,
        row.head,
        cell.label,
        estimate,
        note=f"failed: {counts} ({failed.reason})",
        counts=False,
        real_data=row.real_data,
        setting_full=f"{name}: {cell.full_label}",
        cells=(cell,),
        cell_names=(name,),
        failure=True,
    )
