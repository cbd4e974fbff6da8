"""The analysis plan of the claims verdict as data (``poolbench/conf/analysis/claims.yaml``, or ``--plan FILE``):
the grid it judges (named cells, each pinned on every config key that defines it, with its heads and seeds),
for each claim the seed's sentence(s), how its parts combine, its primary endpoints (each naming the phrase it
tests and a declared cell) and its secondary rows, and the counter-case cells. The file's own comments say what
each word means.

``poolbench.report.claims.plan_load.load_plan`` reads it, checking every field like the run config is checked
(``plan_reader``): an unknown key, a metric no run record has, a cell key no config has, a cell no ``cells:``
entry declares, each is refused with one message naming the field and the fix (exit 2). ``Plan.sha256`` is the
hash claims.md prints (sha256 of the parsed plan as canonical JSON, so comments and key order do not change it;
the grid and the ``robustness`` section are part of it).
``plan_load.respecify`` gives the same plan with some cells pinned elsewhere (the robustness map re-decides every
primary endpoint that way, ``poolbench.report.claims.verdict.judge_claims``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolbench.config import CONF_DIR
from poolbench.errors import ConfigError
from poolbench.report.claims.plan_names import IDENTITY_KEYS
from poolbench.report.claims.robustness import RobustnessPlan

PLAN_FILE = Path("analysis") / "claims.yaml"
DIFFERENCE, RELATIVE, REDUCTION, INTERACTION, VALUE = "difference", "relative", "reduction", "interaction", "value"
# 1 - METRIC, where METRIC is already the head's ratio to ``against`` with its own 95 % CI in METRIC_ci_low and
# METRIC_ci_high (poolbench-deploy's latency ratios against flatten, a bootstrap over timing processes and rounds)
REDUCTION_CI = "reduction_ci"
EFFECTS = (DIFFERENCE, RELATIVE, REDUCTION, REDUCTION_CI, INTERACTION, VALUE)
PERCENT_EFFECTS = (RELATIVE, REDUCTION, REDUCTION_CI)  # relative effects: their unit is %
RATIO_AGAINST = "flatten"  # the head every stored ratio (REDUCTION_CI) is measured against
UNITS = ("pp", "%", "")
ALL, ANY = "all", "any"
COMBINE = (ALL, ANY)
REAL = "$real"  # a cell's dataset as a role: the sweep's real (not probe, not synthetic) dataset, whatever it is

TOP_KEYS = ("alpha", "power", "history", "sesoi", "failed_run", "cells", "counter_cases", "claims", "robustness")
SESOI_KEYS = ("value", "unit", "reason")
CELL_KEYS = ("pins", "heads", "seeds", "why")
COUNTER_KEYS = ("cells", "about", "why")
FAILED_KEYS = ("metric", "below", "below_median_by", "reason")
CLAIM_KEYS = ("id", "words", "combine", "combine_reason", "primary", "secondary")
ENDPOINT_KEYS = (
    "name",
    "phrase",
    "cell",
    "cells",
    "versus",
    "head",
    "against",
    "metric",
    "minus",
    "effect",
    "direction",
    "sesoi",
    "converged",
    "by_construction",
)


@dataclass(frozen=True)
class Sesoi:
    name: str
    value: float
    unit: str
    reason: str


@dataclass(frozen=True)
class CellSpec:
    """A declared cell of the grid: the config values that define it (``pins``: key -> value text, ``$real`` for
    the sweep's real dataset) and the seeds of each head it runs (seeds 0 .. n-1)."""

    name: str
    pins: Mapping[str, str]
    heads: Mapping[str, int]
    why: str = ""


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    cells: tuple[str, ...]  # declared cell names (a primary: exactly one)
    heads: tuple[str, ...]
    against: str | None
    metric: str
    minus: str | None
    effect: str
    direction: str
    sesoi: Sesoi
    versus: str | None = None  # the declared cell an interaction subtracts
    converged: bool = False
    by_construction: str = ""
    phrase: str = ""  # the words of the seed this endpoint tests (a primary always names them)

    @property
    def unit(self) -> str:
        """pp for accuracies and shares of predictions (differences of fractions), % for relative effects."""
        if self.effect in PERCENT_EFFECTS:
            return "%"
        if self.metric.startswith("epochs"):
            return ""  # a count of epochs (epochs_to_train_acc_90), not an accuracy
        return "pp" if "acc" in self.metric or "consistency" in self.metric else ""


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    words: str
    primary: tuple[EndpointSpec, ...]
    secondary: tuple[EndpointSpec, ...]
    combine: str = ALL
    combine_reason: str = ""


@dataclass(frozen=True)
class CounterCase:
    cells: tuple[str, ...]
    about: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class FailedRun:
    """When a run counts as failed: its ``metric`` below ``below``, or more than ``below_median_by`` below the
    median of its head's seeds in the cell (one of the two); a bimodal endpoint then shows its failure rate."""

    metric: str
    below: float | None
    below_median_by: float | None
    reason: str

    @property
    def describe(self) -> str:
        if self.below is not None:
            return f"{self.metric} < {self.below:g}"
        return f"{self.metric} more than {self.below_median_by:g} below the head's median in the cell"


@dataclass(frozen=True)
class Plan:
    path: Path
    sha256: str
    alpha: float
    power: float
    sesois: tuple[Sesoi, ...]
    counter_cases: tuple[CounterCase, ...]
    claims: tuple[ClaimSpec, ...]
    cells: tuple[CellSpec, ...] = ()
    history: str = ""
    failed_run: FailedRun | None = None
    robustness: RobustnessPlan | None = None  # the robustness section, checked (poolbench.report.claims.robustness)
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def cell(self, name: str) -> CellSpec:
        return next(cell for cell in self.cells if cell.name == name)

    def selector_keys(self) -> list[str]:
        """Every config key a cell is pinned on (the report groups by them, so every cell has their value)."""
        keys: list[str] = []
        for cell in self.cells:
            keys += [key for key in cell.pins if key not in keys and key not in IDENTITY_KEYS]
        return keys


def default_plan_path() -> Path:
    return CONF_DIR / PLAN_FILE


def canonical_hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_error(path: Path, key: str, value: Any, allowed: str, fix: str = "") -> ConfigError:
    """One message naming the plan's field, what it may be and the fix (``poolbench-report`` exits 2)."""
    fix = fix or f"edit {path} (its comments say what each field means) or pass another file with --plan"
    return ConfigError(key, value, allowed, fix, problem=f"Invalid analysis plan {path}")
