"""From the typed settings to what uses them: the rules table (one rule per typed field, in declaration order,
plus the rules of poolbench's own components) and ``settings_from``, which builds ``Settings`` from a validated,
resolved config (lists become tuples, nested mappings become settings, a single mean/std serves every channel).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import MISSING
from typing import Any

from poolbench.config.checks import (
    Rule,
)
from poolbench.config.settings import COMPONENT_RULES, Settings
from poolbench.record import compute_run_key


def _nested_type(hint: Any) -> type | None:
    """The settings dataclass a field holds (``DatasetSettings`` for ``dataset``), if any."""
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _optional_block(hint: Any) -> type | None:
    """The settings dataclass of a block that may be absent (``TensorBoardSettings | None``), if any."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return _nested_type(options[0]) if len(options) == 1 else None


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def rules_of(cls: type, prefix: str = "", block: str | None = None) -> Iterator[Rule]:
    """The rules table derived from a settings dataclass and its nested settings, in declaration order.

    A block that may be absent (a tracker's settings) gives rules that apply only where the block is present."""
    hints = _hints(cls)
    for item in dataclasses.fields(cls):
        key = f"{prefix}{item.name}"
        nested, optional_block = _nested_type(hints[item.name]), _optional_block(hints[item.name])
        if nested is not None:
            yield from rules_of(nested, f"{key}.", block)
        elif optional_block is not None:
            yield from rules_of(optional_block, f"{key}.", key)
        elif "check" in item.metadata:
            required = item.default is MISSING and item.default_factory is MISSING
            check, example, optional = item.metadata["check"], item.metadata["example"], item.metadata["optional"]
            yield Rule(key, check, example, optional, required, block=block)


RULES: tuple[Rule, ...] = (*rules_of(Settings), *COMPONENT_RULES)


RULES_BY_KEY = {rule.key: rule for rule in RULES}


def _convert(value: Any, hint: Any) -> Any:
    """Plain validated data -> the field's type: lists become tuples, nested mappings become settings."""
    nested = _nested_type(hint)
    if nested is not None:
        return build(nested, value)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return value if value is None or len(options) != 1 else _convert(value, options[0])
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build(cls: type, data: Mapping[str, Any]) -> Any:
    """An instance of settings class ``cls`` from validated plain data (unknown keys were rejected before)."""
    hints = _hints(cls)
    names = {item.name for item in dataclasses.fields(cls) if item.init}
    values = {name: _convert(value, hints[name]) for name, value in data.items() if name in names}
    return cls(**values)


def settings_from(resolved: Mapping[str, Any]) -> Settings:
    """``Settings`` from a validated, resolved config (see ``poolbench.config.validate.validate``)."""
    data = dict(resolved)
    dataset = dict(data["dataset"])
    channels = int(dataset["channels"])
    for key in ("mean", "std"):  # one value for every channel
        if dataset[key] is not None and len(dataset[key]) == 1 and channels > 1:
            dataset[key] = list(dataset[key]) * channels
    data["dataset"] = dataset
    data["backbone"], data["head"] = dict(data["backbone"]), dict(data["head"])
    return dataclasses.replace(build(Settings, data), resolved=resolved, run_key=compute_run_key(resolved))
