"""Checks that need a component's code: head and backbone keys must be arguments of their ``_target_`` class.

Heads and backbones are open: a user's own class brings its own arguments, so its keys are checked against its
constructor's signature rather than a fixed table.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from poolbench.config.settings import COMPONENT_META_KEYS, COMPONENT_PROVIDED
from poolbench.config.validate import did_you_mean, show_value
from poolbench.errors import ConfigError


def validate_components(data: Mapping[str, Any]) -> None:
    """Head and backbone keys must be arguments of their ``_target_`` class (imports it; it may import torch)."""
    from hydra.utils import get_class

    for group in ("backbone", "head"):
        component = data[group]
        target = component["_target_"]
        try:
            cls = get_class(target)
        except Exception as error:
            reason = str(error).splitlines()[0]
            fix = f"check the spelling, or pick a shipped {group} with {group}=NAME ({reason})"
            raise ConfigError(f"{group}._target_", target, "the import path of an existing class", fix) from None
        check_constructor_arguments(group, cls, component)


def constructor_arguments(cls: type) -> list[str] | None:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the base classes; None if open-ended."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters
        plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names += [name for name, p in parameters.items() if name != "self" and p.kind in plain]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return list(dict.fromkeys(names))
        if klass.__module__.startswith("torch."):
            break
    return None


def check_constructor_arguments(group: str, cls: type, component: Mapping[str, Any]) -> None:
    accepted_all = constructor_arguments(cls)
    if accepted_all is None:
        return
    provided = COMPONENT_PROVIDED[group]
    accepted = [name for name in accepted_all if name not in provided]
    for key, value in component.items():
        if key in COMPONENT_META_KEYS or key in accepted:
            continue
        if key in provided:
            raise ConfigError(
                f"{group}.{key}",
                value,
                f"not set by hand: poolbench passes {key} to {cls.__name__}",
                f"remove {group}.{key}",
            )
        suggestion = did_you_mean(key, accepted)
        raise ConfigError(
            f"{group}.{key}",
            value,
            f"the arguments of {cls.__name__}: {', '.join(accepted) or 'none'}",
            f"did you mean {group}.{suggestion}={show_value(value)}?" if suggestion else f"remove {group}.{key}",
            problem="Unknown config key",
        )
