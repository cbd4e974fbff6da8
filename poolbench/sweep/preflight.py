"""Preflight: every check that can fail on bad input, run before Hydra creates a run directory.

Hydra makes the job's output directory and writes ``.hydra/`` and the job log *before* it calls the task
function, so a check made there leaves a half-made run directory behind. ``PreflightCallback`` (registered in
``conf/config.yaml`` under ``hydra.callbacks``) runs at ``on_run_start`` / ``on_multirun_start``, which Hydra
calls after composing the config and before any directory exists. For a sweep it composes every job of the
sweep the way Hydra's basic sweeper will, so a typo in the last job stops the sweep before the first one runs.

Checks, cheapest first (a config typo never waits for torch or the dataset):
1. ``prepare`` (``validate``: types, ranges, unknown keys, combinations; no torch; the run folder read once);
   the trackers' packages;
2. output directories can be created and written, ``data_dir`` is a directory if it exists;
3. head/backbone arguments match their class; the device exists;
4. an existing ``result.json`` in the run directory is readable (read when preparing); a checkpoint belongs
   to this run;
5. the dataset loads (``data.load`` keeps it, so a run in this process reuses it) and the split sizes fit;
6. the model builds (kept for the run: ``PreparedRun.model``), and runs at ``dataset.eval_image_size`` if set.
A failure prints one paragraph and exits (2: usage, 1: environment); no file has been written.

Between stages 2 and 3 the preflight takes the lock of every run folder it will write (``lock_runs``; for a
single run, and for every job of a basic-sweeper sweep): a run folder another process writes stops the command
here, with one line naming that process (exit 2), before its checkpoint is loaded or anything is written.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from poolbench.config.catalog import GENERATED_KINDS
from poolbench.config.components import validate_components
from poolbench.config.settings import Settings
from poolbench.config.split_sizes import check_split_sizes
from poolbench.errors import ConfigError, OutputPathError, PoolbenchError, abort
from poolbench.record import CHECKPOINT_FILE
from poolbench.sweep import hydra_adapter, runlock
from poolbench.sweep.plugins import keep_threads_without_sweep
from poolbench.sweep.prepare import PreparedRun, lock_runs, prepare, unlock_runs
from poolbench.trackers.registry import check_trackers_installed


# ----------------------------------------------------------------------------------------------- Hydra side
class PreflightCallback(Callback):
    """Hydra callback: check the run (or every job of a sweep) before Hydra writes anything."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        keep_threads_without_sweep(config)
        _guard(config, lambda: [job_for_run(config)], lock=True)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        runlock.hand_to_workers()
        # Other sweepers choose their jobs as they go: each job's process takes its own folder's lock.
        _guard(config, lambda: jobs_for_sweep(config), lock=hydra_adapter.uses_basic_sweeper(config))


def _guard(config: DictConfig, make_jobs: Callable[[], list[PreparedRun]], lock: bool) -> None:
    """Run the checks; a failure leaves the program here (Hydra turns an exception in a callback into a warning)."""
    verbose = bool(OmegaConf.select(config, "hydra.verbose", default=False))
    try:
        try:
            jobs = make_jobs()
        except OmegaConfBaseException as error:  # e.g. trainer.lr=${nowhere}, met while resolving the run dir
            raise unresolvable_override(config, error) from error
        check_outputs(jobs)
        if lock:
            lock_runs(jobs)
        try:
            check_runs(jobs)
        except PoolbenchError:
            unlock_runs(jobs)
            raise
    except PoolbenchError as error:
        abort(error, verbose)


def unresolvable_override(config: DictConfig, error: OmegaConfBaseException) -> ConfigError:
    """Name the override whose ${...} cannot be resolved (OmegaConf names the node that used it instead)."""
    overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False) or []
    culprits = [str(o) for o in overrides if "${" in str(o)]
    key, _, value = (culprits[0] if culprits else f"{getattr(error, 'full_key', 'config')}=?").partition("=")
    return ConfigError(
        key,
        value,
        "a value, or an interpolation ${...} of a key that exists",
        f"fix the interpolation ({_first_line(error)})",
        problem="Unresolvable config",
    )


def _task_config(config: DictConfig, output_dir: Path) -> DictConfig:
    """The config the task function will see (no ``hydra`` node), with ``paths.output_dir`` filled in."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
        if OmegaConf.select(task, "paths") is not None:
            task.paths.output_dir = str(output_dir)
    return task


def job_for_run(config: DictConfig) -> PreparedRun:
    output_dir = Path(os.path.abspath(hydra_adapter.select_with_hydra(config, "hydra.run.dir")))
    return prepare(_task_config(config, output_dir), output_dir, "paths.results_dir=... (or hydra.run.dir=...)")


def jobs_for_sweep(config: DictConfig) -> list[PreparedRun]:
    """Every job of a sweep as Hydra's basic sweeper and launcher will compose it (other sweepers: the base
    config, since they choose their jobs as they go)."""
    if not hydra_adapter.uses_basic_sweeper(config):
        sweep_dir = Path(hydra_adapter.select_with_hydra(config, "hydra.sweep.dir"))
        return [job_for_run_in_sweep(config, sweep_dir)]
    try:
        return [job_for_run_in_sweep(job, None) for job in hydra_adapter.sweep_job_configs(config)]
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(
            "sweep",
            " ".join(hydra_adapter.sweep_arguments(config)),
            "overrides that compose for every job",
            str(error).strip(),
            problem="Invalid sweep",
        ) from None


def job_for_run_in_sweep(config: DictConfig, output_dir: Path | None) -> PreparedRun:
    if output_dir is None:
        sweep_dir = hydra_adapter.select_with_hydra(config, "hydra.sweep.dir")
        output_dir = Path(sweep_dir) / hydra_adapter.select_with_hydra(config, "hydra.sweep.subdir")
    output_dir = Path(os.path.abspath(output_dir))
    return prepare(_task_config(config, output_dir), output_dir, "paths.results_dir=... (or hydra.sweep.dir=...)")


# ----------------------------------------------------------------------------------------------- checks
def check_jobs(jobs: list[PreparedRun]) -> None:
    """All checks for all prepared jobs, cheapest stage first across the whole sweep."""
    check_outputs(jobs)
    check_runs(jobs)


def check_outputs(jobs: list[PreparedRun]) -> None:
    """Stages 1-2: the trackers' packages, and the folders the runs write and read."""
    for job in jobs:
        check_trackers_installed(job.settings.logger)
    for job in jobs:
        check_output_dir(job.run_dir, job.results_key)
        if job.settings.dataset.kind not in GENERATED_KINDS:
            check_data_dir(Path(job.settings.data_dir).expanduser())


def check_runs(jobs: list[PreparedRun]) -> None:
    """Stages 3-6: components, device, checkpoint, data, model (a finished run that is skipped: none)."""
    built: set[str] = set()
    for job in jobs:
        if job.will_skip:
            continue  # skipped without loading data or building a model: a finished sweep re-runs in seconds
        validate_components(job.settings.resolved)
        check_device(job.settings)
        check_checkpoint(job)
        check_data(job.settings)
        check_model(job, built)


def first_existing(path: Path) -> Path:
    while not path.exists() and not path.is_symlink() and path.parent != path:
        path = path.parent
    return path


def check_output_dir(directory: Path, key: str) -> None:
    """The run directory can be created (or exists as a directory) and is writable; nothing is left behind."""
    existing = first_existing(directory)
    if not existing.is_dir():
        raise OutputPathError(
            f"Cannot create the output directory {directory}: {existing} exists and is not a directory. "
            f"Fix: rename or remove that file, or point {key} at a folder."
        )
    try:  # os.access is not enough: root passes it on /proc, and on read-only or full file systems
        os.rmdir(tempfile.mkdtemp(prefix=".poolbench-probe-", dir=existing))
    except OSError as error:
        raise OutputPathError(
            f"Cannot write the output directory {directory}: {existing} is not writable ({error.strerror}). "
            f"Fix: point {key} at a writable folder, or fix its permissions."
        ) from None


def check_data_dir(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise OutputPathError(
            f"data_dir={data_dir} exists and is not a directory. Fix: point data_dir=... at the folder that holds "
            "(or will hold) the datasets, e.g. data_dir=data."
        )


def check_device(settings: Settings) -> None:
    from poolbench.runtime import resolve_device

    resolve_device(settings.trainer.device)


def check_checkpoint(job: PreparedRun) -> None:
    """A checkpoint in the run directory must belong to this run (its result.json was read when preparing); one
    of this config's run on images that changed since is stale: the run clears it."""
    checkpoint = job.run_dir / CHECKPOINT_FILE
    if job.settings.force:
        return  # the run clears it unread
    if job.settings.trainer.checkpoint and checkpoint.exists() and job.folder.kind != "stale":
        from poolbench.training.checkpoint import load_checkpoint

        load_checkpoint(checkpoint, job.settings.run_key)


def check_data(settings: Settings) -> None:
    """Load the dataset now (``load_raw`` keeps it for a run in this process) and check the split sizes."""
    from poolbench.data.draws import draw_for
    from poolbench.data.load import load_raw

    raw = load_raw(settings.dataset, settings.data_dir, draw_for(settings.dataset, settings.seed).probe_stream)
    own_val = None if raw.val_y is None else len(raw.val_y)  # an image folder's val/: no carve-out
    check_split_sizes(settings.dataset, (len(raw.train_y), len(raw.test_y)), own_val)


def check_model(job: PreparedRun, built: set[str]) -> None:
    """Build each distinct model once (CPU, with the seed of the first run that uses it) and run it at the
    evaluation size, if that differs. That run takes the model (``PreparedRun.model``) instead of building it."""
    import torch

    from poolbench.models import build_classifier

    settings = job.settings
    dataset, backbone, head = settings.dataset, dict(settings.backbone), dict(settings.head)
    channels, size, classes = dataset.channels, dataset.image_size, dataset.num_classes
    eval_size = dataset.eval_image_size or size
    key = json.dumps([backbone, head, channels, size, classes, eval_size], sort_keys=True, default=str)
    if key in built:
        return
    rng = torch.get_rng_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _ = build_classifier(backbone, head, channels, size, classes, seed=settings.seed)
    except PoolbenchError:
        raise
    except Exception as error:
        raise ConfigError(
            f"backbone={backbone['name']} head={head['name']}",
            _first_line(error),
            "arguments their classes accept",
            "check the backbone.* and head.* values",
            problem="Cannot build the model",
        ) from None
    finally:
        torch.set_rng_state(rng)
    if eval_size != size:
        check_eval_size(model, head["name"], channels, size, eval_size)
    built.add(key)
    job.model = model


def check_eval_size(model: Any, head_name: str, channels: int, size: int, eval_size: int) -> None:
    """Run the model at ``eval_size``: a head tied to its input size (flatten + dense) fails here, not mid-run."""
    import torch

    model.eval()
    with torch.no_grad():
        features = model.backbone(torch.zeros(1, channels, eval_size, eval_size))
        try:
            model.head(features)
        except Exception:
            built = "x".join(str(v) for v in model.backbone(torch.zeros(1, channels, size, size)).shape[2:])
            got = "x".join(str(v) for v in features.shape[2:])
            raise ConfigError(
                "dataset.eval_image_size",
                eval_size,
                f"null or {size} for head={head_name}, which is tied to the {built} feature map of {size}px inputs "
                f"({eval_size}px gives {got})",
                "drop dataset.eval_image_size, or use a global pooling head (gap, gmp, gem, lse, ...)",
            ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def check_config(cfg: DictConfig, output_dir: Path | None = None) -> None:
    """All preflight checks for one composed task config (no ``hydra`` node), e.g. from tests or Python."""
    target = Path(output_dir or cfg.paths.output_dir)
    check_jobs([prepare(cfg, target)])


__all__ = ["PreflightCallback", "check_config", "check_jobs"]
