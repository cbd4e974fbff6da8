"""User-facing errors: one short paragraph naming what is wrong, the key or file, what is allowed, the fix.

Wherever one is raised, it leaves the program as ``Abort(error)`` (``abort``), and ``poolbench.cli.main`` prints
``str(error)`` without a traceback and exits with the error's code, in one place: 2 for usage errors, 1 for
environment problems and failed runs, 128 + signal for an interrupted run. ``POOLBENCH_TRACEBACK=1`` or
``hydra.verbose=true`` prints the traceback too.
"""

from __future__ import annotations

import os
import traceback
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


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message as one line for a message of ours: all its lines joined (torchvision's download
    error is "Error downloading X:" with the reasons on the lines below), cut at ``limit`` characters; its
    type's name when it has no message."""
    text = " ".join(str(error).split())
    if not text:
        return type(error).__name__
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tracebacks_requested(hydra_verbose: Any = False) -> bool:
    """``POOLBENCH_TRACEBACK=1`` (or ``hydra.verbose=true``) asks for the Python traceback of an error."""
    return os.environ.get("POOLBENCH_TRACEBACK", "") not in ("", "0") or bool(hydra_verbose)


def abort(error: PoolbenchError, show_traceback: bool = False) -> NoReturn:
    """Leave the program with ``error`` (see ``Abort``); its traceback first, if asked for."""
    if show_traceback or tracebacks_requested():
        traceback.print_exception(error)
    raise Abort(error) from error


class Abort(SystemExit):
    """Leave the program with ``error``'s exit code; ``poolbench.cli.main`` prints it, in one place.

    A ``SystemExit`` because it must pass through Hydra, which turns any ``Exception`` raised in a task function
    or a callback into its own report (or a mere warning)."""

    def __init__(self, error: PoolbenchError) -> None:
        super().__init__(error.exit_code)
        self.error = error


class RunFailed(PoolbenchError):
    """A run (or a sweep's runs) ended failed or diverged; the record says why."""

    exit_code = 1


class Interrupted(PoolbenchError):
    """SIGTERM or SIGINT stopped a run; its last epoch-end checkpoint is on disk. Exit code 128 + signal."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class UnexpectedError(PoolbenchError):
    """A failure poolbench has no message for (a bug, or a user's component that raised): traceback shown."""

    exit_code = 1
