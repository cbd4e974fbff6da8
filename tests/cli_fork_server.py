"""Run many CLI invocations cheaply: import poolbench, Hydra and torch once, then fork one child per invocation.

    python tests/cli_fork_server.py JOBS.json CODES.json

JOBS.json: a list of {"args": [...], "cwd": "...", "env": {...}, "output": "..."}; each child runs
``poolbench.cli.main()`` (what ``python -m poolbench`` and the ``poolbench`` script call) with that argv, working
directory and environment, stdout+stderr into ``output``. CODES.json receives the exit codes in order.

This runs as its own process (not inside pytest) because a child forked after torch has used its OpenMP thread
pool can deadlock; here torch is imported but never run before the forks.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

PARALLEL = 4


def child(job: dict[str, Any]) -> int:
    handle = open(job["output"], "w", buffering=1)  # noqa: SIM115 (stays open as the child's stdout until it exits)
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    sys.stdout = sys.stderr = handle
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    sys.argv = ["poolbench", *job["args"]]
    from poolbench.cli import main

    try:
        main()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        handle.flush()
    return 0


def fork(job: dict[str, Any]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = child(job)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def main(jobs_path: str, codes_path: str) -> None:
    from hydra.core.plugins import Plugins

    import poolbench.cli
    import poolbench.data.splits
    import poolbench.run  # noqa: F401

    Plugins.instance()  # Hydra's plugin discovery, once
    with open(jobs_path) as handle:
        jobs = json.load(handle)
    codes: list[int | None] = [None] * len(jobs)
    running: dict[int, int] = {}
    next_job = 0
    while next_job < len(jobs) or running:
        while next_job < len(jobs) and len(running) < PARALLEL:
            running[fork(jobs[next_job])] = next_job
            next_job += 1
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    with open(codes_path, "w") as handle:
        json.dump(codes, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
