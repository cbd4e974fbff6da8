"""The analysis plan of the claims verdict as data (``poolbench/conf/analysis/claims.yaml``, or ``--plan FILE``):
the grid it judges (named cells, each pinned on every config key that defines it, with its heads and seeds),
for each claim the seed's sentence(s), how its parts combine, its primary endpoints (each naming the phrase it
tests and a declared cell) and its secondary rows, and the counter-case cells. The file's own comments say what
each word means.

``load_plan`` checks every field like the run config is checked: an unknown key, a metric no run record has, a
cell key no config has, a cell no ``cells:`` entry declares, each is refused with one message naming the field
and the fix (exit 2). ``Plan.sha256`` is the hash claims.md prints (sha256 of the parsed plan as canonical JSON,
so comments and key order do not change it; the grid and the ``robustness`` section are part of it).
``respecify`` gives the same plan with some cells pinned elsewhere (the robustness map re-decides every primary
endpoint that way, ``poolbench.report.claims.verdict.judge_claims``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from poolbench.config import CONF_DIR
from poolbench.errors import ConfigError
from poolbench.report.decide import DIRECTIONS, NONINFERIOR
from poolbench.report.variants import flatten, value_text

PLAN_FILE = Path("analysis") / "claims.yaml"
DIFFERENCE, RELATIVE, REDUCTION, INTERACTION, VALUE = "difference", "relative", "reduction", "interaction", "value"
EFFECTS = (DIFFERENCE, RELATIVE, REDUCTION, INTERACTION, VALUE)
PERCENT_EFFECTS = (RELATIVE, REDUCTION)  # relative effects: their unit is %
UNITS = ("pp", "%", "")
ALL, ANY = "all", "any"
COMBINE = (ALL, ANY)
REAL = "$real"  # a cell's dataset as a role: the sweep's real (not probe, not synthetic) dataset, whatever it is
IDENTITY_KEYS = ("dataset", "backbone")  # run-record fields a cell may be pinned on besides config keys

TOP_KEYS = ("alpha", "power", "history", "sesoi", "failed_run", "cells", "counter_cases", "claims", "robustness")
SESOI_KEYS = ("value", "unit", "reason")
CELL_KEYS = ("pins", "heads", "seeds", "why")
COUNTER_KEYS = ("cells", "about", "why")
FAILED_KEYS = ("metric", "below", "reason")
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
    """When a run counts as failed (its ``metric`` below ``below``): a bimodal endpoint shows its failure rate."""

    metric: str
    below: float
    reason: str


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
    robustness: Any = None  # the robustness section, as written (poolbench.report.claims.robustness reads it)
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


@cache
def config_keys() -> frozenset[str]:
    """Every dotted key a run's config can hold: each config group's files (conf/<group>/*.yaml) under the
    group's name, the top-level config.yaml, and the record's identity fields (dataset, backbone)."""
    import yaml

    keys: set[str] = set(IDENTITY_KEYS)
    for group in ("dataset", "backbone", "head", "trainer"):
        for path in (CONF_DIR / group).glob("*.yaml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            keys |= {f"{group}.{key}" for key in flatten({k: v for k, v in data.items() if k != "defaults"})}
    top = yaml.safe_load((CONF_DIR / "config.yaml").read_text(encoding="utf-8")) or {}
    keys |= set(flatten({k: v for k, v in top.items() if k not in ("defaults", "hydra", "paths")}))
    return frozenset(keys)


@cache
def head_names() -> frozenset[str]:
    return frozenset(path.stem for path in (CONF_DIR / "head").glob("*.yaml"))


@cache
def metric_names() -> frozenset[str]:
    """The runs-frame columns a metric may name that are not keyed: every numeric RunRecord field and the cell
    timings of poolbench-deploy (keyed fields, e.g. shift_acc_4, are matched by ``is_metric``)."""
    from poolbench.record import CELL_TIMING_COLUMNS, RunRecord

    numeric = {
        f.name
        for f in dataclasses.fields(RunRecord)
        if ("float" in str(f.type) or "int" in str(f.type)) and "dict" not in str(f.type)
    }
    return frozenset(numeric | set(CELL_TIMING_COLUMNS.values()))


def keyed_metric_prefixes() -> tuple[str, ...]:
    from poolbench.report.aggregate import KEYED_FIELDS, SHIFT_PREFIX

    return (SHIFT_PREFIX, *(f"{name}_" for name in KEYED_FIELDS))


def is_metric(name: str) -> bool:
    """A runs-frame column a record can fill: a numeric field, a cell timing, or FIELD_N of a keyed field."""
    if name in metric_names():
        return True
    return any(
        name.startswith(prefix) and re.fullmatch(r"\d+", name[len(prefix) :]) for prefix in keyed_metric_prefixes()
    )


class _Reader:
    """Reads one plan file, naming the field (``claims[1].primary[0].sesoi``) of the first wrong value."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: Any, allowed: str, fix: str = "") -> ConfigError:
        fix = fix or f"edit {self.path} (its comments say what each field means) or pass another file with --plan"
        return ConfigError(key, value, allowed, fix, problem=f"Invalid analysis plan {self.path}")

    def known(self, node: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key not in allowed:
                fix = f"remove or rename it in {self.path} (a misspelt field would be ignored otherwise)"
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

    def flag(self, node: Mapping[str, Any], key: str, where: str) -> bool:
        value = node.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", value, "true or false")
        return value

    def metric(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not is_metric(value):
            raise self.fail(
                where,
                value,
                "a runs-frame column a run record fills: a numeric result.json field (test_acc, gap_acc, "
                "params_head, model_bytes, ...), FIELD_N of a keyed field (shift_acc_4, size_acc_32, ...) or a "
                "cell timing (cell_latency_ms, ...)",
                f"correct the name in {self.path} (poolbench/record.py lists the fields)",
            )
        return value

    def head(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in head_names():
            raise self.fail(where, value, "a head of conf/head/: " + ", ".join(sorted(head_names())))
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
            if key not in config_keys():
                raise self.fail(
                    f"{where}.pins.{key}",
                    value,
                    "a config key (dataset, backbone, or a dotted key such as dataset.train_samples, backbone.depth)",
                    f"correct the key in {self.path} (poolbench/conf/ holds every config key)",
                )
            if isinstance(value, Mapping) or (isinstance(value, str) and value.startswith("$") and value != REAL):
                raise self.fail(f"{where}.pins.{key}", value, f"one value (a list is one value: widths), or {REAL}")
        if REAL in pins.values() and pins.get("dataset") != REAL:
            raise self.fail(f"{where}.pins", dict(pins), f"{REAL} only as the dataset: dataset: {REAL}")
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
        if direction == NONINFERIOR and effect in (REDUCTION,):
            raise self.fail(f"{where}.direction", direction, "greater or less for an exact reduction")
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
            converged=self.flag(node, "converged", where),
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
        node = self.mapping(node, "failed_run", "a mapping with metric, below and reason")
        self.known(node, FAILED_KEYS, "failed_run")
        below = float(self.field(node, "below", "failed_run", (int, float)))
        reason = str(self.field(node, "reason", "failed_run", str))
        return FailedRun(self.metric(node.get("metric"), "failed_run.metric"), below, reason)

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
                raise self.fail(
                    f"counter_cases[{i}].about", list(case.about), "ids of claims in this plan: " + ", ".join(known)
                )
        for i, case in enumerate(counter):
            for claim in claims:
                used = [n for spec in claim.primary for n in (*spec.cells, spec.versus) if n in case.cells]
                if used and claim.id not in case.about:
                    raise self.fail(
                        f"counter_cases[{i}].cells",
                        list(case.cells),
                        f"cells no primary of another claim reads "
                        f"(claim {claim.id} reads {used[0]}): a counter-case counts only for the claim it is about",
                    )
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
            data.get("robustness"),
            data,
        )


def read_plan(data: Any, path: Path | str = "(plan)") -> Plan:
    """A plan from its parsed YAML (``load_plan`` reads the file), checked field by field."""
    return _Reader(Path(path)).plan(data)


def load_plan(path: Path | str | None = None) -> Plan:
    """The plan at ``path`` (default: the shipped ``conf/analysis/claims.yaml``), checked field by field."""
    import yaml

    plan_path = Path(path) if path is not None else default_plan_path()
    reader = _Reader(plan_path)
    if not plan_path.is_file():
        raise ConfigError(
            "--plan",
            str(plan_path),
            "an existing YAML file (default: the shipped poolbench/conf/analysis/claims.yaml)",
            f"the file {plan_path} does not exist: check the path, or leave --plan out for the shipped plan",
            problem="Analysis plan not found",
        )
    try:
        data = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise reader.fail("(file)", str(error).splitlines()[0], "valid YAML") from None
    return reader.plan(data)


def respecify(plan: Plan, pins: Mapping[str, Mapping[str, Any]]) -> Plan:
    """The same plan with the named cells pinned elsewhere (``{"fmnist_1k": {"backbone.depth": 2}}``: a key given
    replaces or adds that pin), every endpoint unchanged. ``judge_claims`` on it re-decides every primary endpoint
    in that specification, Holm within it. Its hash stays the plan's (the specification is part of that plan)."""
    data = json.loads(json.dumps(plan.data, default=str))
    for name, changed in pins.items():
        if name not in data.get("cells", {}):
            raise _Reader(plan.path).fail(f"cells.{name}", None, "a declared cell: " + ", ".join(data.get("cells", {})))
        data["cells"][name]["pins"] = {**data["cells"][name]["pins"], **changed}
    return dataclasses.replace(read_plan(data, plan.path), sha256=plan.sha256)
