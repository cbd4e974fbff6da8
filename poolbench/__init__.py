"""poolbench: a command-line benchmark for comparing CNN pooling heads."""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("poolbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
