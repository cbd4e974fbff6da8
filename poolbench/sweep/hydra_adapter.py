"""Everything poolbench needs from Hydra beyond its public decorators, behind one small surface.

Tested against the supported Hydra version (``tests/test_hydra_adapter.py``, pinned by pyproject's
``hydra-core>=1.3,<1.4``); when Hydra changes, this file is the one to mend. Two uses reach into
``hydra._internal`` or Hydra's singletons:

- ``sweep_job_configs``: composes every job of a basic-sweeper sweep exactly as the sweeper and launcher will,
  so the preflight can check the last job before the first one runs;
- ``select_with_hydra``: resolves a ``hydra.*`` value (``${hydra:...}``, ``${now:...}``) before Hydra has set
  its runtime config, by setting ``HydraConfig`` for the duration of the call.
"""

from __future__ import annotations

from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def select_with_hydra(config: DictConfig, key: str) -> str:
    """Resolve a ``hydra.*`` value with ``HydraConfig`` set to ``config`` (restored afterwards)."""
    instance = HydraConfig.instance()
    saved = instance.cfg
    instance.set_config(config)
    try:
        return str(OmegaConf.select(config, key))
    finally:
        instance.cfg = saved


def uses_basic_sweeper(config: DictConfig) -> bool:
    return OmegaConf.select(config, "hydra.sweeper._target_") == BASIC_SWEEPER


def sweep_arguments(config: DictConfig) -> list[str]:
    """The sweep as override strings: ``hydra.sweeper.params`` first, then the command line's."""
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    return arguments + [str(o) for o in OmegaConf.to_container(config.hydra.overrides.task, resolve=False) or []]


def sweep_job_configs(config: DictConfig) -> list[DictConfig]:
    """Every job's composed config of a basic-sweeper sweep, numbered as the launcher will number them.

    Raises Hydra's or OmegaConf's own exception when an override does not compose."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    jobs = []
    for index, job_overrides in enumerate(_job_overrides(config)):
        job_config = loader.load_sweep_config(config, list(job_overrides))
        with open_dict(job_config):
            job_config.hydra.job.id = index
            job_config.hydra.job.num = index
        jobs.append(job_config)
    return jobs


def _job_overrides(config: DictConfig) -> list[list[str]]:
    """Each job's overrides of a basic-sweeper sweep, in the launcher's order (nothing composed)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    return [list(job) for job in BasicSweeper.split_arguments(parser.parse_overrides(sweep_arguments(config)), None)[0]]


def sweep_size(config: DictConfig) -> int | None:
    """How many jobs the sweep will launch: the basic sweeper's grid, an Optuna sweeper's ``n_trials``; None
    when that is not known in advance (or the overrides do not parse: the preflight says why)."""
    if uses_basic_sweeper(config):
        try:
            return len(_job_overrides(config))
        except Exception:
            return None
    trials = OmegaConf.select(config, "hydra.sweeper.n_trials", default=None)
    return trials if isinstance(trials, int) else None


def runtime() -> Any | None:
    """Hydra's config of the running job (``HydraConfig.get()``), or None outside ``@hydra.main``."""
    if not HydraConfig.initialized():
        return None
    return HydraConfig.get()


def is_multirun() -> bool:
    from hydra.types import RunMode

    hydra_cfg = runtime()
    return hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN


def sweeper_target() -> str | None:
    """The running sweep's sweeper class (``hydra.sweeper._target_``), or None outside ``@hydra.main``."""
    hydra_cfg = runtime()
    return None if hydra_cfg is None else OmegaConf.select(hydra_cfg, "sweeper._target_")


def verbose() -> bool:
    hydra_cfg = runtime()
    return bool(hydra_cfg.verbose) if hydra_cfg is not None else False
