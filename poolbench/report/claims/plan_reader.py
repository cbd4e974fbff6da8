"""The analysis plan's reader: every field of the YAML checked like the run config is (an unknown key, a metric no
run record has, a config key that does not exist, a head without a config, a cell not declared under ``cells:``,
a phrase not in the claim's words), each refused with one message naming the field and the fix (exit 2)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poolbench.errors import ConfigError
from poolbench.report.claims import plan_names as names
from poolbench.report.claims.plan import (
    CELL_KEYS,
    CLAIM_KEYS,
    COMBINE,
    COUNTER_KEYS,
    EFFECTS,
    ENDPOINT_KEYS,
    FAILED_KEYS,
    INTERACTION,
    RATIO_AGAINST,
    REAL,
    REDUCTION,
    REDUCTION_CI,
    SESOI_KEYS,
    TOP_KEYS,
    UNITS,
    VALUE,
    CellSpec,
    ClaimSpec,
    CounterCase,
    EndpointSpec,
    FailedRun,
    Plan,
    Sesoi,
    canonical_hash,
    plan_error,
)
from poolbench.report.claims.robustness import read_robustness
from poolbench.report.decide import DIRECTIONS, NONINFERIOR
from poolbench.report.variants import value_text


class Reader:
    """Reads one plan file, naming the field (``claims[1].primary[0].sesoi``) of the first wrong value."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: Any, allowed: str, fix: str = "") -> ConfigError:
        return plan_error(self.path, key, value, allowed, fix)

    def known(self, node: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key not in allowed:
                near = names.closest(key, allowed)
                fix = f"remove or rename it in {self.path}{near}; a misspelt field is never ignored"
                raise self.fail(f"{where}.{key}" if where else str(key), node[key], "keys " + ", ".join(allowed), fix)

    def mapping(self, node: Any, where: str, what: str) -> Mapping[str, Any]:
        if not isinstance(node, Mapping):
            raise self.fail(where, node, what)
        return node

    def field(self, node: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        value = node.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.fail(f"{where}.{key}" if where else key, value, f"a {names}")
        return value

    def metric(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not names.is_metric(value):
            near = names.closest(value, names.metric_names())
            fix = f"correct the name in {self.path}{near} (poolbench/record.py: the fields)"
            raise self.fail(where, value, names.METRIC_HELP, fix)
        return value

    def head(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in names.head_names():
            raise self.fail(where, value, "a head of conf/head/: " + ", ".join(sorted(names.head_names())))
        return value

    def sesoi(self, name: str, node: Any) -> Sesoi:
        where = f"sesoi.{name}"
        node = self.mapping(node, where, "a mapping with value, unit and reason")
        self.known(node, SESOI_KEYS, where)
        value = float(self.field(node, "value", where, (int, float)))
        if not (math.isfinite(value) and value > 0):
            raise self.fail(f"{where}.value", value, "a number > 0 in the effect's unit (0.01 = 1 pp)")
        unit = node.get("unit")
        if unit not in UNITS:
            raise self.fail(f"{where}.unit", unit, ", ".join(repr(u) for u in UNITS))
        return Sesoi(name, value, unit, str(self.field(node, "reason", where, str)))

    def cell(self, name: str, node: Any) -> CellSpec:
        where = f"cells.{name}"
        node = self.mapping(node, where, "a mapping with pins, heads (and seeds)")
        self.known(node, CELL_KEYS, where)
        pins = self.mapping(node.get("pins"), f"{where}.pins", "a mapping of config key to one value")
        for key, value in pins.items():
            if key not in names.config_keys():
                near = names.closest(key, names.config_keys())
                fix = f"correct the key in {self.path}{near} (poolbench/conf/: every config key)"
                raise self.fail(f"{where}.pins.{key}", value, names.CONFIG_KEY_HELP, fix)
            if problem := names.pin_problem(key, value):
                raise self.fail(f"{where}.pins.{key}", value, problem)
        if "dataset" not in pins:
            raise self.fail(f"{where}.pins.dataset", None, f"the cell's dataset (a name, or {REAL})")
        heads = node.get("heads")
        if isinstance(heads, list):
            seeds = self.field(node, "seeds", where, int)
            counts = {self.head(h, f"{where}.heads"): seeds for h in heads}
        elif isinstance(heads, Mapping):
            if "seeds" in node:
                raise self.fail(f"{where}.seeds", node["seeds"], "no seeds: heads maps each head to its seeds")
            counts = {self.head(h, f"{where}.heads"): n for h, n in heads.items()}
        else:
            raise self.fail(f"{where}.heads", heads, "a list of heads (with seeds: N) or a mapping head -> seeds")
        for head, count in counts.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise self.fail(f"{where}.heads.{head}", count, "a number of seeds >= 1 (seeds 0 .. n-1)")
        text = {str(k): REAL if v == REAL else value_text(v) for k, v in pins.items()}
        return CellSpec(name, text, counts, str(node.get("why", "") or ""))

    def cell_names(self, node: Any, where: str, cells: Mapping[str, CellSpec]) -> tuple[str, ...]:
        names = node if isinstance(node, list) else [node]
        for name in names:
            if not isinstance(name, str) or name not in cells:
                raise self.fail(
                    where,
                    name,
                    "a cell declared under cells: " + ", ".join(cells),
                    f"declare the cell under cells: in {self.path} (pinned on every key that defines it) or "
                    "name a declared one; a plan judges only the grid it declares",
                )
        return tuple(names)

    def endpoint(
        self, node: Any, where: str, sesois: Mapping[str, Sesoi], cells: Mapping[str, CellSpec], claim: str | None
    ) -> EndpointSpec:
        primary = claim is not None
        node = self.mapping(node, where, "a mapping (name, phrase, cell, head, metric, effect, direction, sesoi)")
        self.known(node, ENDPOINT_KEYS, where)
        effect = node.get("effect")
        if effect not in EFFECTS:
            raise self.fail(f"{where}.effect", effect, ", ".join(EFFECTS))
        direction = node.get("direction")
        if direction not in DIRECTIONS:
            raise self.fail(f"{where}.direction", direction, ", ".join(DIRECTIONS))
        raw_heads = node.get("head")
        heads = raw_heads if isinstance(raw_heads, list) else [raw_heads]
        if raw_heads is None or (primary and len(heads) != 1):
            raise self.fail(f"{where}.head", raw_heads, "one head name (secondary rows: a list of them)")
        heads = [self.head(h, f"{where}.head") for h in heads]
        against = node.get("against")
        if (effect == VALUE) != (against is None):
            raise self.fail(f"{where}.against", against, "a head name, and none with effect: value")
        if against is not None:
            self.head(against, f"{where}.against")
        if (effect == INTERACTION) != (node.get("versus") is not None):
            raise self.fail(f"{where}.versus", node.get("versus"), "a declared cell exactly when effect: interaction")
        if direction == NONINFERIOR and effect in (REDUCTION, REDUCTION_CI):
            raise self.fail(f"{where}.direction", direction, "greater or less for a reduction")
        if effect == REDUCTION_CI and against != RATIO_AGAINST:
            raise self.fail(f"{where}.against", against, f"{RATIO_AGAINST} (the stored ratios are against it)")
        sesoi = sesois.get(str(node.get("sesoi")))
        if sesoi is None:
            raise self.fail(f"{where}.sesoi", node.get("sesoi"), "one of the names under sesoi: " + ", ".join(sesois))
        if primary:
            if "cells" in node or "cell" not in node:
                raise self.fail(f"{where}.cell", node.get("cells"), "one declared cell (cell: NAME)")
            chosen = self.cell_names(node["cell"], f"{where}.cell", cells)
            if len(chosen) != 1:
                raise self.fail(f"{where}.cell", node["cell"], "one declared cell (cell: NAME)")
        else:
            if "cell" in node:
                raise self.fail(f"{where}.cell", node["cell"], "cells: [NAMES] on a secondary row (absent: all)")
            chosen = self.cell_names(node["cells"], f"{where}.cells", cells) if "cells" in node else tuple(cells)
        versus = self.cell_names(node["versus"], f"{where}.versus", cells)[0] if node.get("versus") else None
        minus = self.metric(node["minus"], f"{where}.minus") if node.get("minus") is not None else None
        spec = EndpointSpec(
            name=str(self.field(node, "name", where, str)),
            cells=chosen,
            heads=tuple(heads),
            against=str(against) if against is not None else None,
            metric=self.metric(node.get("metric"), f"{where}.metric"),
            minus=minus,
            effect=str(effect),
            direction=str(direction),
            sesoi=sesoi,
            versus=versus,
            converged=bool(self.field(node, "converged", where, bool)) if "converged" in node else False,
            by_construction=str(node.get("by_construction", "") or ""),
            phrase=" ".join(str(node.get("phrase", "") or "").split()),
        )
        if spec.unit != sesoi.unit:
            raise self.fail(f"{where}.sesoi", sesoi.name, f"a SESOI in this endpoint's unit ({spec.unit!r})")
        if primary and spec.by_construction:
            raise self.fail(f"{where}.by_construction", spec.by_construction, "only on secondary rows")
        if primary and (not spec.phrase or spec.phrase.lower() not in (claim or "").lower()):
            raise self.fail(
                f"{where}.phrase", node.get("phrase"), "the words of the claim's quote this endpoint tests (verbatim)"
            )
        for name in (*spec.cells, *([versus] if versus else [])):
            missing = [h for h in (*heads, *([against] if against else [])) if h not in cells[name].heads]
            if missing and primary:
                raise self.fail(
                    f"{where}.head", ", ".join(missing), f"heads cell {name} runs: " + ", ".join(cells[name].heads)
                )
        return spec

    def claim(self, node: Any, where: str, sesois: Mapping[str, Sesoi], cells: Mapping[str, CellSpec]) -> ClaimSpec:
        node = self.mapping(node, where, "a mapping with id, words, combine, primary (and secondary)")
        self.known(node, CLAIM_KEYS, where)
        words = " ".join(str(self.field(node, "words", where, str)).split())
        combine = node.get("combine")
        if combine not in COMBINE:
            raise self.fail(
                f"{where}.combine", combine, "all (the seed's parts are conjunctive) or any (it says 'can')"
            )
        primary = [
            self.endpoint(e, f"{where}.primary[{j}]", sesois, cells, words)
            for j, e in enumerate(node.get("primary") or [])
        ]
        if not primary:
            raise self.fail(f"{where}.primary", node.get("primary"), "at least one primary endpoint")
        secondary = [
            self.endpoint(e, f"{where}.secondary[{j}]", sesois, cells, None)
            for j, e in enumerate(node.get("secondary") or [])
        ]
        reason = " ".join(str(node.get("combine_reason", "") or "").split())
        return ClaimSpec(str(node.get("id")), words, tuple(primary), tuple(secondary), str(combine), reason)

    def failed_run(self, node: Any) -> FailedRun | None:
        if node is None:
            return None
        node = self.mapping(node, "failed_run", "a mapping with metric, below or below_median_by, and reason")
        self.known(node, FAILED_KEYS, "failed_run")
        if ("below" in node) == ("below_median_by" in node):
            raise self.fail("failed_run", dict(node), "one of below (a value) or below_median_by (a margin)")
        limit = "below" if "below" in node else "below_median_by"
        value = float(self.field(node, limit, "failed_run", (int, float)))
        reason = str(self.field(node, "reason", "failed_run", str))
        metric = self.metric(node.get("metric"), "failed_run.metric")
        if limit == "below":
            return FailedRun(metric, value, None, reason)
        return FailedRun(metric, None, value, reason)

    def plan(self, data: Any) -> Plan:
        data = self.mapping(data, "(top level)", "a mapping with sesoi, cells, counter_cases and claims")
        self.known(data, TOP_KEYS, "")
        raw_sesois = self.field(data, "sesoi", "", Mapping)
        sesois = {str(name): self.sesoi(str(name), node) for name, node in raw_sesois.items()}
        raw_cells = self.field(data, "cells", "", Mapping)
        cells = {str(name): self.cell(str(name), node) for name, node in raw_cells.items()}
        counter = []
        for i, node in enumerate(data.get("counter_cases") or []):
            where = f"counter_cases[{i}]"
            node = self.mapping(node, where, "a mapping with cells, about and why")
            self.known(node, COUNTER_KEYS, where)
            about = tuple(str(a) for a in self.field(node, "about", where, list))
            names = self.cell_names(node.get("cells"), f"{where}.cells", cells)
            counter.append(CounterCase(names, about, str(node.get("why", ""))))
        claims = [
            self.claim(node, f"claims[{i}]", sesois, cells)
            for i, node in enumerate(self.field(data, "claims", "", list))
        ]
        alpha, power = data.get("alpha", 0.05), data.get("power", 0.8)
        for key, value in (("alpha", alpha), ("power", power)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise self.fail(key, value, "a probability between 0 and 1")
        known = [c.id for c in claims]
        if len(set(known)) != len(known):
            raise self.fail("claims[].id", known, "ids that differ")
        for i, case in enumerate(counter):
            if not set(case.about) <= set(known):
                raise self.fail(f"counter_cases[{i}].about", list(case.about), "claim ids: " + ", ".join(known))
            for claim in claims:
                used = [n for spec in claim.primary for n in (*spec.cells, spec.versus) if n in case.cells]
                if used and claim.id not in case.about:
                    why = f"cells no primary of another claim reads (claim {claim.id} reads {used[0]})"
                    raise self.fail(f"counter_cases[{i}].cells", list(case.cells), why)
        history = " ".join(str(data.get("history", "") or "").split())
        return Plan(
            self.path,
            canonical_hash(data),
            float(alpha),
            float(power),
            tuple(sesois.values()),
            tuple(counter),
            tuple(claims),
            tuple(cells.values()),
            history,
            self.failed_run(data.get("failed_run")),
            read_robustness(data.get("robustness"), self.fail, cells, list(sesois)),
            data,
        )
