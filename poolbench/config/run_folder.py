"""Read a run folder's own files, in one place: its resolved ``config.yaml``, the overrides Hydra recorded for it
(``.hydra/overrides.yaml``) and the sweep it came from (``.hydra/hydra.yaml``), plus the dotted-key view of a
config that reports, trackers and the bench all use.

Every reader answers ``None`` for a file that is absent or unreadable: callers are reports and tools that must go
on past one bad folder (the run record itself, ``result.json``, is read by ``poolbench.record.read_result``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poolbench.record import CONFIG_FILE

HYDRA_DIR = ".hydra"
OVERRIDES_FILE = "overrides.yaml"  # the job's own overrides, as the sweeper generated them
HYDRA_FILE = "hydra.yaml"  # the job's Hydra config: its sweeper, the sweeper's params


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's resolved config.yaml as a plain dict; None when absent or unreadable."""
    loaded = _load_yaml(Path(run_dir) / CONFIG_FILE)
    return loaded if isinstance(loaded, dict) else None


def read_overrides(run_dir: Path) -> list[str] | None:
    """The overrides Hydra recorded for this run (``head=gap``, ``seed=0``, ...); None without a Hydra record."""
    loaded = _load_yaml(Path(run_dir) / HYDRA_DIR / OVERRIDES_FILE)
    return [str(item) for item in loaded] if isinstance(loaded, list) else None


def read_hydra(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``.hydra/hydra.yaml`` (its sweeper and the sweeper's params); None without one."""
    loaded = _load_yaml(Path(run_dir) / HYDRA_DIR / HYDRA_FILE)
    return loaded if isinstance(loaded, dict) else None


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"trainer": {"lr": 0.1}}`` -> ``{"trainer.lr": 0.1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def sweeper_target(run_dir: Path) -> str | None:
    """The class of the sweeper that made this run (``hydra.sweeper._target_``); None without a Hydra record."""
    hydra = (read_hydra(run_dir) or {}).get("hydra")
    sweeper = hydra.get("sweeper") if isinstance(hydra, dict) else None
    target = sweeper.get("_target_") if isinstance(sweeper, dict) else None
    return str(target) if target else None
