"""User-facing errors: one short paragraph naming what is wrong, the key or file, what is allowed, the fix.

The CLI catches ``PoolbenchError`` and prints ``str(error)`` without a traceback (exit code 2 for usage errors,
1 for environment problems); ``POOLBENCH_TRACEBACK=1`` or ``hydra.verbose=true`` shows the traceback too.
"""

from __future__ import annotations

from typing import Any


class PoolbenchError(Exception):
    """Base class for errors whose message is meant for the user as it is."""

    exit_code = 1


class ConfigError(PoolbenchError, ValueError):
    """A config value that is not allowed: names the key, the value, what is allowed and how to fix it."""

    exit_code = 2

    def __init__(self, key: str, value: Any, allowed: str, fix: str) -> None:
        self.key, self.value, self.allowed, self.fix = key, value, allowed, fix
        super().__init__(f"Invalid config: {key}={value!r}. Allowed: {allowed}. Fix: {fix}.")


class DataError(PoolbenchError):
    """A dataset that cannot be found or read; the message lists the remedies."""

    exit_code = 1


class RecordError(PoolbenchError):
    """A run record or checkpoint that is unreadable, corrupt or of an unknown schema."""

    exit_code = 1
