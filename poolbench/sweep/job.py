"""One job of a run or a sweep, around ``run(settings)``: signals become an orderly stop, a failure inside a
sweep is recorded and the sweep goes on (Hydra's basic launcher would stop at the first exception), and every
job's outcome goes to the sweep ledger. Nothing here imports torch: skipping a finished run stays fast."""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolbench.errors import Abort, Interrupted
from poolbench.record import CHECKPOINT_FILE
from poolbench.sweep import hydra_adapter
from poolbench.sweep.ledger import note_outcome

log = logging.getLogger("poolbench.sweep")
run_log = logging.getLogger("poolbench.run")  # a single run's messages (poolbench.sweep: a sweep's)


class RunInterrupted(Exception):
    """SIGTERM or SIGINT arrived during a run (``sweep_job`` says whether a checkpoint lets a rerun resume)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def interruption_text(interrupted: RunInterrupted, run_dir: Path) -> str:
    """What an interruption means for the rerun: resume from the epoch-end checkpoint, or (none written yet:
    before epoch 1 ended, or ``trainer.checkpoint=false``) start the run again."""
    if (run_dir / CHECKPOINT_FILE).is_file():
        return f"{interrupted}; rerun the same command to resume from the last epoch-end checkpoint"
    return (
        f"{interrupted} before any checkpoint was written (one is written when an epoch ends, unless "
        "trainer.checkpoint=false); rerun the same command to start the run again"
    )


class Requeued(RunInterrupted):
    """The cluster scheduler stopped the run and queued it again (submitit on a timeout or preemption signal):
    not a failure. The run is recorded as cut short (its checkpoint is what the next attempt resumes from), and
    the process leaves without a result, so the launcher goes on waiting for the requeued job."""

    def __init__(self, signum: int, why: str) -> None:
        self.signum = signum
        Exception.__init__(self, f"requeued by the scheduler ({why}); the next attempt resumes from the checkpoint")


@contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM/SIGINT into ``RunInterrupted`` so run() records the run as failed before the process exits.

    Raising at once (rather than finishing the epoch) keeps Ctrl-C and a cluster's kill deadline prompt; the
    checkpoint written atomically at the last epoch end is what a rerun resumes from."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def requeue_as_exception(signum: int) -> Iterator[None]:
    """Inside a submitit job: make submitit's requeue (on ``signum``, USR2 by default) an explicit ``Requeued``.

    submitit's handler checkpoints, requeues the job (``scontrol requeue``) and calls ``sys.exit(-1)``; that
    ``SystemExit`` would otherwise look like a failed run. SLURM follows a requeue with SIGTERM, which is
    ignored from the signal on (the checkpoint is on disk). When submitit refuses to requeue ("timed-out too
    many times") its ``UncompletedJobError`` goes on as a real failure."""
    submitit_handler = signal.getsignal(signum)
    if not callable(submitit_handler) or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_requeue_signal(received: int, frame: Any) -> None:
        before = signal.signal(signal.SIGTERM, _ignore_sigterm)
        try:
            submitit_handler(received, frame)
        except SystemExit:
            raise Requeued(received, f"{signal.Signals(received).name}: time limit near, or preempted") from None
        except BaseException:
            signal.signal(signal.SIGTERM, before)
            raise

    signal.signal(signum, on_requeue_signal)
    try:
        yield
    finally:
        signal.signal(signum, submitit_handler)


def _ignore_sigterm(signum: int, _frame: Any) -> None:
    log.info("ignored %s: the run is being requeued", signal.Signals(signum).name)


@dataclass
class JobOutcome:
    """What became of one Hydra job, for the ledger and the sweeper."""

    run_dir: Path
    status: str | None = None  # ok | diverged | failed | skipped, once known
    error: str | None = None
    objective: float = math.nan  # the value the task function returns (poolbench/objective.py); NaN: none


def error_text(error: BaseException) -> str:
    if isinstance(error, Abort):
        error = error.error
    return f"{type(error).__name__}: {error}"


@contextmanager
def sweep_job(run_dir: Path) -> Iterator[JobOutcome]:
    """Wrap one job. Interrupted: recorded failed, then ``Abort`` with 128 + signal. Requeued by the scheduler:
    recorded as requeued (not failed), then ``Abort`` (the process must end without a result; the job runs
    again). Failed inside a sweep: logged and recorded, and the sweep goes on. Outside a sweep the failure
    propagates to the CLI."""
    job = JobOutcome(run_dir)
    try:
        with interrupts_as_exceptions():
            yield job
    except Requeued as requeued:
        note_outcome(run_dir, "requeued", str(requeued))
        log.warning("%s: %s", run_dir, requeued)
        raise Abort(Interrupted(requeued.signum, str(requeued))) from None
    except RunInterrupted as interrupted:
        text = interruption_text(interrupted, run_dir)
        note_outcome(run_dir, "failed", text)
        (log if hydra_adapter.is_multirun() else run_log).error("%s: %s", run_dir, text)
        raise Abort(Interrupted(interrupted.signum, text)) from None
    except (Exception, SystemExit) as error:
        if isinstance(error, SystemExit) and not isinstance(error, Abort) and error.code in (0, None):
            raise
        note_outcome(run_dir, "failed", error_text(error))
        if not hydra_adapter.is_multirun():
            raise
        log.error("failed: %s: %s (the sweep goes on)", run_dir, error_text(error), exc_info=True)
    else:
        note_outcome(run_dir, job.status or "failed", job.error)
