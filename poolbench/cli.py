"""The ``poolbench`` command: Hydra's app around ``run``, and the one place that turns errors into exit codes."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from poolbench.config import CONF_DIR
from poolbench.config.replaced import check_replaced_overrides
from poolbench.errors import Abort, PoolbenchError, RunFailed, UnexpectedError, abort
from poolbench.objective import objective_value
from poolbench.sweep import hydra_adapter
from poolbench.sweep.job import JobOutcome, RunInterrupted, sweep_job
from poolbench.sweep.optuna_sweeper import for_the_sweeper, guard_hydras_optuna_sweeper
from poolbench.sweep.plugins import check_plugins
from poolbench.sweep.prepare import forget, prepare
from poolbench.sweep.rundir import register_resolvers

log = logging.getLogger("poolbench")
USAGE_EXIT_CODE = 2


# The one registration at import time, and only here: launcher workers (joblib's loky, submitit) import this
# module to unpickle the task function, and resolve ``hydra.sweep.subdir`` (which uses these resolvers) before
# they call it.
register_resolvers()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def app(cfg: DictConfig) -> Any:
    """One Hydra job: skip it if done, else run it (in a sweep, a failure is recorded and the sweep goes on).

    Returns the run's validation objective (``objective``; poolbench/objective.py), never a test metric, so a
    sweeper selects on validation: a float, NaN for a run that failed or diverged (also when ``sweep_job``
    swallowed the failure so that the sweep goes on); under Hydra's own Optuna sweeper a value that plugin
    records as a failed trial instead of NaN (``for_the_sweeper``)."""
    with sweep_job(Path(cfg.paths.output_dir)) as job:
        job.objective = _run_or_skip(cfg, job)
    return for_the_sweeper(job.objective, hydra_adapter.sweeper_target())


def _run_or_skip(cfg: DictConfig, job: JobOutcome) -> float:
    """The job's objective: from its record if it is already done, else from a new run."""
    try:
        prepared = prepare(cfg, job.run_dir)  # the preflight's, in this process; else prepared now, once
        settings = prepared.settings
        done = prepared.done_record()
        if done is not None:
            job.status = "skipped"
            return objective_value(done, settings.objective)
        from poolbench.run import run

        record = run(settings, prepared.take_model())
    except PoolbenchError as error:
        abort(error, hydra_adapter.verbose())
    except RunInterrupted:
        raise  # sweep_job records it and leaves with 128 + signal
    except Exception as error:  # a bug, or a user's component that raised: say so, with the traceback
        abort(UnexpectedError(f"{type(error).__name__}: {error}"), show_traceback=True)
    finally:
        forget(job.run_dir)
    job.status, job.error = record.status, record.error
    value = objective_value(record, settings.objective)
    log.info(
        "%s: %s %s  test_acc %s  train_acc %s  generalization gap %s  params %d (head %d)  %s",
        record.status,
        settings.objective,
        _number(value),
        _number(record.test_acc),
        _number(record.train_acc),
        _number(record.overfit_acc),
        record.params_total,
        record.params_head,
        cfg.paths.output_dir,
    )
    if record.status != "ok" and not hydra_adapter.is_multirun():
        abort(RunFailed(f"the run {record.status}: {record.error}"))
    return value


def _number(value: float | None) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def register_plugins() -> None:
    """Make poolbench's Hydra plugins known to Hydra in any kind of install: the launchers
    (``hydra_plugins.poolbench_launcher``) and the Optuna preset's sweeper (``hydra_plugins.poolbench_sweeper``,
    defined only when the ``tune`` extra is installed).

    Hydra finds plugins by listing the ``hydra_plugins`` namespace package, which a setuptools (PEP 660)
    editable install cannot list (hydra issue #3252): the module imports, but the scan misses it. Importing it
    registers its configs; ``Plugins.register`` (Hydra's public call for this) registers its classes."""
    from hydra.core.plugins import Plugins

    try:
        from hydra_plugins.poolbench_launcher import poolbench_launcher
    except ImportError:
        pass
    else:
        for launcher in poolbench_launcher.LAUNCHERS:
            Plugins.instance().register(launcher)
    guard_hydras_optuna_sweeper()  # hydra/sweeper=optuna: an all-failed search ends in one line, no traceback
    try:
        from hydra_plugins import poolbench_sweeper
    except ImportError:
        return
    sweeper = getattr(poolbench_sweeper, "ValidationOptunaSweeper", None)
    if sweeper is not None:
        Plugins.instance().register(sweeper)


def main() -> None:
    """Run Hydra's app and exit with the code of whatever ended it, decided here only:

    0 ok; a poolbench error's own code (``Abort``: 2 usage, 1 environment or failed runs, 128 + signal);
    2 for Hydra's own usage errors (unknown group option, override syntax, unknown key), which end with
    exit code 1 before poolbench is reached (every failure after that is an ``Abort``)."""
    try:
        check_plugins(sys.argv[1:], CONF_DIR)  # Hydra's own message would not name the extra to install
        try:
            check_replaced_overrides(sys.argv[1:])
        except PoolbenchError as error:
            abort(error)
        register_plugins()  # launcher=submitit_*, hydra/sweeper=tune in editable installs too
        app()
    except Abort as stop:
        print(f"poolbench: {stop.error}", file=sys.stderr)
        sys.exit(stop.error.exit_code)
    except SystemExit as stop:
        if stop.code == 1:
            sys.exit(USAGE_EXIT_CODE)
        raise


if __name__ == "__main__":
    main()
