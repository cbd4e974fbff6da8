"""Sweeps that survive: a run directory per config, skip what is done, stop cleanly, failures as results.

Hydra launches the jobs (basic, joblib, submitit); this module decides what one job does around ``run(cfg)``:

- ``variant_suffix``: the resolver behind ``hydra.run.dir`` / ``hydra.sweep.subdir``. Overrides that are not
  already in the path (``trainer.lr=0.1``, ``backbone.widths=[8,16]``) add ``-<hash>`` to the run directory,
  so two configs never share one; the common case keeps the plain ``.../seed0`` path.
- ``SweepJob.skip_if_done``: a directory holding ``result.json`` with status ok and this run key is skipped
  without importing torch; a directory of another config is refused (``force=true`` replaces it).
- ``sweep_job``: SIGTERM/SIGINT become ``RunInterrupted`` (the last epoch's checkpoint stays; a rerun resumes);
  in a multirun a failing job is recorded and the sweep goes on; every job notes its outcome in a ledger that
  ``SweepSummary`` (a Hydra callback, run by the launching process with every launcher) prints as
  "N ok, M failed, K skipped" at the end.

Nothing here imports torch: skipping a finished run must stay fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from poolbench.atomic import atomic_write_json
from poolbench.errors import PoolbenchError
from poolbench.record import (
    CHECKPOINT_FILE, CONFIG_FILE, EPOCHS_FILE, NON_SEMANTIC_KEYS, RESULT_FILE, RunRecord, compute_run_key,
    read_result,
)  # fmt: skip

log = logging.getLogger("poolbench.sweep")

VARIANT_RESOLVER = "poolbench_variant"
SWEEP_ID_ENV = "POOLBENCH_SWEEP_ID"
LEDGER_DIR = ".poolbench_sweeps"
# Overrides already visible in the run path (or naming an experiment/launcher preset, which set `name`) and
# overrides that do not change what is computed: they leave the run directory plain.
PATH_KEYS = ("name", "seed", "dataset", "backbone", "head", "experiment", "launcher")
HOW_NOT_WHAT_KEYS = ("jobs", "trainer.threads")

_exit_code = 0


# ----------------------------------------------------------------------------------------------- run dirs
def _override_key(override: str) -> str:
    return override.lstrip("~+").split("=", 1)[0].strip()


def _changes_the_computation(key: str) -> bool:
    root = key.split(".", 1)[0].split("/", 1)[0].split("@", 1)[0]
    if key in PATH_KEYS or key in HOW_NOT_WHAT_KEYS or root in NON_SEMANTIC_KEYS:
        return False
    return True


def variant_suffix(task_overrides: Sequence[Any] | None) -> str:
    """'' when only path-visible or non-semantic keys were overridden, else '-' + 8 hex of the other overrides.

    Sorted, so the order on the command line does not matter."""
    kept = sorted(str(o) for o in (task_overrides or ()) if _changes_the_computation(_override_key(str(o))))
    if not kept:
        return ""
    return "-" + hashlib.sha256("\n".join(kept).encode()).hexdigest()[:8]


def register_resolvers() -> None:
    OmegaConf.register_new_resolver(VARIANT_RESOLVER, variant_suffix, replace=True)


# ----------------------------------------------------------------------------------------------- skip / refuse
class RunDirConflict(PoolbenchError):
    """The run directory holds the record of a different config."""

    exit_code = 2


def recorded_run_key(run_dir: Path) -> str | None:
    """Run key of whatever run lives in ``run_dir``: from result.json, else from its config.yaml."""
    if (run_dir / RESULT_FILE).is_file():
        return read_result(run_dir).run_key
    if (run_dir / CONFIG_FILE).is_file():
        saved = OmegaConf.to_container(OmegaConf.load(run_dir / CONFIG_FILE), resolve=False)
        return compute_run_key(saved)  # type: ignore[arg-type]
    return None


def clear_run(run_dir: Path) -> None:
    """``force=true``: forget the earlier attempt (record, curve, checkpoint) so the run starts at epoch 0."""
    for name in (RESULT_FILE, EPOCHS_FILE, CHECKPOINT_FILE):
        (run_dir / name).unlink(missing_ok=True)


def is_multirun() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # HydraConfig not set: called outside @hydra.main (tests, scripts)
        return False


# ----------------------------------------------------------------------------------------------- signals
class RunInterrupted(Exception):
    """SIGTERM or SIGINT arrived during a run; its last epoch-end checkpoint is on disk."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; rerun the same command to resume from the last checkpoint")


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


# ----------------------------------------------------------------------------------------------- one job
@dataclass
class SweepJob:
    cfg: DictConfig
    run_dir: Path
    status: str | None = None  # ok | diverged | failed | skipped, once known
    error: str | None = None

    def finish(self, record: RunRecord) -> None:
        self.status, self.error = record.status, record.error

    def skip_if_done(self) -> RunRecord | None:
        """The finished record when this run is done (then skip it); None when it must (re)run."""
        began = time.perf_counter()
        if bool(self.cfg.get("force", False)):
            clear_run(self.run_dir)
            return None
        existing = recorded_run_key(self.run_dir)
        if existing is None:
            return None
        resolved = OmegaConf.to_container(self.cfg, resolve=True)
        run_key = compute_run_key(resolved)  # type: ignore[arg-type]
        if existing != run_key:
            raise RunDirConflict(
                f"{self.run_dir} holds a run of a different config (run key {existing}; this config: {run_key}), "
                "e.g. a YAML file changed since. poolbench does not overwrite it. Fix: rerun with force=true to "
                "replace it, or write elsewhere with name=NEW_NAME (or hydra.run.dir=DIR)."
            )
        if not (self.run_dir / RESULT_FILE).is_file():
            return None  # cut short: resume from its checkpoint
        record = read_result(self.run_dir)
        if record.status != "ok":
            log.info("retrying %s (last attempt: %s)", self.run_dir, record.status)
            return None
        self.status = "skipped"
        log.info(
            "skipped: %s is done (status ok, run key %s; checked in %.3fs); force=true reruns it",
            self.run_dir, run_key, time.perf_counter() - began,
        )  # fmt: skip
        return record


def _error_text(error: BaseException) -> str:
    if isinstance(error, SystemExit) and isinstance(error.__context__, PoolbenchError):
        error = error.__context__  # the CLI printed a PoolbenchError and called sys.exit
    return f"{type(error).__name__}: {error}"


@contextmanager
def sweep_job(cfg: DictConfig) -> Iterator[SweepJob]:
    """Wrap one job: signals become ``RunInterrupted``; in a multirun a failure is logged and recorded and the
    sweep goes on (Hydra's basic launcher would stop at the first exception); the outcome goes to the ledger.
    Sets the process exit code for a single run that failed or diverged."""
    global _exit_code
    job = SweepJob(cfg, Path(cfg.paths.output_dir))
    try:
        with interrupts_as_exceptions():
            yield job
    except RunInterrupted as interrupted:
        _note_outcome(job, "failed", str(interrupted))
        log.error("%s: %s", job.run_dir, interrupted)
        raise SystemExit(128 + interrupted.signum) from None
    except (Exception, SystemExit) as error:
        if isinstance(error, SystemExit) and error.code in (0, None):
            raise
        _note_outcome(job, "failed", _error_text(error))
        if not is_multirun():
            raise
        log.error("failed: %s: %s (the sweep goes on)", job.run_dir, _error_text(error), exc_info=True)
    else:
        status = job.status or "failed"
        _note_outcome(job, status, job.error)
        if status in ("failed", "diverged"):
            _exit_code = max(_exit_code, 1)


def exit_code() -> int:
    """Non-zero after a single run that diverged, or a sweep with a failed or diverged run."""
    return _exit_code


# ----------------------------------------------------------------------------------------------- ledger
def _ledger(sweep_dir: str | os.PathLike[str], sweep_id: str) -> Path:
    return Path(sweep_dir) / LEDGER_DIR / sweep_id


def _note_outcome(job: SweepJob, status: str, error: str | None) -> None:
    """One file per job of this sweep (named by its job number): no locking, any launcher, any machine."""
    sweep_id = os.environ.get(SWEEP_ID_ENV)
    if not sweep_id or not is_multirun():
        return
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    entry = {"status": status, "run_dir": str(job.run_dir), "error": error}
    try:
        atomic_write_json(_ledger(hydra_cfg.sweep.dir, sweep_id) / f"job{hydra_cfg.job.num}.json", entry)
    except OSError as problem:
        log.warning("could not note the outcome of %s in the sweep ledger: %s", job.run_dir, problem)


def read_ledger(sweep_dir: str | os.PathLike[str], sweep_id: str) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(_ledger(sweep_dir, sweep_id).glob("job*.json")):
        try:
            entries.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            entries.append({"status": "failed", "run_dir": str(path), "error": "unreadable ledger entry"})
    return entries


def summary_line(entries: Sequence[dict[str, Any]]) -> str:
    count = lambda *statuses: sum(entry["status"] in statuses for entry in entries)  # noqa: E731
    diverged = count("diverged")
    failed = f"{count('failed', 'diverged')} failed" + (f" ({diverged} diverged)" if diverged else "")
    return f"{count('ok')} ok, {failed}, {count('skipped')} skipped"


class SweepSummary(Callback):
    """Prints "N ok, M failed, K skipped" when a multirun ends and makes the exit code non-zero on failures.

    ``on_multirun_start``/``end`` run in the launching process with the basic, joblib and submitit launchers;
    the jobs (wherever they run) find the sweep's ledger through an environment variable they inherit."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ[SWEEP_ID_ENV] = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global _exit_code
        sweep_id = os.environ.pop(SWEEP_ID_ENV, None)
        if not sweep_id:
            return
        entries = read_ledger(config.hydra.sweep.dir, sweep_id)
        shutil.rmtree(_ledger(config.hydra.sweep.dir, sweep_id), ignore_errors=True)
        for entry in entries:
            if entry["status"] in ("failed", "diverged"):
                print(f"  {entry['status']}: {entry['run_dir']}: {entry.get('error') or ''}")
        line = f"poolbench sweep: {summary_line(entries)}"
        if not entries:
            line += " (no job reported an outcome; see the job logs)"
        print(line, flush=True)
        log.info(line)
        if not entries or any(entry["status"] in ("failed", "diverged") for entry in entries):
            _exit_code = max(_exit_code, 1)
