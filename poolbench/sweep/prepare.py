"""One prepare step per run: a job's task config -> ``PreparedRun``, done once per process.

Preparing validates the config into ``Settings`` (which carry the run key, computed once in validation), and
reads the run folder once to decide what happens there (new, resume, retry, done, another config's). The
preflight prepares every job before Hydra writes anything and keeps the result here; the task function
(``poolbench.cli``) and the launchers (``poolbench.sweep.launch``) take the same ``PreparedRun`` instead of
validating again. The preflight's model check builds the first run of each architecture with that run's seed
and leaves the model on the ``PreparedRun``, which ``run()`` then trains, so a single run builds one model.

A launcher worker in another process (joblib, submitit) has no preflight of its own: it prepares its job once.

One writer per run folder (``poolbench.sweep.runlock``): ``lock_runs`` (the preflight) takes the folders' locks
before a run's checkpoint is loaded or anything is written, then reads each folder again under the lock;
``prepare_to_run`` (the task function) holds the lock before preparing, and ``forget`` lets it go.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from poolbench.config.settings import Settings
from poolbench.config.validate import validate
from poolbench.record import RunRecord
from poolbench.sweep import runlock
from poolbench.sweep.rundir import FolderState, done_record, read_folder


@dataclass
class PreparedRun:
    """One run, prepared once: its config, folder, validated settings and what its folder holds."""

    cfg: DictConfig  # the task config (no ``hydra`` node), ``paths.output_dir`` filled in
    run_dir: Path
    settings: Settings
    folder: FolderState
    results_key: str = "paths.output_dir=..."  # the config key that chose the folder, for messages
    model: Any = None  # built by the preflight for this run's seed; taken (once) by the run

    @property
    def will_skip(self) -> bool:
        """Done and not forced: no data, no model, no run."""
        return self.folder.kind == "done" and not self.settings.force

    def done_record(self) -> RunRecord | None:
        """The finished record to skip with, or None to run (``force`` clears the folder's earlier attempt)."""
        return done_record(
            self.run_dir, self.settings.run_key, self.folder, self.settings.force, self.settings.dataset.content_key
        )

    def take_model(self) -> Any:
        model, self.model = self.model, None
        return model


_PREPARED: dict[Path, PreparedRun] = {}


def prepare(cfg: DictConfig, run_dir: Path, results_key: str = "paths.output_dir=...") -> PreparedRun:
    """The ``PreparedRun`` of ``cfg`` in ``run_dir``: the one prepared earlier in this process for the same
    config and folder, else a new one (validated once, folder read once)."""
    run_dir = Path(run_dir).resolve()
    earlier = _PREPARED.get(run_dir)
    if earlier is not None and _same_config(earlier.cfg, cfg):
        return earlier
    settings = validate(cfg)
    folder = read_folder(run_dir, settings.run_key, settings.resolved)
    prepared = PreparedRun(cfg, run_dir, settings, folder, results_key)
    _PREPARED[run_dir] = prepared
    return prepared


def prepare_to_run(cfg: DictConfig, run_dir: Path) -> PreparedRun:
    """In the process that runs the job: hold the run folder's lock (``RunLocked`` if another process writes
    it), then ``prepare``."""
    runlock.acquire(run_dir)
    return prepare(cfg, run_dir)


def lock_runs(jobs: list[PreparedRun]) -> None:
    """Hold the lock of every job's folder that will be written (``RunLocked`` at the first one another process
    holds; the ones taken so far are let go), and read each folder again under its lock: what it holds now is
    what the run acts on."""
    try:
        for job in jobs:
            if job.will_skip:
                continue  # only read: a finished run is skipped without writing
            runlock.acquire(job.run_dir)
            job.folder = read_folder(job.run_dir, job.settings.run_key, job.settings.resolved)
    except Exception:
        unlock_runs(jobs)
        raise


def unlock_runs(jobs: list[PreparedRun]) -> None:
    for job in jobs:
        runlock.release(job.run_dir)


def forget(run_dir: Path) -> None:
    """Drop a prepared run and its folder's lock (its job has run: a later job in this folder reads the folder
    afresh)."""
    _PREPARED.pop(Path(run_dir).resolve(), None)
    runlock.release(run_dir)


def _same_config(a: DictConfig, b: DictConfig) -> bool:
    """The same task config, up to how ``paths.output_dir`` is written (a path or Hydra's interpolation)."""
    return _comparable(a) == _comparable(b)


def _comparable(cfg: DictConfig) -> Any:
    data = OmegaConf.to_container(cfg, resolve=False)
    if isinstance(data, dict):
        data.pop("hydra", None)
        paths = data.get("paths")
        if isinstance(paths, dict):
            data["paths"] = {key: value for key, value in paths.items() if key != "output_dir"}
    return data
