"""The robustness section of the analysis plan (``robustness:`` in ``poolbench/conf/analysis/claims.yaml``): the
factors whose levels the claims are re-decided under, their levels, and the design that picks the
specifications (the reference cell, each other level of one factor at a time, and the declared pairs).

It is part of the plan, so part of its hash (``Plan.sha256`` hashes the whole parsed file): adding a level
changes the hash claims.md prints. ``poolbench.report.claims.plan`` only passes the section through
(``Plan.robustness``); ``load_robustness`` checks it here, naming the first wrong field (exit 2), an unknown key
included. ``poolbench.report.claims.respecify`` re-decides the primary endpoints in every specification.

A *level* changes what a primary endpoint reads: ``cells`` (config key -> value: the cell selector's keys it
sets, e.g. ``trainer.weight_decay: 0.0``; ``{one_of: [null, 0.0]}`` where either value is that level),
``metrics`` (a metric read instead of another, e.g. the loss gap for the accuracy gap, with the ``sesoi`` of the
new unit) and, with its reason, ``waive_convergence`` (where fitting the training set is what the level
measures, not a precondition: label noise).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from poolbench.errors import ConfigError
from poolbench.report.claims.plan import UNITS, Plan, Selector, Sesoi
from poolbench.report.variants import value_text

SECTION = "robustness"
TOP_KEYS = ("why", "results", "endpoints", "min_seeds", "factors", "pairs")
FACTOR_KEYS = ("name", "reference", "levels")
LEVEL_KEYS = ("name", "cells", "metrics", "sesoi", "waive_convergence")
SESOI_KEYS = ("value", "unit", "reason")


@dataclass(frozen=True)
class Level:
    name: str
    cells: Selector = field(default_factory=dict)
    metrics: Mapping[str, str] = field(default_factory=dict)  # metric -> the metric read instead
    sesoi: Sesoi | None = None  # the SESOI of the replaced metrics' unit
    waive_convergence: str = ""  # why convergence is not required at this level ("" : it is)


@dataclass(frozen=True)
class Factor:
    name: str
    reference: str
    levels: tuple[Level, ...]

    @property
    def reference_level(self) -> Level:
        return next(level for level in self.levels if level.name == self.reference)

    @property
    def other_levels(self) -> tuple[Level, ...]:
        return tuple(level for level in self.levels if level.name != self.reference)


@dataclass(frozen=True)
class Specification:
    """One specification: every factor at one of its levels (``moved``: the factors away from the reference)."""

    name: str
    levels: tuple[tuple[Factor, Level], ...]

    @property
    def moved(self) -> tuple[str, ...]:
        return tuple(factor.name for factor, level in self.levels if level.name != factor.reference)

    def level_of(self, factor: str) -> str:
        return next(level.name for f, level in self.levels if f.name == factor)


@dataclass(frozen=True)
class RobustnessPlan:
    why: str
    results: tuple[str, ...]  # sweep folders beside the claims folder that hold the specification runs
    endpoints: Selector  # the primary endpoints the map re-decides: those whose cells name these values
    min_seeds: int
    factors: tuple[Factor, ...]
    pairs: tuple[tuple[str, str], ...]

    def specifications(self) -> list[Specification]:
        """The reference, then each other level of each factor alone, then each declared pair's other levels."""
        reference = tuple((f, f.reference_level) for f in self.factors)
        specs = [Specification("reference", reference)]
        for factor in self.factors:
            for level in factor.other_levels:
                specs.append(self._spec({factor.name: level}))
        for first, second in self.pairs:
            a, b = (self.factor(name) for name in (first, second))
            for x, y in itertools.product(a.other_levels, b.other_levels):
                specs.append(self._spec({a.name: x, b.name: y}))
        return specs

    def factor(self, name: str) -> Factor:
        return next(f for f in self.factors if f.name == name)

    def config_keys(self) -> list[str]:
        """Every config key a level sets (the runs frame groups by them, so every cell has their value)."""
        keys = [k for f in self.factors for level in f.levels for k in level.cells]
        return list(dict.fromkeys(keys))

    def _spec(self, moved: Mapping[str, Level]) -> Specification:
        levels = tuple((f, moved.get(f.name, f.reference_level)) for f in self.factors)
        name = " × ".join(f"{factor} {level.name}" for factor, level in moved.items())
        return Specification(name, levels)


class _Reader:
    """Reads the section, naming the field (``robustness.factors[2].levels[1].cells``) of the first wrong value."""

    def __init__(self, plan: Plan) -> None:
        self.path = plan.path

    def fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        fix = f"edit the robustness section of {self.path} (its comments say what each field means)"
        return ConfigError(key, value, allowed, fix, problem=f"Invalid analysis plan {self.path}")

    def mapping(self, node: Any, where: str, keys: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(node, Mapping):
            raise self.fail(where, node, "a mapping with keys " + ", ".join(keys))
        unknown = [str(k) for k in node if k not in keys]
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}", node[unknown[0]], "one of the keys " + ", ".join(keys))
        return node

    def text(self, node: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
        value = node.get(key)
        if value is None and not required:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value).strip() == "":
            raise self.fail(f"{where}.{key}", value, "a name (text)")
        return str(value)

    def selector(self, node: Any, where: str) -> Selector:
        """Config key -> one value (a list is one value: the widths), or ``{one_of: [...]}`` for alternatives."""
        if node is None:
            return {}
        if not isinstance(node, Mapping) or not all(isinstance(k, str) and k for k in node):
            raise self.fail(where, node, "a mapping of config key to value, e.g. {trainer.weight_decay: 0.0}")
        return {key: self.values(value, f"{where}.{key}") for key, value in node.items()}

    def values(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, Mapping):
            return (value_text(value),)
        choices = value.get("one_of")
        if set(value) != {"one_of"} or not isinstance(choices, list) or not choices:
            raise self.fail(where, dict(value), "a value, or {one_of: [value, ...]} for alternatives")
        return tuple(value_text(choice) for choice in choices)

    def sesoi(self, node: Any, where: str) -> Sesoi | None:
        if node is None:
            return None
        node = self.mapping(node, where, SESOI_KEYS)
        value = node.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise self.fail(f"{where}.value", value, "a number > 0 in the metric's unit")
        if node.get("unit") not in UNITS:
            raise self.fail(f"{where}.unit", node.get("unit"), ", ".join(repr(u) for u in UNITS))
        return Sesoi(where, float(value), str(node["unit"]), self.text(node, "reason", where))

    def level(self, node: Any, where: str) -> Level:
        node = self.mapping(node, where, LEVEL_KEYS)
        metrics = node.get("metrics") or {}
        if not isinstance(metrics, Mapping) or not all(isinstance(v, str) for v in metrics.values()):
            raise self.fail(f"{where}.metrics", metrics, "a mapping of metric to the metric read instead")
        sesoi = self.sesoi(node.get("sesoi"), f"{where}.sesoi")
        if metrics and sesoi is None:
            raise self.fail(f"{where}.sesoi", None, "the SESOI of the metrics read instead (value, unit, reason)")
        return Level(
            self.text(node, "name", where),
            self.selector(node.get("cells"), f"{where}.cells"),
            {str(k): str(v) for k, v in metrics.items()},
            sesoi,
            self.text(node, "waive_convergence", where, required=False),
        )

    def factor(self, node: Any, where: str) -> Factor:
        node = self.mapping(node, where, FACTOR_KEYS)
        raw = node.get("levels")
        if not isinstance(raw, list) or len(raw) < 2:
            raise self.fail(f"{where}.levels", raw, "a list of at least two levels (the reference among them)")
        levels = tuple(self.level(level, f"{where}.levels[{i}]") for i, level in enumerate(raw))
        names = [level.name for level in levels]
        if len(set(names)) != len(names):
            raise self.fail(f"{where}.levels", names, "levels with distinct names")
        reference = self.text(node, "reference", where)
        if reference not in names:
            raise self.fail(f"{where}.reference", reference, "the name of one of its levels: " + ", ".join(names))
        return Factor(self.text(node, "name", where), reference, levels)

    def section(self, node: Any) -> RobustnessPlan:
        node = self.mapping(node, SECTION, TOP_KEYS)
        raw = node.get("factors")
        if not isinstance(raw, list) or not raw:
            raise self.fail(f"{SECTION}.factors", raw, "a list of factors (name, reference, levels)")
        factors = tuple(self.factor(f, f"{SECTION}.factors[{i}]") for i, f in enumerate(raw))
        names = [f.name for f in factors]
        pairs = []
        for i, pair in enumerate(node.get("pairs") or []):
            if not isinstance(pair, list) or len(pair) != 2 or not set(pair) <= set(names) or pair[0] == pair[1]:
                raise self.fail(f"{SECTION}.pairs[{i}]", pair, "two different factor names: " + ", ".join(names))
            pairs.append((str(pair[0]), str(pair[1])))
        results = node.get("results") or []
        if not isinstance(results, list) or not all(isinstance(r, str) and "/" not in r for r in results):
            raise self.fail(f"{SECTION}.results", results, "a list of folder names beside the claims folder")
        seeds = node.get("min_seeds", 3)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
            raise self.fail(f"{SECTION}.min_seeds", seeds, "an integer >= 2")
        return RobustnessPlan(
            self.text(node, "why", SECTION, required=False),
            tuple(results),
            self.selector(node.get("endpoints"), f"{SECTION}.endpoints"),
            seeds,
            factors,
            tuple(pairs),
        )


def load_robustness(plan: Plan) -> RobustnessPlan | None:
    """The plan's robustness section, checked; None where the plan has none."""
    raw = getattr(plan, "robustness", None)
    return None if raw is None else _Reader(plan).section(raw)
