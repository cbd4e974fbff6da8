"""User-facing errors: one short paragraph naming what is wrong, the key or file, what is allowed, the fix.

The CLI catches ``PoolbenchError`` and prints ``str(error)`` without a traceback (exit code 2 for usage errors,
1 for environment problems); ``POOLBENCH_TRACEBACK=1`` or ``hydra.verbose=true`` shows the traceback too.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn


class PoolbenchError(Exception):
    """Base class for errors whose message is meant for the user as it is."""

    exit_code = 1


class ConfigError(PoolbenchError, ValueError):
    """A config value that is not allowed: names the key, the value, what is allowed and how to fix it."""

    exit_code = 2

    def __init__(self, key: str, value: Any, allowed: str, fix: str, problem: str = "Invalid config") -> None:
        self.key, self.value, self.allowed, self.fix = key, value, allowed, fix
        end = "" if fix.endswith((".", "?", "!")) else "."
        super().__init__(f"{problem}: {key}={value!r}. Allowed: {allowed}. Fix: {fix}{end}")


class DataError(PoolbenchError):
    """A dataset that cannot be found or read; the message lists the remedies."""

    exit_code = 1


class RecordError(PoolbenchError):
    """A run record or checkpoint that is unreadable, corrupt or of an unknown schema."""

    exit_code = 1


class OutputPathError(PoolbenchError):
    """A results/output/data directory that is not a directory or cannot be written."""

    exit_code = 1


def tracebacks_requested(hydra_verbose: Any = False) -> bool:
    """``POOLBENCH_TRACEBACK=1`` (or ``hydra.verbose=true``) asks for the Python traceback of an error."""
    return os.environ.get("POOLBENCH_TRACEBACK", "") not in ("", "0") or bool(hydra_verbose)


def exit_with(error: PoolbenchError) -> NoReturn:
    """Print the one-paragraph message (no traceback) and exit with the error's code."""
    print(f"poolbench: {error}", file=sys.stderr)
    sys.exit(error.exit_code)
