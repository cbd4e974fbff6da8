"""Which config keys tell the runs of a report apart (automatic grouping).

Every run dir holds its resolved ``config.yaml``. A report must not average runs that computed different things,
so besides dataset, backbone and head it groups by every config key whose value differs between runs of the same
(dataset, backbone, head): a sweep over ``trainer.lr`` gets one row per learning rate. Keys that do not change
the computation (``poolbench.record.NON_SEMANTIC_KEYS``: paths, data_dir, hydra, name, jobs, trainer.threads,
...) are never grouping keys, nor are the keys that only choose a trained model's extra tests
(``poolbench.record.TEST_ONLY_KEYS``), nor the seed (seeds are averaged over).
A key that differs only between heads (``head.p`` of GeM) or datasets is already told apart by those columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from poolbench.config.run_folder import flatten
from poolbench.record import TEST_ONLY_KEYS, is_semantic

IDENTITY = ("dataset", "backbone", "head")
NOT_GROUPING = ("seed",)  # averaged over, never a row of its own
ABSENT = "—"


def semantic_flat_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dotted keys of a config that change what is trained (the run key's view of it), minus the seed and
    the keys that only choose a trained model's extra tests (``TEST_ONLY_KEYS``)."""
    if config is None:
        return {}
    flat = flatten({k: v for k, v in config.items() if k not in NOT_GROUPING})
    return {key: value for key, value in flat.items() if is_semantic(key) and key not in TEST_ONLY_KEYS}


def value_text(value: Any) -> str:
    """A config value as the one string that groups and displays it (lists as JSON, None as ABSENT)."""
    if value is None:
        return ABSENT
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def varying_keys(runs: Iterable[tuple[Sequence[object], Mapping[str, Any] | None]]) -> list[str]:
    """Config keys whose value differs between runs of one identity (dataset, backbone, head).

    ``runs`` yields (identity, semantic flat config or None). Runs without a config.yaml tell nothing and are
    left out of the comparison; a key missing from one config but present in another of the same identity
    counts as differing (a config written by another poolbench version). Keys come in config order.
    """
    seen: dict[tuple[object, ...], dict[str, set[str]]] = {}
    order: dict[str, None] = {}
    configs = [(tuple(identity), config) for identity, config in runs if config is not None]
    all_keys = {key for _, config in configs for key in config}
    for identity, config in configs:
        for key in config:
            order.setdefault(key, None)
        values = seen.setdefault(identity, {})
        for key in all_keys:
            values.setdefault(key, set()).add(value_text(config.get(key)))
    varying = {key for values in seen.values() for key, texts in values.items() if len(texts) > 1}
    return [key for key in order if key in varying]
