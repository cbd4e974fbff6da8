"""One sweep at a time per sweep folder: a lock file naming its holder (host, pid, sweep id, start, command).

Two ``poolbench -m`` commands on the same folder would train the same runs twice and race on their records; the
second one stops with a message naming the first. A lock left by a process that died on this host is taken
over with a warning; one left on another host is taken over only when SLURM says its job ended, else the
message says how to remove it. The lock is an exclusively created file, so it works on a shared file system too.

``take`` is the mechanism, shared with the per-run lock (``poolbench.sweep.runlock``): the same holder file,
the same stale rule, the refusal left to the caller.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from poolbench.atomic import atomic_write_json
from poolbench.errors import PoolbenchError

log = logging.getLogger("poolbench.sweep")

LOCK_FILE = ".poolbench_sweep.lock"


class SweepLocked(PoolbenchError):
    """Another sweep holds the sweep folder."""

    exit_code = 1


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    sweep_id: str
    started_at: str
    command: str
    job: str = ""  # the SLURM job (``<array>_<task>`` or a plain id) the holder runs in, if any

    @classmethod
    def this_process(cls, sweep_id: str) -> Holder:
        return cls(
            socket.gethostname(),
            os.getpid(),
            sweep_id,
            time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            " ".join([program_name(), *sys.argv[1:]])[:500],
            scheduler_job(),
        )

    def describe(self) -> str:
        return f"sweep {self.sweep_id} ({self.process()})"

    def process(self) -> str:
        """E.g. 'pid 812 on node3, SLURM job 41_2, started 2026-12-06 11:30:02 UTC: poolbench -m head=gap'."""
        job = f", SLURM job {self.job}" if self.job else ""
        return f"pid {self.pid} on {self.host}{job}, started {self.started_at}: {self.command}"

    def is_this_process(self) -> bool:
        return self.host == socket.gethostname() and self.pid == os.getpid()


def program_name() -> str:
    """'poolbench' for the console script, 'python -m poolbench' for the module (argv[0] is its __main__.py)."""
    path = Path(sys.argv[0])
    return f"python -m {path.parent.name}" if path.name == "__main__.py" else path.name


def scheduler_job() -> str:
    """This process's SLURM job id (an array task as ``<array>_<task>``, as ``scontrol`` names it), or ''."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID", "")


def lock_path(sweep_dir: str | os.PathLike[str]) -> Path:
    return Path(sweep_dir) / LOCK_FILE


def read_holder(path: Path) -> Holder | None:
    """The lock's holder; None if the file vanished or is unreadable (a holder still writing it, or damaged)."""
    try:
        return Holder(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def is_stale(holder: Holder) -> bool:
    """Stale: a holder on this host whose process is gone, or one on another host whose SLURM job has ended.
    Any other holder on another host cannot be checked from here: it is taken to be alive."""
    if holder.host == socket.gethostname():
        return not pid_alive(holder.pid)
    if not holder.job:
        return False
    from poolbench.sweep.slurm_state import query_states

    state = query_states([holder.job]).get(holder.job)
    return state is not None and not state.waiting


def _create(path: Path, holder: Holder) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(holder), handle)
    return True


def take(
    path: Path,
    me: Holder,
    refusal: Callable[[Holder | None], PoolbenchError],
    hand_over: Callable[[Holder], bool] = lambda holder: False,
    quiet: bool = False,
) -> None:
    """Create the lock file ``path`` for ``me``; take it over when its holder is stale (with a warning, an info
    line when ``quiet``) or ``hand_over(holder)`` says this process may have it; else raise ``refusal(holder)``
    (None: unreadable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # a second try after removing a stale lock
        if _create(path, me):
            return
        holder = read_holder(path)
        if holder is not None and hand_over(holder):
            atomic_write_json(path, asdict(me))
            return
        if holder is not None and is_stale(holder):
            level = logging.INFO if quiet else logging.WARNING
            log.log(level, "taking over the lock of %s, whose process is gone: %s", holder.process(), path)
            path.unlink(missing_ok=True)
            continue
        raise refusal(holder)
    raise refusal(read_holder(path))


def acquire(sweep_dir: str | os.PathLike[str], sweep_id: str) -> Path:
    """Take the sweep folder's lock for this process, or raise ``SweepLocked`` naming the holder."""
    path = lock_path(sweep_dir)

    def refusal(holder: Holder | None) -> SweepLocked:
        held_by = holder.describe() if holder else "a sweep whose lock file is unreadable"
        return SweepLocked(
            f"{Path(sweep_dir)} is being written by another poolbench sweep: {held_by}. Fix: wait for it to end, "
            f"or sweep into another folder (name=OTHER_NAME). If that sweep is gone (e.g. it ran on another host "
            f"that crashed), delete {path}."
        )

    take(path, Holder.this_process(sweep_id), refusal)
    return path


def release(sweep_dir: str | os.PathLike[str], sweep_id: str) -> None:
    """Remove the lock if this sweep holds it (never another sweep's)."""
    path = lock_path(sweep_dir)
    holder = read_holder(path)
    if holder is not None and holder.sweep_id == sweep_id and holder.pid == os.getpid():
        path.unlink(missing_ok=True)
