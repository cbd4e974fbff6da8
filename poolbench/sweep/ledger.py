"""The sweep ledger: every job of a ``-m`` sweep notes its outcome in a file; ``SweepSummary`` (a Hydra
callback, run by the launching process with every launcher) reads them when the sweep ends, prints
"N ok, M failed, K skipped", and leaves with exit code 1 if any run failed or diverged. It also holds the sweep
folder's lock (``poolbench.sweep.lock``) from the start of the sweep to its end, and meanwhile prints a line per
finished run from the ledger ("[37/180] ok gap seed 3 · 2 failed · elapsed 12:04 · ETA 18 min";
``poolbench.sweep.watch``).

One file per job (named by its job number): no locking, any launcher, any machine that shares the sweep folder.
The jobs find their sweep's ledger through an environment variable they inherit from the launching process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from poolbench.atomic import atomic_write_json
from poolbench.errors import Abort, PoolbenchError, RunFailed, abort
from poolbench.sweep import hydra_adapter
from poolbench.sweep import lock as sweeplock
from poolbench.sweep.watch import SweepWatch

log = logging.getLogger("poolbench.sweep")

SWEEP_ID_ENV = "POOLBENCH_SWEEP_ID"
LEDGER_DIR = ".poolbench_sweeps"
FAILED = ("failed", "diverged", "requeued")  # requeued: the last word of a job that SLURM requeued


def ledger_dir(sweep_dir: str | os.PathLike[str], sweep_id: str) -> Path:
    return Path(sweep_dir) / LEDGER_DIR / sweep_id


def note_outcome(run_dir: Path, status: str, error: str | None) -> None:
    """Record one job's outcome in its sweep's ledger (nothing outside a ``-m`` sweep)."""
    sweep_id = os.environ.get(SWEEP_ID_ENV)
    hydra_cfg = hydra_adapter.runtime()
    if not sweep_id or not hydra_adapter.is_multirun() or hydra_cfg is None:
        return
    write_entry(hydra_cfg.sweep.dir, sweep_id, int(hydra_cfg.job.num), status, run_dir, error)


def write_entry(
    sweep_dir: str | os.PathLike[str], sweep_id: str, job_num: int, status: str, run_dir: Path, error: str | None
) -> None:
    """Job ``job_num``'s outcome in the ledger (a later entry for the same job replaces it: a requeued job's
    last attempt, or the launcher's word on a job that died)."""
    entry = {"status": status, "run_dir": str(run_dir), "error": error}
    try:
        atomic_write_json(ledger_dir(sweep_dir, sweep_id) / f"job{job_num}.json", entry)
    except OSError as problem:
        log.warning("could not note the outcome of %s in the sweep ledger: %s", run_dir, problem)


def read_ledger(sweep_dir: str | os.PathLike[str], sweep_id: str) -> list[dict[str, Any]]:
    return [entry for _, entry in ledger_entries(sweep_dir, sweep_id)]


def ledger_entries(sweep_dir: str | os.PathLike[str], sweep_id: str) -> list[tuple[Path, dict[str, Any]]]:
    """(file, entry) of every job that noted its outcome so far, by file name."""
    entries = []
    for path in sorted(ledger_dir(sweep_dir, sweep_id).glob("job*.json")):
        try:
            entries.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except FileNotFoundError:
            continue  # the sweep's end removed it meanwhile
        except (OSError, json.JSONDecodeError):
            entries.append((path, {"status": "failed", "run_dir": str(path), "error": "unreadable ledger entry"}))
    return entries


def summary_line(entries: Sequence[dict[str, Any]]) -> str:
    def count(*statuses: str) -> int:
        return sum(entry["status"] in statuses for entry in entries)

    diverged = count("diverged")
    failed = f"{count(*FAILED)} failed" + (f" ({diverged} diverged)" if diverged else "")
    return f"{count('ok')} ok, {failed}, {count('skipped')} skipped"


# The running sweep's watch, outside the callback: launchers pickle the callbacks to send them to their workers.
_WATCH: dict[str, SweepWatch] = {}


class SweepSummary(Callback):
    """Prints "N ok, M failed, K skipped" when a multirun ends; exit code 1 on failures.

    Listed before the report callback in ``conf/config.yaml``: Hydra calls ``on_multirun_end`` in reverse
    order, so the report is written before this callback ends the program."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        try:
            sweeplock.acquire(config.hydra.sweep.dir, sweep_id)
        except PoolbenchError as error:
            abort(error)
        os.environ[SWEEP_ID_ENV] = sweep_id
        sweep_dir = str(config.hydra.sweep.dir)
        _WATCH[sweep_id] = SweepWatch(lambda: ledger_entries(sweep_dir, sweep_id), hydra_adapter.sweep_size(config))
        _WATCH[sweep_id].start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_id = os.environ.pop(SWEEP_ID_ENV, None)
        if not sweep_id:
            return
        if sweep_id in _WATCH:
            _WATCH.pop(sweep_id).stop()  # the last runs' lines, before the ledger goes
        entries = read_ledger(config.hydra.sweep.dir, sweep_id)
        shutil.rmtree(ledger_dir(config.hydra.sweep.dir, sweep_id), ignore_errors=True)
        sweeplock.release(config.hydra.sweep.dir, sweep_id)
        with contextlib.suppress(OSError):  # no other sweep is writing to this folder: leave nothing behind
            ledger_dir(config.hydra.sweep.dir, sweep_id).parent.rmdir()
        for entry in entries:
            if entry["status"] in FAILED:
                print(f"  {entry['status']}: {entry['run_dir']}: {entry.get('error') or ''}")
        line = f"poolbench sweep: {summary_line(entries)}"
        if not entries:
            line += " (no job reported an outcome; see the job logs)"
        print(line, flush=True)  # once, as a plain line (a log record too would print it a second time)
        failed = sum(entry["status"] in FAILED for entry in entries)
        if not entries:
            raise Abort(RunFailed("no job of the sweep reported an outcome; see the job logs"))
        if failed:
            raise Abort(
                RunFailed(
                    f"{failed} of {len(entries)} runs failed or diverged (listed above); "
                    "rerun the same command to retry them, finished runs are skipped"
                )
            )
