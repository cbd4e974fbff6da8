"""Hydra plugins behind poolbench's presets, and the extra that installs each.

Without the plugin, Hydra answers ``launcher=joblib`` with "Could not find 'hydra/launcher/joblib'" (and a
sweeper preset with the same about ``hydra/sweeper/optuna``), which does not say what to install. The CLI
checks the command line before Hydra starts: each ``group=option`` it selects (``hydra/launcher=joblib``,
``hydra/sweeper=tune``, ``launcher=joblib``, ``experiment=tuned``; poolbench's own configs are followed through
their ``defaults`` lists to the Hydra options they select) must have its plugin importable, or the run stops
with one line that names the extra: ``pip install 'poolbench[launchers]'`` or ``'poolbench[tune]'``.

A launcher preset given to a single run (no ``-m``) launches nothing: ``keep_threads_without_sweep`` says so
once and keeps the run's threads.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from poolbench.errors import PoolbenchError, abort


@dataclass(frozen=True)
class Plugin:
    name: str  # the PyPI distribution
    module: str  # what it installs under the hydra_plugins namespace
    extra: str  # poolbench's extra that installs it


JOBLIB = Plugin("hydra-joblib-launcher", "hydra_plugins.hydra_joblib_launcher", "launchers")
SUBMITIT = Plugin("hydra-submitit-launcher", "hydra_plugins.hydra_submitit_launcher", "launchers")
OPTUNA = Plugin("hydra-optuna-sweeper", "hydra_plugins.hydra_optuna_sweeper", "tune")

# (Hydra group, option) -> the plugin that provides it; ``tune`` is poolbench's own preset over ``optuna``.
PLUGIN_OPTIONS = {
    ("hydra/launcher", "joblib"): JOBLIB,
    ("hydra/launcher", "submitit_local"): SUBMITIT,
    ("hydra/launcher", "submitit_slurm"): SUBMITIT,
    ("hydra/launcher", "poolbench_local"): SUBMITIT,  # poolbench's launchers subclass hydra-submitit-launcher's
    ("hydra/launcher", "poolbench_slurm"): SUBMITIT,
    ("hydra/sweeper", "optuna"): OPTUNA,
    ("hydra/sweeper", "tune"): OPTUNA,
}
SELECTION = re.compile(r"^[+~]{0,2}(?P<group>[\w/]+)=(?P<options>[\w,]+)$")
OVERRIDE_ENTRY = re.compile(r"^override\s+/?(?P<group>[\w/]+)$")


class MissingPlugin(PoolbenchError):
    """A preset needs a Hydra plugin that is not installed; names the extra that installs it."""

    exit_code = 2


def selections(arguments: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(group, option) for every group option the command line selects (``a=x,y`` selects both)."""
    for argument in arguments:
        found = SELECTION.match(argument)
        if found is not None and "." not in found["group"]:
            for option in found["options"].split(","):
                yield found["group"], option


def preset_selections(
    conf_dir: Path, group: str, option: str, seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, str]]:
    """What a config of poolbench's own (``conf/GROUP/OPTION.yaml``) selects in turn, through its defaults list:
    ``override /hydra/launcher: x`` entries, and plain entries of its own group (``- tune`` extends a preset)."""
    path = conf_dir / group / f"{option}.yaml"
    if str(path) in seen:
        return
    try:
        defaults = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("defaults") or []
    except (OSError, yaml.YAMLError, AttributeError):
        return  # not poolbench's (a plugin's option), or broken: Hydra reports that itself
    for entry in defaults:
        chosen: list[tuple[str, str]] = []
        if isinstance(entry, str) and entry != "_self_" and "/" not in entry:
            chosen.append((group, entry))
        elif isinstance(entry, dict):
            for key, value in entry.items():
                found = OVERRIDE_ENTRY.match(str(key))
                if found is not None and isinstance(value, str):
                    chosen.append((found["group"], value))
        for selected in chosen:
            yield selected
            yield from preset_selections(conf_dir, *selected, seen=seen | {str(path)})


def required_plugins(arguments: Iterable[str], conf_dir: Path) -> list[tuple[str, Plugin]]:
    """(what selected it, plugin) for every plugin the command line needs."""
    needed: list[tuple[str, Plugin]] = []
    for group, option in selections(arguments):
        for selected in [(group, option), *preset_selections(conf_dir, group, option)]:
            plugin = PLUGIN_OPTIONS.get(selected)
            if plugin is not None and (f"{group}={option}", plugin) not in needed:
                needed.append((f"{group}={option}", plugin))
    return needed


def check_plugins(arguments: Iterable[str], conf_dir: Path) -> None:
    """Leave with ``MissingPlugin`` (exit 2) for the first plugin the command line needs that is not installed."""
    for selected, plugin in required_plugins(arguments, conf_dir):
        if find_spec(plugin.module.split(".")[0]) is None or find_spec(plugin.module) is None:
            abort(
                MissingPlugin(
                    f"{selected} needs the Hydra plugin {plugin.name}, which is not installed. "
                    f"Fix: pip install 'poolbench[{plugin.extra}]' (or pip install {plugin.name})."
                )
            )


def keep_threads_without_sweep(config: DictConfig) -> None:
    """``launcher=joblib`` (or submitit_*) without ``-m``: no launcher runs, but the preset's ``jobs`` would split
    the cores of this single run. Say so once, and keep the run's threads (``jobs=1``) unless ``jobs`` was set
    on the command line. Hydra runs the job with this very config object, so the change reaches the run."""
    launcher = OmegaConf.select(config, "hydra.runtime.choices.launcher", default=None)
    if launcher in (None, "null") or OmegaConf.select(config, "jobs", default=1) == 1:
        return
    overrides = [str(o) for o in OmegaConf.to_container(config.hydra.overrides.task, resolve=False) or []]
    if any(o.lstrip("+~").split("=", 1)[0] == "jobs" for o in overrides):
        return
    print(
        f"poolbench: launcher={launcher} only launches -m sweeps; this single run ignores it and keeps all its "
        f"threads (jobs=1, not the preset's jobs={config.jobs}). Add -m to sweep.",
        file=sys.stderr,
    )
    with read_write(config), open_dict(config):
        config.jobs = 1
