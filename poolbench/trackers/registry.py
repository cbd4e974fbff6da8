"""Which trackers a config turns on, the optional extra each one needs, and ``start_trackers``."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolbench.config.settings import LoggerSettings, Settings
from poolbench.errors import PoolbenchError
from poolbench.trackers.base import Tracker, TrackerSet


@dataclass(frozen=True)
class TrackerKind:
    package: str  # the module that must be importable
    extra: str  # pip install 'poolbench[EXTRA]'
    module: str  # poolbench's tracker module
    cls: str


TRACKERS = {
    "tensorboard": TrackerKind("tensorboard", "tensorboard", "poolbench.trackers.tensorboard_tracker", "TensorBoard"),
    "mlflow": TrackerKind("mlflow", "mlflow", "poolbench.trackers.mlflow_tracker", "MLflow"),
    "wandb": TrackerKind("wandb", "wandb", "poolbench.trackers.wandb_tracker", "WandB"),
}


class MissingExtra(PoolbenchError):
    """A tracker whose package is not installed (an environment problem: exit 1)."""

    exit_code = 1


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (without importing it: the trackers' packages are slow to import)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken install, or a module entry set to None
        return False


def enabled_trackers(logger: LoggerSettings) -> list[str]:
    return [name for name in TRACKERS if getattr(logger, name) is not None]


def check_trackers_installed(logger: LoggerSettings) -> None:
    """Raise ``MissingExtra`` naming the extra of the first tracker whose package cannot be imported."""
    for name in enabled_trackers(logger):
        kind = TRACKERS[name]
        if not installed(kind.package):
            raise MissingExtra(
                f"logger={name} needs the {kind.package} package, which is not installed. Fix: "
                f"pip install 'poolbench[{kind.extra}]' (or drop {name} from logger=...)."
            )


def build_tracker(name: str, settings: Settings) -> Tracker:
    kind = TRACKERS[name]
    cls = getattr(importlib.import_module(kind.module), kind.cls)
    tracker: Tracker = cls(getattr(settings.logger, name), settings)
    return tracker


def start_trackers(settings: Settings, run_dir: Path, resolved: Mapping[str, Any] | None = None) -> TrackerSet:
    """The run's trackers, started (one that fails to start is reported and dropped; see ``TrackerSet``)."""
    trackers = TrackerSet(build_tracker(name, settings) for name in enabled_trackers(settings.logger))
    trackers.start(run_dir, settings.resolved if resolved is None else resolved)
    return trackers
