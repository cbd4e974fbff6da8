"""The launching side of a submitit sweep: which runs become jobs, and what became of each job.

``hydra_plugins.poolbench_launcher`` (the Hydra plugin) calls these; submitit and SLURM do the scheduling.

- ``plan``: compose every job, skip finished runs *before* submission (no SLURM job for a done run);
- ``collect``: wait for the submitted jobs with bounded waits; a job that ends without a result (cancelled, out of
  memory, node failure, time limit) is recorded failed with SLURM's reason, and the sweep goes on to its summary.
Nothing here imports torch.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, open_dict

from poolbench.config.settings import Settings
from poolbench.errors import PoolbenchError
from poolbench.objective import objective_value
from poolbench.record import CHECKPOINT_FILE, EPOCHS_FILE, RESULT_FILE, RunRecord, write_result
from poolbench.sweep.ledger import SWEEP_ID_ENV, write_entry
from poolbench.sweep.slurm_state import JobState

log = logging.getLogger("poolbench.sweep")


class ClusterError(PoolbenchError):
    """The cluster cannot be reached, or refused the submission."""

    exit_code = 1


@dataclass
class PlannedRun:
    """One job of the sweep: its number, overrides, run directory and settings."""

    num: int
    overrides: list[str]
    run_dir: Path
    settings: Settings


@dataclass(frozen=True)
class WaitLimits:
    """Every wait of ``collect`` ends: ``max_wait_s`` in all; ``result_grace_s`` between a job's end and its
    result file (shared file systems lag); ``lost_after_s`` for a job SLURM no longer knows (no accounting)."""

    max_wait_s: float
    poll_s: float = 5.0
    result_grace_s: float = 15.0
    lost_after_s: float = 60.0


# ----------------------------------------------------------------------------------------------- plan
def plan(
    config: DictConfig, load_sweep_config: Callable[[DictConfig, list[str]], DictConfig], job_overrides: Any, first: int
) -> tuple[list[PlannedRun], list[tuple[PlannedRun, RunRecord]]]:
    """(runs to submit, finished runs with their records): a run whose record says ok is not submitted."""
    from poolbench.sweep.preflight import job_for_run_in_sweep

    to_submit: list[PlannedRun] = []
    finished: list[tuple[PlannedRun, RunRecord]] = []
    for index, overrides in enumerate(job_overrides):
        sweep_config = load_sweep_config(config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.num = first + index
        job = job_for_run_in_sweep(sweep_config, None)  # the preflight's PreparedRun: validated once
        planned = PlannedRun(first + index, list(overrides), job.run_dir, job.settings)
        done = None if job.settings.force else job.done_record()  # the worker clears a forced run itself
        if done is None:
            to_submit.append(planned)
        else:
            finished.append((planned, done))
    return to_submit, finished


def note_skipped(config: DictConfig, finished: Sequence[tuple[PlannedRun, RunRecord]]) -> list[JobReturn]:
    """Ledger entries and Hydra returns for the runs skipped before submission. What a sweeper gets back is the
    run's validation objective, as for a run that ran (``poolbench.objective``), never a test metric."""
    returns = []
    for planned, record in finished:
        note(config, planned, "skipped", None)
        returns.append(job_return(planned, objective_value(record, planned.settings.objective)))
    if finished:
        log.info("skipped %d finished runs before submission (force=true reruns them)", len(finished))
    return returns


# ----------------------------------------------------------------------------------------------- collect
StateProbe = Callable[[Sequence[Any]], dict[str, JobState]]


def collect(
    config: DictConfig, submitted: Sequence[tuple[PlannedRun, Any]], probe: StateProbe, limits: WaitLimits
) -> list[JobReturn]:
    """Wait for every submitted job (submitit ``Job``s) and return what Hydra expects, one per job.

    A result file means the job ran to its end: its return (a failure inside was recorded by the job itself). A
    job SLURM reports as ended without a result, or no longer knows, is recorded failed with the reason. When
    ``limits.max_wait_s`` runs out, the jobs still queued or running are left to SLURM and recorded failed
    with a message saying so (a rerun of the same command collects them)."""
    pending = dict(enumerate(submitted))
    returns: dict[int, JobReturn] = {}
    ended_at: dict[int, float] = {}
    unknown_since: dict[int, float] = {}
    started = time.monotonic()
    last: dict[int, JobState] = {}
    while pending:
        for key, (planned, job) in list(pending.items()):
            if job.paths.result_pickle.exists():
                returns[key] = read_job_return(config, planned, job)
                del pending[key]
        if not pending:
            break
        states = probe([job for _, job in pending.values()])
        now = time.monotonic()
        for key, (planned, job) in list(pending.items()):
            state = states.get(job.job_id)
            if state is not None:
                last[key] = state
            reason = _ended_reason(key, state, now, ended_at, unknown_since, limits, last.get(key))
            if reason is not None and not job.paths.result_pickle.exists():
                returns[key] = record_dead_job(config, planned, reason)
                del pending[key]
        if pending and now - started > limits.max_wait_s:
            for key, (planned, job) in pending.items():
                returns[key] = record_abandoned_job(config, planned, job, last.get(key), limits.max_wait_s)
            break
        if pending:
            time.sleep(limits.poll_s)
    return [returns[key] for key in sorted(returns)]


def _ended_reason(
    key: int,
    state: JobState | None,
    now: float,
    ended_at: dict[int, float],
    unknown_since: dict[int, float],
    limits: WaitLimits,
    last_seen: JobState | None,
) -> str | None:
    """Why the job is over without a result, once that is sure (after the grace periods); else None."""
    if state is None:
        since = unknown_since.setdefault(key, now)
        if now - since < limits.lost_after_s:
            return None
        seen = f"; last seen {last_seen.state}" if last_seen else ""
        return (
            f"SLURM no longer knows the job and it wrote no result{seen} (with accounting, sacct would say why; "
            "see the job's log under the sweep's .submitit/ folder)"
        )
    unknown_since.pop(key, None)
    if state.waiting:
        ended_at.pop(key, None)
        return None
    if now - ended_at.setdefault(key, now) < limits.result_grace_s:
        return None
    return state.describe()


def read_job_return(config: DictConfig, planned: PlannedRun, job: Any) -> JobReturn:
    """The job's own return; an exception that escaped the job is recorded failed (not raised at Hydra)."""
    try:
        result = job.results()[0]
    except Exception as error:
        first = str(error).strip().splitlines()
        return record_dead_job(config, planned, f"the job raised {type(error).__name__}: {first[0] if first else ''}")
    if isinstance(result, JobReturn) and result.status == JobStatus.FAILED:
        raised = result._return_value
        note(config, planned, "failed", f"{type(raised).__name__}: {raised}")
        return job_return(planned, None)
    return result if isinstance(result, JobReturn) else job_return(planned, result)


def record_dead_job(config: DictConfig, planned: PlannedRun, reason: str) -> JobReturn:
    """A job that ended without a result: a failed record and a ledger entry, both with the epochs its run
    completed and the checkpoint a rerun resumes from."""
    epochs, checkpoint = run_progress(planned.run_dir)
    total = planned.settings.trainer.epochs
    where = f"; checkpoint {checkpoint} (rerun the same command to resume)" if checkpoint else ""
    message = f"{reason}; {epochs}/{total} epochs completed{where}"
    log.error("failed: %s: %s", planned.run_dir, message)
    write_result(planned.run_dir, record_of_dead_job(planned.settings, planned.run_dir, message, epochs, checkpoint))
    note(config, planned, "failed", message)
    return job_return(planned, None)


def record_abandoned_job(
    config: DictConfig, planned: PlannedRun, job: Any, state: JobState | None, waited_s: float
) -> JobReturn:
    shown = state.state if state else "in an unknown state"
    message = (
        f"SLURM job {job.job_id} still {shown} after the sweep waited {waited_s / 3600:.2f} h "
        "(hydra.launcher.max_wait_h); it goes on in SLURM: rerun the same command later to collect it "
        f"(finished runs are skipped), or scancel {job.job_id}"
    )
    log.error("not collected: %s: %s", planned.run_dir, message)
    note(config, planned, "failed", message)
    return job_return(planned, None)


def run_progress(run_dir: Path) -> tuple[int, str | None]:
    """(epochs completed, the checkpoint's path if there is one), from the run directory's files."""
    epochs = 0
    if (run_dir / EPOCHS_FILE).is_file():
        from poolbench.record import read_epochs

        epochs = len(read_epochs(run_dir))
    checkpoint = run_dir / CHECKPOINT_FILE
    return epochs, str(checkpoint) if checkpoint.is_file() else None


def record_of_dead_job(
    settings: Settings, run_dir: Path, message: str, epochs: int, checkpoint: str | None
) -> RunRecord:
    """The failed record of a job that died: the job's own record (model size, start time, ...) when it wrote
    one for this config, with SLURM's reason as its error; else one built from the settings."""
    from dataclasses import replace

    from poolbench.record import read_result

    run_key = settings.run_key
    try:
        own = read_result(run_dir / RESULT_FILE)
    except Exception:
        own = None
    if own is not None and own.run_key == run_key and own.status != "ok":
        return replace(own, status="failed", error=message, epochs_completed=epochs, checkpoint=checkpoint)
    return RunRecord(
        status="failed",
        run_key=run_key,
        dataset=settings.dataset.name,
        backbone=str(settings.backbone["name"]),
        head=str(settings.head["name"]),
        seed=settings.seed,
        epochs=settings.trainer.epochs,
        content_key=settings.dataset.content_key,
        error=message,
        epochs_completed=epochs,
        checkpoint=checkpoint,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


# ----------------------------------------------------------------------------------------------- helpers
def note(config: DictConfig, planned: PlannedRun, status: str, error: str | None) -> None:
    """The sweep ledger's entry for this job (when the sweep summary callback runs this sweep)."""
    sweep_id = os.environ.get(SWEEP_ID_ENV)
    if sweep_id:
        write_entry(str(config.hydra.sweep.dir), sweep_id, planned.num, status, planned.run_dir, error)


def release_sweep(config: DictConfig) -> None:
    """The sweep ends before its summary (no cluster, Ctrl-C): free its folder's lock for the next sweep."""
    from poolbench.sweep import lock as sweeplock

    sweep_id = os.environ.get(SWEEP_ID_ENV)
    if sweep_id:
        sweeplock.release(str(config.hydra.sweep.dir), sweep_id)


def job_return(planned: PlannedRun, value: Any) -> JobReturn:
    return JobReturn(
        overrides=planned.overrides,
        working_dir=str(planned.run_dir),
        task_name="poolbench",
        status=JobStatus.COMPLETED,
        _return_value=value,
    )
