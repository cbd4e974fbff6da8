"""The sweep objective: the one number the task function hands a sweeper (Optuna, Nevergrad, Ax, ...).

It is always measured on the validation split, never the test split: a sweeper selects on whatever it is
given, and the README promises the test split is never used for selection. ``objective`` (a top-level key)
names it; each objective carries the direction a sweeper must optimise it in (the Optuna preset reads it
through the ``poolbench_direction`` resolver, so the two cannot disagree).

A run that diverged or failed has no objective: it returns NaN, a float every sweeper can take. Poolbench's
Optuna preset turns NaN into a FAILED trial, so the search goes on (``poolbench.sweep.optuna_sweeper``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from poolbench.record import RunRecord

# objective -> the direction a sweeper must optimise it in. Validation metrics only: never add a test metric.
DIRECTIONS = {"val_acc": "maximize", "best_val_acc": "maximize", "val_loss": "minimize"}
OBJECTIVES = tuple(DIRECTIONS)
NO_VALUE = math.nan
DIRECTION_RESOLVER = "poolbench_direction"  # ${poolbench_direction:${objective}} in conf/hydra/sweeper/tune.yaml


def direction(objective: str) -> str:
    """``maximize`` or ``minimize``: how a sweeper must treat ``objective``."""
    try:
        return DIRECTIONS[objective]
    except KeyError:
        raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}") from None


def objective_value(record: RunRecord | None, objective: str) -> float:
    """The record's validation ``objective`` as a float; NaN when the run has none (diverged, failed, cut).

    A run that is not ``ok`` gets NaN even if it recorded a value: a diverged run's last-epoch accuracy is not
    a result a sweeper should be able to pick."""
    direction(objective)  # an unknown objective is a bug here: validation rejects it before any run
    if record is None or record.status != "ok":
        return NO_VALUE
    value = getattr(record, objective)
    if value is None or not math.isfinite(float(value)):
        return NO_VALUE
    return float(value)
