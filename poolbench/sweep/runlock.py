"""One writer per run folder: a lock file in the run folder naming the process that writes the run.

Two processes training the same run (a single run started beside a sweep that holds it, two single runs, a
rerun while a SLURM job still trains it) would both resume from ``checkpoint.pt`` and overwrite each other's
checkpoint, ``epochs.csv`` and ``result.json``. Whatever starts the run takes its folder's lock before the run's
files are loaded or written: the preflight for a single run (before Hydra writes ``.hydra/``) and, for a
basic-sweeper sweep, the launching process for every run of the sweep that is not done; the process that then
trains a run (the same one, or a joblib / submitit / SLURM worker of that sweep, or a later SLURM attempt of the
same job) takes the lock over. A second writer stops with one line naming the holder (exit 2) and writes
nothing. A lock whose process died (this host) or whose SLURM job ended is stale and taken over, as the sweep
lock is (``poolbench.sweep.lock``, whose mechanism this module reuses).
"""

from __future__ import annotations

import atexit
import os
import socket
from pathlib import Path

from poolbench.errors import PoolbenchError
from poolbench.sweep import lock as sweeplock
from poolbench.sweep.ledger import SWEEP_ID_ENV

RUN_LOCK_FILE = ".poolbench_run.lock"
# "host:pid" of a sweep's launching process: its workers (which inherit the environment) take its locks over.
OWNER_ENV = "POOLBENCH_RUN_LOCK_OWNER"


class RunLocked(PoolbenchError):
    """Another live process writes this run folder."""

    exit_code = 2


# Run folders whose lock this process holds -> the first folder it created to hold the lock (None: existed).
_HELD: dict[Path, Path | None] = {}


def lock_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / RUN_LOCK_FILE


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (what creating ``path`` would create)."""
    missing = None
    while not path.exists() and path.parent != path:
        missing, path = path, path.parent
    return missing


def _mine_to_take(holder: sweeplock.Holder) -> bool:
    """This process, the sweep process that launched it, or an earlier attempt of its SLURM job."""
    if holder.is_this_process():
        return True
    if os.environ.get(OWNER_ENV) == f"{holder.host}:{holder.pid}":
        return True
    return bool(holder.job) and holder.job == sweeplock.scheduler_job()


def acquire(run_dir: str | os.PathLike[str]) -> None:
    """Hold ``run_dir``'s lock (created, taken over from this sweep or a stale holder), or raise ``RunLocked``."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _HELD:
        return
    path = lock_path(run_dir)

    def refusal(holder: sweeplock.Holder | None) -> RunLocked:
        held_by = holder.process() if holder else "a process whose lock file is unreadable"
        return RunLocked(
            f"{run_dir} is being written by another poolbench process ({held_by}); this one writes nothing there. "
            "Fix: wait for it to end and rerun (a finished run is skipped), or write elsewhere (name=OTHER_NAME). "
            f"If that process is gone (e.g. its host crashed), delete {path}."
        )

    created = _first_missing(run_dir)
    me = sweeplock.Holder.this_process(os.environ.get(SWEEP_ID_ENV, ""))
    # A stopped sweep leaves the locks of runs it never started: taking those over is not worth a warning each.
    untouched = run_dir.is_dir() and all(entry.name == RUN_LOCK_FILE for entry in run_dir.iterdir())
    sweeplock.take(path, me, refusal, _mine_to_take, quiet=untouched)
    if not _HELD:
        atexit.register(release_all)
    _HELD[run_dir] = created


def release(run_dir: str | os.PathLike[str]) -> None:
    """Drop ``run_dir``'s lock if this process holds it (never another's); folders this process created only
    to hold the lock, still empty, go too (a sweep stopped before the run leaves no trace of it)."""
    run_dir = Path(run_dir).resolve()
    if run_dir not in _HELD:
        return
    created = _HELD.pop(run_dir)
    path = lock_path(run_dir)
    holder = sweeplock.read_holder(path)
    if holder is not None and holder.is_this_process():
        path.unlink(missing_ok=True)
    if created is None:
        return
    folder = run_dir
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == created:
            return
        folder = folder.parent


def release_all() -> None:
    for run_dir in list(_HELD):
        release(run_dir)


def hand_to_workers() -> None:
    """Let the workers this process launches (joblib, submitit, SLURM) take over the run locks it holds."""
    os.environ[OWNER_ENV] = f"{socket.gethostname()}:{os.getpid()}"
