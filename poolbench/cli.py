"""Command-line entry points. Parsing and printing live here; the work lives in ``run.run``."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from poolbench import preflight
from poolbench.config import find_conf_dir
from poolbench.errors import PoolbenchError, exit_with, tracebacks_requested
from poolbench.sweep import exit_code, register_resolvers, sweep_job

if TYPE_CHECKING:
    from poolbench.record import RunRecord

log = logging.getLogger("poolbench")


def conf_dir() -> str:
    found = find_conf_dir()
    if found is None:
        raise SystemExit("poolbench: cannot find its conf/ directory; reinstall poolbench (pip install -e .)")
    return str(found)


CONF_DIR = conf_dir()
register_resolvers()  # before @hydra.main composes; launcher workers import this module too


def show_tracebacks() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig

        verbose = HydraConfig.get().verbose
    except Exception:
        verbose = False
    return tracebacks_requested(verbose)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def main() -> None:
    """The ``poolbench`` command: Hydra's app, with Hydra's own usage errors (unknown group option, override
    syntax, unknown key) given exit code 2 like poolbench's; those fail before the preflight is reached."""
    try:
        app()
    except SystemExit as stop:
        if stop.code == 1 and not preflight.reached():
            sys.exit(2)
        raise


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: DictConfig) -> float | None:
    """One Hydra job: skip it if done, else run it (a failure in a sweep is recorded and the sweep goes on)."""
    with sweep_job(cfg) as job:
        done = job.skip_if_done()
        if done is not None:
            return done.test_acc
        record = validate_and_run(cfg)
        job.finish(record)
        return record.test_acc
    return None


def validate_and_run(cfg: DictConfig) -> "RunRecord":
    from poolbench.config import validate
    from poolbench.run import run

    preflight.mark_reached()
    try:
        validate(cfg)
        record = run(cfg)
    except PoolbenchError as error:
        if show_tracebacks():
            raise
        exit_with(error)
    log.info(
        "%s: test_acc %.4f  train_acc %.4f  gap %.4f  params %d (head %d)  %s",
        record.status, _or_nan(record.test_acc), _or_nan(record.train_acc),
        _or_nan(record.gap_acc), record.params_total, record.params_head, cfg.paths.output_dir,
    )  # fmt: skip
    return record


def entry() -> None:
    """The console script: run Hydra, then exit non-zero if a run or a sweep's job failed or diverged."""
    main()
    sys.exit(exit_code())


if __name__ == "__main__":
    entry()
