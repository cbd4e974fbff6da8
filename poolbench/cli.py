"""Command-line entry points. Parsing and printing live here; the work lives in ``run.run``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

if TYPE_CHECKING:
    from poolbench.record import RunRecord

from poolbench.errors import PoolbenchError
from poolbench.sweep import exit_code, register_resolvers, sweep_job

log = logging.getLogger("poolbench")


def find_conf_dir() -> str:
    """The configs: installed inside the package (wheel) or at the top of the source tree (editable/dev)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "conf", package_dir.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise SystemExit("poolbench: cannot find its conf/ directory; reinstall poolbench (pip install -e .)")


CONF_DIR = find_conf_dir()
register_resolvers()  # before @hydra.main composes; launcher workers import this module too


def show_tracebacks(cfg: DictConfig | None = None) -> bool:
    if os.environ.get("POOLBENCH_TRACEBACK", "") not in ("", "0"):
        return True
    try:
        from hydra.core.hydra_config import HydraConfig

        return bool(HydraConfig.get().verbose)
    except Exception:
        return False


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
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

    try:
        validate(cfg)
        record = run(cfg)
    except PoolbenchError as error:
        if show_tracebacks(cfg):
            raise
        print(f"poolbench: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
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
