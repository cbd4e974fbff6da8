"""The robustness section of the analysis plan (``robustness:`` in ``poolbench/conf/analysis/claims.yaml``): the
declared cell the map moves (``base``), the factors and their levels, and the design that picks the
specifications (the reference, each other level of one factor at a time, and the declared pairs).

It is part of the plan, so part of its hash (``Plan.sha256`` hashes the whole parsed file): adding a level
changes the hash claims.md prints. ``plan_reader`` reads it here with the rest of the plan, naming the first
wrong field (an unknown key included; exit 2).

A *level* re-pins the base cell (``pins``: config key -> one value, as a cell's pins; ``null``: a key the runs
do not set), may read another metric in the primaries on that cell (``metrics``: {metric: instead}, judged by
the plan's SESOI named ``sesoi`` where the unit changes) and, with its reason, waive their convergence
requirement (``waive_convergence``: where fitting the training set is what the level measures, label noise).
Every specification is one call of ``plan_load.respecify`` (``specifications.specification_plan``): the plan with
the base cell moved, re-decided by ``poolbench.report.claims.specifications``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from poolbench.report.claims import plan_names as names

SECTION = "robustness"
TOP_KEYS = ("why", "base", "results", "min_seeds", "factors", "pairs")
FACTOR_KEYS = ("name", "reference", "levels")
LEVEL_KEYS = ("name", "pins", "metrics", "sesoi", "waive_convergence")


@dataclass(frozen=True)
class Level:
    name: str
    pins: Mapping[str, Any] = field(default_factory=dict)  # config key -> value (as written in the plan)
    metrics: Mapping[str, str] = field(default_factory=dict)  # metric -> the metric read instead
    sesoi: str | None = None  # the plan's SESOI (by name) for the metrics read instead
    waive_convergence: str = ""  # why convergence is not required at this level ("": it is)


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

    @property
    def moved_levels(self) -> tuple[Level, ...]:
        return tuple(level for factor, level in self.levels if level.name != factor.reference)

    def level_of(self, factor: str) -> str:
        return next(level.name for f, level in self.levels if f.name == factor)

    def pins(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The base cell's new pins: the reference levels' pins for keys the base cell (``base``: its pins) leaves
        unpinned (label noise: unset), then the moved levels' pins, last (a level that sets another factor's key,
        as 10k images set the epochs, wins). So the reference specification is the verdict's own cell, also
        where a user re-pins the base cell (fewer epochs on their own data)."""
        pins: dict[str, Any] = {}
        for factor, level in self.levels:
            if level.name == factor.reference:
                pins.update({k: v for k, v in level.pins.items() if k not in base})
        for level in self.moved_levels:
            pins.update(level.pins)
        return pins

    def metrics(self) -> dict[str, str]:
        return {k: v for level in self.moved_levels for k, v in level.metrics.items()}

    def sesoi(self) -> str | None:
        return next((level.sesoi for level in self.moved_levels if level.sesoi), None)

    def waived(self) -> str:
        return "; ".join(level.waive_convergence for level in self.moved_levels if level.waive_convergence)


@dataclass(frozen=True)
class RobustnessPlan:
    why: str
    base: str  # the declared cell every specification re-pins
    results: tuple[str, ...]  # sweep folders beside the claims folder that hold the specification runs
    min_seeds: int
    factors: tuple[Factor, ...]
    pairs: tuple[tuple[str, str], ...]

    def specifications(self) -> list[Specification]:
        """The reference, then each other level of each factor alone, then each declared pair's other levels."""
        specs = [Specification("reference", tuple((f, f.reference_level) for f in self.factors))]
        for factor in self.factors:
            specs += [self._spec({factor.name: level}) for level in factor.other_levels]
        for first, second in self.pairs:
            a, b = (self.factor(name) for name in (first, second))
            specs += [self._spec({a.name: x, b.name: y}) for x, y in itertools.product(a.other_levels, b.other_levels)]
        return specs

    def factor(self, name: str) -> Factor:
        return next(f for f in self.factors if f.name == name)

    def config_keys(self) -> list[str]:
        """Every config key a level pins (the runs frame groups by them, so every cell has their value)."""
        return list(dict.fromkeys(k for f in self.factors for level in f.levels for k in level.pins))

    def _spec(self, moved: Mapping[str, Level]) -> Specification:
        levels = tuple((f, moved.get(f.name, f.reference_level)) for f in self.factors)
        return Specification(" × ".join(f"{factor} {level.name}" for factor, level in moved.items()), levels)


class SectionReader:
    """Reads the section, naming the field (``robustness.factors[2].levels[1].pins``) of the first wrong value."""

    def __init__(self, fail: Any, cells: Mapping[str, Any], sesois: Sequence[str]) -> None:
        self.fail, self.cells, self.sesois = fail, cells, sesois

    def mapping(self, node: Any, where: str, keys: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(node, Mapping):
            raise self.fail(where, node, "a mapping with keys " + ", ".join(keys))
        for key in node:
            if key not in keys:
                near = names.closest(key, keys)
                raise self.fail(f"{where}.{key}", node[key], "keys " + ", ".join(keys), f"remove or rename it{near}")
        return node

    def text(self, node: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
        value = node.get(key)
        if value is None and not required:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value).strip() == "":
            raise self.fail(f"{where}.{key}", value, "a name (text)")
        return str(value)

    def pins(self, node: Any, where: str) -> dict[str, Any]:
        node = {} if node is None else node
        if not isinstance(node, Mapping):
            raise self.fail(where, node, "a mapping of config key to one value, e.g. {trainer.weight_decay: 0.0}")
        for key, value in node.items():
            if key not in names.config_keys() or key in names.IDENTITY_KEYS:
                near = names.closest(key, names.config_keys())
                raise self.fail(f"{where}.{key}", value, names.CONFIG_KEY_HELP + near)
            if problem := names.pin_problem(key, value):
                raise self.fail(f"{where}.{key}", value, problem)
        return dict(node)

    def level(self, node: Any, where: str) -> Level:
        node = self.mapping(node, where, LEVEL_KEYS)
        metrics = node.get("metrics") or {}
        if not isinstance(metrics, Mapping) or not all(names.is_metric(m) for m in (*metrics, *metrics.values())):
            raise self.fail(f"{where}.metrics", metrics, "a mapping of metric to the metric read instead")
        sesoi = node.get("sesoi")
        if sesoi is not None and (sesoi not in self.sesois or not metrics):
            raise self.fail(
                f"{where}.sesoi", sesoi, "with metrics: one of the names under sesoi: " + ", ".join(self.sesois)
            )
        waive = self.text(node, "waive_convergence", where, required=False)
        return Level(
            self.text(node, "name", where), self.pins(node.get("pins"), f"{where}.pins"), metrics, sesoi, waive
        )

    def factor(self, node: Any, where: str) -> Factor:
        node = self.mapping(node, where, FACTOR_KEYS)
        raw = node.get("levels")
        if not isinstance(raw, list) or len(raw) < 2:
            raise self.fail(f"{where}.levels", raw, "a list of at least two levels (the reference among them)")
        levels = tuple(self.level(level, f"{where}.levels[{i}]") for i, level in enumerate(raw))
        level_names = [level.name for level in levels]
        if len(set(level_names)) != len(level_names):
            raise self.fail(f"{where}.levels", level_names, "levels with distinct names")
        reference = self.text(node, "reference", where)
        if reference not in level_names:
            raise self.fail(f"{where}.reference", reference, "the name of one of its levels: " + ", ".join(level_names))
        return Factor(self.text(node, "name", where), reference, levels)

    def section(self, node: Any) -> RobustnessPlan:
        node = self.mapping(node, SECTION, TOP_KEYS)
        base = node.get("base")
        if base not in self.cells:
            raise self.fail(f"{SECTION}.base", base, "a cell declared under cells: " + ", ".join(self.cells))
        raw = node.get("factors")
        if not isinstance(raw, list) or not raw:
            raise self.fail(f"{SECTION}.factors", raw, "a list of factors (name, reference, levels)")
        factors = tuple(self.factor(f, f"{SECTION}.factors[{i}]") for i, f in enumerate(raw))
        factor_names = [f.name for f in factors]
        if len(set(factor_names)) != len(factor_names):
            raise self.fail(f"{SECTION}.factors", factor_names, "factors with distinct names")
        pairs = []
        for i, pair in enumerate(node.get("pairs") or []):
            if not isinstance(pair, list) or len(pair) != 2 or not set(pair) <= set(factor_names) or pair[0] == pair[1]:
                raise self.fail(f"{SECTION}.pairs[{i}]", pair, "two different factor names: " + ", ".join(factor_names))
            pairs.append((str(pair[0]), str(pair[1])))
        results = node.get("results") or []
        if not isinstance(results, list) or not all(isinstance(r, str) and "/" not in r for r in results):
            raise self.fail(f"{SECTION}.results", results, "a list of folder names beside the claims folder")
        seeds = node.get("min_seeds", 3)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
            raise self.fail(f"{SECTION}.min_seeds", seeds, "an integer >= 2")
        why = " ".join(self.text(node, "why", SECTION, required=False).split())
        return RobustnessPlan(why, str(base), tuple(results), seeds, factors, tuple(pairs))


def read_robustness(node: Any, fail: Any, cells: Mapping[str, Any], sesois: Sequence[str]) -> RobustnessPlan | None:
    """The plan's robustness section, checked (``fail(key, value, allowed, fix="")`` builds the error); None where
    the plan has none."""
    return None if node is None else SectionReader(fail, cells, sesois).section(node)
