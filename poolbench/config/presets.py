"""The experiment presets of the claims grid, listed once (``conf/experiment/claims_presets.txt``).

The Makefile's ``claims`` target, the time-to-verdict bench and the tests all read that file, so a new preset of
the grid is one line there (and its YAML file next to it).
"""

from __future__ import annotations

from pathlib import Path

from poolbench.config import CONF_DIR

CLAIMS_PRESETS_FILE = CONF_DIR / "experiment" / "claims_presets.txt"


def claims_presets(path: Path = CLAIMS_PRESETS_FILE) -> tuple[str, ...]:
    """The presets ``make claims`` runs, in order: one name per line, blank lines and ``#`` comments skipped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)
