"""One sweep at a time per sweep folder: a lock file naming its holder (host, pid, sweep id, start, command).

Two ``poolbench -m`` commands on the same folder would train the same runs twice and race on their records; the
second one stops with a message naming the first. A lock left by a process that died on this host is taken
over with a warning; one left on another host cannot be checked from here, and the message says how to remove
it. The lock is an exclusively created file, so it works on a shared file system too.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

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

    @classmethod
    def this_process(cls, sweep_id: str) -> Holder:
        return cls(
            socket.gethostname(),
            os.getpid(),
            sweep_id,
            time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:500],
        )

    def describe(self) -> str:
        return f"sweep {self.sweep_id} (pid {self.pid} on {self.host}, started {self.started_at}: {self.command})"


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
    """Only a holder on this host can be checked: stale when its process is gone."""
    return holder.host == socket.gethostname() and not pid_alive(holder.pid)


def _create(path: Path, holder: Holder) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(holder), handle)
    return True


def acquire(sweep_dir: str | os.PathLike[str], sweep_id: str) -> Path:
    """Take the sweep folder's lock for this process, or raise ``SweepLocked`` naming the holder."""
    path = lock_path(sweep_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = Holder.this_process(sweep_id)
    for _ in range(2):  # a second try after removing a stale lock
        if _create(path, me):
            return path
        holder = read_holder(path)
        if holder is not None and is_stale(holder):
            log.warning("taking over the lock of %s, whose process is gone: %s", holder.describe(), path)
            path.unlink(missing_ok=True)
            continue
        held_by = holder.describe() if holder else "a sweep whose lock file is unreadable"
        raise SweepLocked(
            f"{Path(sweep_dir)} is being written by another poolbench sweep: {held_by}. Fix: wait for it to end, "
            f"or sweep into another folder (name=OTHER_NAME). If that sweep is gone (e.g. it ran on another host "
            f"that crashed), delete {path}."
        )
    raise SweepLocked(f"could not take the lock {path}; another sweep keeps taking it. Fix: delete it and retry.")


def release(sweep_dir: str | os.PathLike[str], sweep_id: str) -> None:
    """Remove the lock if this sweep holds it (never another sweep's)."""
    path = lock_path(sweep_dir)
    holder = read_holder(path)
    if holder is not None and holder.sweep_id == sweep_id and holder.pid == os.getpid():
        path.unlink(missing_ok=True)
