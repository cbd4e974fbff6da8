"""The experiment presets of the claims grid, listed once (``conf/experiment/claims_presets.txt``).

The Makefile's ``claims`` target, the time-to-verdict bench and the tests all read that file, so a new preset of
the grid is one line there (and its YAML file next to it).
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from poolbench.config import CONF_DIR

CLAIMS_PRESETS_FILE = CONF_DIR / "experiment" / "claims_presets.txt"


def claims_presets(path: Path = CLAIMS_PRESETS_FILE) -> tuple[str, ...]:
    """The presets ``make claims`` runs, in order: one name per line, blank lines and ``#`` comments skipped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)


def sweep_axes(preset: str, conf_dir: Path = CONF_DIR) -> dict[str, list[str]]:
    """The values a preset's own file sweeps each key over (each claims preset lists all of its sweep keys), in
    the override syntax Hydra takes them: comma-separated, a bracketed list one value (``"[32,64,128]"``)."""
    params = OmegaConf.load(conf_dir / "experiment" / f"{preset}.yaml").hydra.sweeper.params
    return {str(key): [v.strip() for v in re.split(r",(?![^\[]*\])", str(value))] for key, value in params.items()}
