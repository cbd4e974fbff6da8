"""The analysis plan of the claims verdict as data (``poolbench/conf/analysis/claims.yaml``, or ``--plan FILE``):
for each claim its primary endpoints (cells, comparison, metric, direction, SESOI), its secondary rows and the
counter-case cells; the file's own comments say what each word means. ``load_plan`` checks every field and
names the one that is wrong; ``Plan.sha256`` is the hash claims.md prints (sha256 of the parsed plan as
canonical JSON, so comments and key order do not change it)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolbench.config import CONF_DIR
from poolbench.errors import ConfigError
from poolbench.report.decide import DIRECTIONS, NONINFERIOR
from poolbench.report.variants import value_text

PLAN_FILE = Path("analysis") / "claims.yaml"
DIFFERENCE, RELATIVE, REDUCTION, INTERACTION, VALUE = "difference", "relative", "reduction", "interaction", "value"
EFFECTS = (DIFFERENCE, RELATIVE, REDUCTION, INTERACTION, VALUE)
PERCENT_EFFECTS = (RELATIVE, REDUCTION)  # relative effects: their unit is %
UNITS = ("pp", "%", "")
DEFAULT_MATCH = ("backbone", "trainer")  # an interaction compares cells of one backbone and training
Selector = Mapping[str, tuple[str, ...]]  # config key -> the value texts a cell may have


@dataclass(frozen=True)
class Sesoi:
    name: str
    value: float
    unit: str
    reason: str


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    cells: Selector
    heads: tuple[str, ...]
    against: str | None
    metric: str
    minus: str | None
    effect: str
    direction: str
    sesoi: Sesoi
    versus: Selector | None = None
    match: tuple[str, ...] = DEFAULT_MATCH
    converged: bool = False
    by_construction: str = ""

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


@dataclass(frozen=True)
class CounterCase:
    cells: Selector
    about: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Plan:
    path: Path
    sha256: str
    alpha: float
    power: float
    sesois: tuple[Sesoi, ...]
    counter_cases: tuple[CounterCase, ...]
    claims: tuple[ClaimSpec, ...]
    robustness: Any = None  # the robustness section as written: poolbench.report.claims.robustness reads it

    def selector_keys(self) -> list[str]:
        """Every config key a selector names (the report groups by them, so every cell has their value)."""
        keys: list[str] = []
        selectors = [c.cells for c in self.counter_cases]
        for claim in self.claims:
            for spec in (*claim.primary, *claim.secondary):
                selectors += [spec.cells, *([spec.versus] if spec.versus else [])]
        for selector in selectors:
            keys += [key for key in selector if key not in keys and key not in ("dataset", "backbone")]
        return keys


def default_plan_path() -> Path:
    return CONF_DIR / PLAN_FILE


def canonical_hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Reader:
    """Reads one plan file, naming the field (``claims[1].primary[0].sesoi``) of the first wrong value."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        fix = f"edit {self.path} (its comments say what each field means) or pass another file with --plan"
        return ConfigError(key, value, allowed, fix, problem=f"Invalid analysis plan {self.path}")

    def field(self, node: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        value = node.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.fail(f"{where}.{key}" if where else key, value, f"a {names}")
        return value

    def selector(self, node: Any, where: str) -> Selector:
        if not isinstance(node, Mapping):
            raise self.fail(where, node, "a mapping of config key to value(s), e.g. {dataset: fashion_mnist}")
        return {
            str(k): tuple(value_text(v) for v in (values if isinstance(values, list) else [values]))
            for k, values in node.items()
        }

    def sesoi(self, name: str, node: Any) -> Sesoi:
        where = f"sesoi.{name}"
        if not isinstance(node, Mapping):
            raise self.fail(where, node, "a mapping with value, unit and reason")
        value = float(self.field(node, "value", where, (int, float)))
        if not (math.isfinite(value) and value > 0):
            raise self.fail(f"{where}.value", value, "a number > 0 in the effect's unit (0.01 = 1 pp)")
        unit = node.get("unit")
        if unit not in UNITS:
            raise self.fail(f"{where}.unit", unit, ", ".join(repr(u) for u in UNITS))
        return Sesoi(name, value, unit, str(self.field(node, "reason", where, str)))

    def endpoint(self, node: Any, where: str, sesois: Mapping[str, Sesoi], primary: bool) -> EndpointSpec:
        if not isinstance(node, Mapping):
            raise self.fail(where, node, "a mapping (name, cells, head, metric, effect, direction, sesoi)")
        effect = node.get("effect")
        if effect not in EFFECTS:
            raise self.fail(f"{where}.effect", effect, ", ".join(EFFECTS))
        direction = node.get("direction")
        if direction not in DIRECTIONS:
            raise self.fail(f"{where}.direction", direction, ", ".join(DIRECTIONS))
        heads = node.get("head")
        heads = tuple(str(h) for h in (heads if isinstance(heads, list) else [heads])) if heads else ()
        if not heads or (primary and len(heads) != 1):
            raise self.fail(f"{where}.head", node.get("head"), "one head name (secondary rows: a list of them)")
        against = node.get("against")
        if (effect == VALUE) != (against is None):
            raise self.fail(f"{where}.against", against, "a head name, and none with effect: value")
        if (effect == INTERACTION) != (node.get("versus") is not None):
            raise self.fail(f"{where}.versus", node.get("versus"), "a cell selector exactly when effect: interaction")
        if direction == NONINFERIOR and effect in (REDUCTION,):
            raise self.fail(f"{where}.direction", direction, "greater or less for an exact reduction")
        sesoi = sesois.get(str(node.get("sesoi")))
        if sesoi is None:
            raise self.fail(f"{where}.sesoi", node.get("sesoi"), "one of the names under sesoi: " + ", ".join(sesois))
        versus = self.selector(node["versus"], f"{where}.versus") if node.get("versus") is not None else None
        spec = EndpointSpec(
            name=str(self.field(node, "name", where, str)),
            cells=self.selector(node.get("cells", {}), f"{where}.cells"),
            heads=heads,
            against=str(against) if against is not None else None,
            metric=str(self.field(node, "metric", where, str)),
            minus=str(node["minus"]) if node.get("minus") else None,
            effect=str(effect),
            direction=str(direction),
            sesoi=sesoi,
            versus=versus,
            match=tuple(str(m) for m in node.get("match", DEFAULT_MATCH)),
            converged=bool(node.get("converged", False)),
            by_construction=str(node.get("by_construction", "") or ""),
        )
        if spec.unit != sesoi.unit:
            raise self.fail(f"{where}.sesoi", sesoi.name, f"a SESOI in this endpoint's unit ({spec.unit!r})")
        if primary and spec.by_construction:
            raise self.fail(f"{where}.by_construction", spec.by_construction, "only on secondary rows")
        return spec

    def plan(self, data: Any) -> Plan:
        if not isinstance(data, Mapping):
            raise self.fail("(top level)", type(data).__name__, "a mapping with sesoi, counter_cases and claims")
        raw_sesois = self.field(data, "sesoi", "", Mapping)
        sesois = {str(name): self.sesoi(str(name), node) for name, node in raw_sesois.items()}
        counter = []
        for i, node in enumerate(data.get("counter_cases") or []):
            where = f"counter_cases[{i}]"
            about = tuple(str(a) for a in self.field(node, "about", where, list))
            counter.append(
                CounterCase(self.selector(node.get("cells"), f"{where}.cells"), about, str(node.get("why", "")))
            )
        claims = []
        for i, node in enumerate(self.field(data, "claims", "", list)):
            where = f"claims[{i}]"
            primary = [
                self.endpoint(e, f"{where}.primary[{j}]", sesois, True) for j, e in enumerate(node.get("primary") or [])
            ]
            if not primary:
                raise self.fail(f"{where}.primary", node.get("primary"), "at least one primary endpoint")
            secondary = [
                self.endpoint(e, f"{where}.secondary[{j}]", sesois, False)
                for j, e in enumerate(node.get("secondary") or [])
            ]
            claims.append(
                ClaimSpec(
                    str(node.get("id")), " ".join(str(node.get("words", "")).split()), tuple(primary), tuple(secondary)
                )
            )
        alpha, power = float(data.get("alpha", 0.05)), float(data.get("power", 0.8))
        for key, value in (("alpha", alpha), ("power", power)):
            if not 0 < value < 1:
                raise self.fail(key, value, "a probability between 0 and 1")
        known = [c.id for c in claims]
        for i, case in enumerate(counter):
            if not set(case.about) <= set(known):
                raise self.fail(
                    f"counter_cases[{i}].about", list(case.about), "ids of claims in this plan: " + ", ".join(known)
                )
        return Plan(
            self.path,
            canonical_hash(data),
            alpha,
            power,
            tuple(sesois.values()),
            tuple(counter),
            tuple(claims),
            robustness=data.get("robustness"),
        )


def load_plan(path: Path | str | None = None) -> Plan:
    """The plan at ``path`` (default: the shipped ``conf/analysis/claims.yaml``), checked field by field."""
    import yaml

    plan_path = Path(path) if path is not None else default_plan_path()
    reader = _Reader(plan_path)
    try:
        data = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise reader.fail(
            "--plan", str(plan_path), "an existing YAML file (default: conf/analysis/claims.yaml)"
        ) from None
    except yaml.YAMLError as error:
        raise reader.fail("(file)", str(error).splitlines()[0], "valid YAML") from None
    return reader.plan(data)
