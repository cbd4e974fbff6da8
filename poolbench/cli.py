"""The ``poolbench`` command: Hydra's app around ``run``, and the one place that turns errors into exit codes."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from poolbench import hydra_adapter
from poolbench.errors import Abort, PoolbenchError, RunFailed, UnexpectedError, abort
from poolbench.job import Job, RunInterrupted, sweep_job
from poolbench.objective import objective_value
from poolbench.plugins import check_plugins
from poolbench.rundir import finished_record, register_resolvers
from poolbench.validate import check_replaced_overrides, find_conf_dir

log = logging.getLogger("poolbench")
USAGE_EXIT_CODE = 2


def conf_dir() -> str:
    found = find_conf_dir()
    if found is None:
        raise SystemExit("poolbench: cannot find its conf/ directory; reinstall poolbench (pip install -e .)")
    return str(found)


CONF_DIR = conf_dir()
register_resolvers()  # before @hydra.main composes; launcher workers import this module too
hydra_adapter.register_plugins()  # launcher=submitit_*, hydra/sweeper=tune in editable installs too


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: DictConfig) -> float:
    """One Hydra job: skip it if done, else run it (in a sweep, a failure is recorded and the sweep goes on).

    Returns the run's validation objective (``objective``; poolbench/objective.py), never a test metric, so a
    sweeper selects on validation. Always a float: NaN for a run that failed or diverged (also when
    ``sweep_job`` swallowed the failure so that the sweep goes on)."""
    with sweep_job(Path(cfg.paths.output_dir)) as job:
        job.objective = _run_or_skip(cfg, job)
    return job.objective


def _run_or_skip(cfg: DictConfig, job: Job) -> float:
    """The job's objective: from its record if it is already done, else from a new run."""
    try:
        from poolbench.validate import validate

        settings = validate(cfg)
        done = finished_record(job.run_dir, settings.resolved, settings.force)
        if done is not None:
            job.status = "skipped"
            return objective_value(done, settings.objective)
        from poolbench.run import run

        record = run(settings)
    except PoolbenchError as error:
        abort(error, hydra_adapter.verbose())
    except RunInterrupted:
        raise  # sweep_job records it and leaves with 128 + signal
    except Exception as error:  # a bug, or a user's component that raised: say so, with the traceback
        abort(UnexpectedError(f"{type(error).__name__}: {error}"), show_traceback=True)
    job.status, job.error = record.status, record.error
    value = objective_value(record, settings.objective)
    log.info(
        "%s: %s %s  test_acc %s  train_acc %s  generalization gap %s  params %d (head %d)  %s",
        record.status,
        settings.objective,
        _number(value),
        _number(record.test_acc),
        _number(record.train_acc),
        _number(record.gap_acc),
        record.params_total,
        record.params_head,
        cfg.paths.output_dir,
    )
    if record.status != "ok" and not hydra_adapter.is_multirun():
        abort(RunFailed(f"the run {record.status}: {record.error}"))
    return value


def _number(value: float | None) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def main() -> None:
    """Run Hydra's app and exit with the code of whatever ended it, decided here only:

    0 ok; a poolbench error's own code (``Abort``: 2 usage, 1 environment or failed runs, 128 + signal);
    2 for Hydra's own usage errors (unknown group option, override syntax, unknown key), which end with
    exit code 1 before poolbench is reached (every failure after that is an ``Abort``)."""
    try:
        check_plugins(sys.argv[1:], Path(CONF_DIR))  # Hydra's own message would not name the extra to install
        try:
            check_replaced_overrides(sys.argv[1:])
        except PoolbenchError as error:
            abort(error)
        app()
    except Abort as stop:
        print(f"poolbench: {stop.error}", file=sys.stderr)
        sys.exit(stop.error.exit_code)
    except SystemExit as stop:
        if stop.code == 1:
            sys.exit(USAGE_EXIT_CODE)
        raise


entry = main  # the console script

if __name__ == "__main__":
    main()
