"""Keys that no longer exist, and what replaced them: one line naming the new key, from a YAML or the command
line (where Hydra would say only "not in struct")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from poolbench.errors import ConfigError

REPLACED_KEYS = {"trainer.amp": "trainer.precision=auto|fp32|bf16 (amp=true was bf16, amp=false fp32)"}


def check_replaced_keys(values: Mapping[str, Any]) -> None:
    """One line for a key of ``REPLACED_KEYS`` in ``values`` (dotted key -> value)."""
    for key, value in values.items():
        if key in REPLACED_KEYS:
            new_key = REPLACED_KEYS[key].partition("=")[0]
            allowed = f"no such key any more (replaced by {new_key})"
            raise ConfigError(key, value, allowed, f"set {REPLACED_KEYS[key]}", problem="Replaced config key")


def check_replaced_overrides(arguments: Iterable[str]) -> None:
    """The command line's ``trainer.amp=true`` (or ``+trainer.amp=...``) gets the same line as a config would
    (before Hydra says only "not in struct")."""
    check_replaced_keys(dict(arg.lstrip("+~").partition("=")[::2] for arg in arguments if "=" in arg))
