"""Poolbench's Optuna sweeper (``hydra/sweeper=tune``; needs ``pip install 'poolbench[tune]'``).

Hydra's Optuna sweeper, with what a benchmark needs on top, and nothing else changed. The behaviour is here
(``ValidationSweep``); the class Hydra instantiates is ``hydra_plugins.poolbench_sweeper.ValidationOptunaSweeper``
(Hydra only instantiates sweepers from the ``hydra_plugins`` namespace), which mixes it into the plugin's class:

- A trial whose run failed or diverged returns NaN (``poolbench.objective``). Handed to Optuna as a value,
  NaN makes ``study.tell`` raise, and the plugin then fails on its own retry (hydra-optuna-sweeper 1.3 with
  optuna 2.10). Here the plugin gets a value whose ``float()`` raises, which it records as a FAIL trial; the
  search goes on (the preset sets ``max_failure_rate: 1.0``).
- When no trial completed, the plugin's ``study.best_trial`` raises "No trials are completed yet." Here the
  sweep ends with one line saying so, and poolbench's sweep summary exits non-zero (its ledger is cleaned up
  and the sweep report is written as for any sweep). Hydra's own Optuna sweeper (``hydra/sweeper=optuna``) gets
  the same line: ``guard_hydras_optuna_sweeper`` wraps its ``sweep`` for that one error.
- When a batch has more failed trials than ``max_failure_rate`` allows, the search stops with one line, and
  the summary exits non-zero (the plugin would re-raise the failure as a traceback).

The direction comes from ``objective`` (``${poolbench_direction:${objective}}`` in the preset), so a
validation accuracy is maximised and a validation loss minimised, whatever Optuna's default.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger("poolbench.sweep")
# Optuna imports alembic, which logs a line per plugin it sets up at INFO: dozens of lines before the first trial.
logging.getLogger("alembic").setLevel(logging.WARNING)


class TrialFailed(Exception):
    """A trial's run failed or diverged: it has no validation objective (its result.json says why)."""


class NoObjective:
    """What a job without an objective returns to the plugin: ``float()`` of it raises ``TrialFailed``, which the
    plugin records as a FAIL trial with a "Failed experiment: ..." warning, and the search goes on."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __float__(self) -> float:
        raise TrialFailed(self.message)

    def __repr__(self) -> str:
        return f"NoObjective({self.message!r})"


HYDRA_OPTUNA_SWEEPER = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


def for_the_sweeper(value: float, sweeper_target: str | None) -> Any:
    """What the task function hands back: ``value``, except a NaN under Hydra's own Optuna sweeper
    (``hydra/sweeper=optuna``), which becomes ``NoObjective``.

    Handed NaN, that plugin (1.2, 1.3) calls ``study.tell`` with it, and when that fails calls ``study.tell``
    again with the NaN as a FAIL trial's value, which raises ("Values cannot be specified when state is ...
    FAIL") and ends the sweep with a traceback. A value whose ``float()`` raises takes the plugin's own failure
    path instead: a FAIL trial without a value, a "Failed experiment" warning, and the search goes on. Every
    other sweeper gets the float (poolbench's ``tune`` preset turns NaN into a FAIL trial itself)."""
    if sweeper_target == HYDRA_OPTUNA_SWEEPER and has_no_value(value):
        return NoObjective("the run failed or diverged: no validation objective (see its result.json)")
    return value


def has_no_value(value: Any) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return False  # not a number: the plugin names it in its own message


class FailedRunsAsFailedTrials:
    """Wraps the sweeper's launcher: a job that returned NaN comes back as ``NoObjective``. Counts the jobs
    with a value, and stops the search (``TrialFailed``) when a batch has more failures than
    ``max_failure_rate`` allows (what the plugin itself does by re-raising a failed job's exception)."""

    def __init__(self, launcher: Any, max_failure_rate: float) -> None:
        self.launcher = launcher
        self.max_failure_rate = max_failure_rate
        self.launched = 0
        self.with_value = 0

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        returns = self.launcher.launch(job_overrides, initial_job_idx=initial_job_idx)
        failed = 0
        for job in returns:
            self.launched += 1
            if job.status == JobStatus.COMPLETED and has_no_value(job._return_value):
                failed += 1
                overrides = " ".join(job.overrides or [])
                job._return_value = NoObjective(f"{overrides}: the run failed or diverged (see its result.json)")
            elif job.status == JobStatus.COMPLETED:
                self.with_value += 1
            else:
                failed += 1
        if returns and failed / len(returns) > self.max_failure_rate:
            raise TrialFailed(f"{failed} of {len(returns)} trials of a batch failed")
        return returns

    def __getattr__(self, name: str) -> Any:
        return getattr(self.launcher, name)


class ValidationSweep:
    """Mixed into ``OptunaSweeper``: failed trials are FAIL trials, and an all-failed sweep ends in one line.

    Reaches the plugin's implementation through its ``sweeper`` attribute (hydra-optuna-sweeper 1.2, 1.3)."""

    sweeper: Any
    launcher_wrapper: FailedRunsAsFailedTrials | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)  # type: ignore[misc]
        self.launcher_wrapper = FailedRunsAsFailedTrials(self.sweeper.launcher, self.sweeper.max_failure_rate)
        self.sweeper.launcher = self.launcher_wrapper

    def sweep(self, arguments: list[str]) -> None:
        wrapper = self.launcher_wrapper
        try:
            super().sweep(arguments)  # type: ignore[misc]
        except TrialFailed as failure:  # more failures than hydra.sweeper.max_failure_rate allows
            log.error("optuna: search stopped: %s (more than hydra.sweeper.max_failure_rate)", failure)
        except ValueError as error:  # study.best_trial: "No trials are completed yet."
            if str(error) != NO_BEST or wrapper is None or wrapper.with_value > 0:
                raise
            log.error("%s", NO_TRIAL_COMPLETED.format(trials=f" of the {wrapper.launched}"))


NO_BEST = "No trials are completed yet."  # optuna's study.best_trial when no trial completed
NO_TRIAL_COMPLETED = (
    "optuna: none{trials} trials has a validation objective (every run failed or diverged): no best setting; "
    "narrow the search space, e.g. 'trainer.lr=tag(log,interval(0.001,0.1))'"
)


def guard_hydras_optuna_sweeper() -> None:
    """Hydra's own Optuna sweeper (``hydra/sweeper=optuna``) ends a search whose every trial failed with
    ``study.best_trial``'s ValueError and a traceback. Its ``sweep`` is wrapped (once, in the ``poolbench``
    process that runs the search) so that this one case ends in one line instead: the trials are recorded, the
    sweep's callbacks run, and poolbench's sweep summary exits non-zero for the failed runs. Any other error
    passes through untouched; poolbench's own preset (``ValidationSweep``) gets the same line with the count."""
    try:
        from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
    except ImportError:  # the tune extra is not installed: nothing to guard
        return
    original = OptunaSweeper.sweep
    if getattr(original, "poolbench_guard", False):
        return

    def sweep(self: Any, arguments: list[str]) -> None:
        try:
            original(self, arguments)
        except ValueError as error:
            if str(error) != NO_BEST or isinstance(self, ValidationSweep):  # the preset says it with the count
                raise
            log.error("%s", NO_TRIAL_COMPLETED.format(trials=" of the"))

    sweep.poolbench_guard = True  # type: ignore[attr-defined]
    OptunaSweeper.sweep = sweep  # type: ignore[method-assign]
