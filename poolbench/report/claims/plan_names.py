"""The names an analysis plan may use, read from what exists: config keys (poolbench/conf/), heads
(conf/head/) and the runs-frame columns a run record can fill (RunRecord's numeric fields, keyed fields as
FIELD_N, poolbench-deploy's cell timings). ``poolbench.report.claims.plan_reader`` checks a plan against them."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable
from functools import cache

from poolbench.config import CONF_DIR
from poolbench.config.settings import DatasetSettings
from poolbench.report.variants import flatten

IDENTITY_KEYS = ("dataset", "backbone")  # run-record fields a cell may be pinned on besides config keys
CONFIG_KEY_HELP = "a config key (dataset, backbone, or a dotted key such as dataset.train_samples, backbone.depth)"
METRIC_HELP = (
    "a runs-frame column a run record fills: a numeric result.json field (test_acc, overfit_acc, params_head, "
    "model_bytes, ...), FIELD_N of a keyed field (shift_acc_4, size_acc_32, ...) or a cell timing (cell_latency_ms)"
)


@cache
def config_values() -> dict[str, frozenset[str]]:
    """Every dotted key a run's config can hold (each config group's files, conf/<group>/*.yaml, under the
    group's name, and the top-level config.yaml) with the kinds of value the shipped files give it (int, float,
    bool, str, list; null says nothing); the record's identity fields take a config file's name."""
    import yaml

    kinds: dict[str, set[str]] = {key: {"name"} for key in IDENTITY_KEYS}

    def add(flat: dict[str, object], prefix: str = "") -> None:
        for key, value in flat.items():
            kinds.setdefault(f"{prefix}{key}", set()).update([] if value is None else [type(value).__name__])

    for group in ("dataset", "backbone", "head", "trainer"):
        for path in (CONF_DIR / group).glob("*.yaml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            add(flatten({k: v for k, v in data.items() if k != "defaults"}), f"{group}.")
    for declared in dataclasses.fields(DatasetSettings):  # keys the shipped YAMLs leave unset (dataset.label_noise)
        kinds.setdefault(f"dataset.{declared.name}", set())
    top = yaml.safe_load((CONF_DIR / "config.yaml").read_text(encoding="utf-8")) or {}
    add(flatten({k: v for k, v in top.items() if k not in ("defaults", "hydra", "paths")}))
    return {key: frozenset(value) for key, value in kinds.items()}


def config_keys() -> frozenset[str]:
    return frozenset(config_values())


def pin_problem(key: str, value: object) -> str:
    """What a pin's value may be, where this one may not ("" when it may): a dataset or backbone by its config
    file's name (a dataset also as $real), any other key a value of the kind the shipped configs give it."""
    if key in IDENTITY_KEYS:
        known = {path.stem for path in (CONF_DIR / key).glob("*.yaml")} | ({"$real"} if key == "dataset" else set())
        return "" if value in known else f"a {key} of conf/{key}/" + (" or $real" if key == "dataset" else "")
    kinds = config_values()[key]
    kind = type(value).__name__
    if value is None or not kinds or kind in kinds or (kind == "int" and "float" in kinds):
        return ""
    return "one value of the kind its config has (" + " or ".join(sorted(kinds)) + "; a list is one value: widths)"


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
    """FIELD_ of every declared {key: value} record field (shift_acc_, size_acc_, ...; not pool_params)."""
    from poolbench.record import record_fields
    from poolbench.report.aggregate import POOL_PARAMS

    return tuple(f"{name}_" for name, declared in record_fields().items() if declared.keyed and name != POOL_PARAMS)


def is_metric(name: str) -> bool:
    """A runs-frame column a record can fill: a numeric field, a cell timing, or FIELD_N of a keyed field."""
    if name in metric_names():
        return True
    return any(
        name.startswith(prefix) and re.fullmatch(r"\d+", name[len(prefix) :]) for prefix in keyed_metric_prefixes()
    )


def closest(name: object, options: Iterable[str]) -> str:
    """ " (did you mean X?)" for the option nearest a misspelt name, or "" when none is near."""
    near = difflib.get_close_matches(str(name), sorted(options), n=1, cutoff=0.6)
    return f" (did you mean {near[0]}?)" if near else ""
