"""Preflight: every check that can fail on bad input, run before Hydra creates a run directory.

Hydra makes the job's output directory and writes ``.hydra/`` and the job log *before* it calls the task
function, so a check made there leaves a half-made run directory behind. ``PreflightCallback`` (registered in
``conf/config.yaml`` under ``hydra.callbacks``) runs at ``on_run_start`` / ``on_multirun_start``, which Hydra
calls after composing the config and before any directory exists. For a sweep it composes every job of the
sweep the way Hydra's basic sweeper will, so a typo in the last job stops the sweep before the first one runs.

Checks, cheapest first (a config typo never waits for torch or the dataset):
1. ``config.validate``: types, ranges, unknown keys, combinations (no torch);
2. output directories can be created and written, ``data_dir`` is a directory if it exists;
3. head/backbone arguments match their class; the device exists;
4. an existing ``result.json`` in the run directory is readable; an existing checkpoint belongs to this run;
5. the dataset loads (kept in data.py's in-process cache, so the run reuses it) and the split sizes fit;
6. the model builds, and runs at ``dataset.eval_image_size`` if one is set.
A failure prints one paragraph and exits (2: usage, 1: environment); no file has been written.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from poolbench.config import validate, validate_components
from poolbench.errors import ConfigError, OutputPathError, PoolbenchError, exit_with, tracebacks_requested

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
_STATE = {"reached": False}


def reached() -> bool:
    """True once the config composed and poolbench's own checks began (the CLI maps earlier failures to 2)."""
    return _STATE["reached"]


def mark_reached() -> None:
    _STATE["reached"] = True


@dataclass
class Job:
    """One run of a sweep (or the single run): its config without ``hydra`` and its output directory."""

    cfg: DictConfig
    output_dir: Path
    results_key: str  # the config key that chose the output directory, for messages


# ----------------------------------------------------------------------------------------------- Hydra side
class PreflightCallback(Callback):
    """Hydra callback: check the run (or every job of a sweep) before Hydra writes anything."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _guard(config, lambda: [job_for_run(config)])

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _guard(config, lambda: jobs_for_sweep(config))


def _guard(config: DictConfig, make_jobs: Callable[[], list[Job]]) -> None:
    mark_reached()
    verbose = OmegaConf.select(config, "hydra.verbose", default=False)
    try:
        try:
            jobs = make_jobs()
        except OmegaConfBaseException as error:  # e.g. trainer.lr=${nowhere}, met while resolving the run dir
            raise unresolvable_override(config, error) from error
        check_jobs(jobs)
    except PoolbenchError as error:  # exit here: Hydra turns an exception raised in a callback into a warning
        if tracebacks_requested(verbose):
            traceback.print_exc()
        exit_with(error)


def unresolvable_override(config: DictConfig, error: OmegaConfBaseException) -> ConfigError:
    """Name the override whose ${...} cannot be resolved (OmegaConf names the node that used it instead)."""
    overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False) or []
    culprits = [str(o) for o in overrides if "${" in str(o)]  # type: ignore[union-attr]
    key, _, value = (culprits[0] if culprits else f"{getattr(error, 'full_key', 'config')}=?").partition("=")
    return ConfigError(
        key, value, "a value, or an interpolation ${...} of a key that exists",
        f"fix the interpolation ({_first_line(error)})", problem="Unresolvable config",
    )  # fmt: skip


def _select_with_hydra(config: DictConfig, key: str) -> str:
    """Resolve a ``hydra.*`` value (it may use ``${hydra:...}`` or ``${now:...}``) with HydraConfig set."""
    instance = HydraConfig.instance()
    saved = instance.cfg
    instance.set_config(config)
    try:
        return str(OmegaConf.select(config, key))
    finally:
        instance.cfg = saved


def _task_config(config: DictConfig, output_dir: Path) -> DictConfig:
    """The config the task function will see (no ``hydra`` node), with ``paths.output_dir`` filled in."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
        if OmegaConf.select(task, "paths") is not None:
            task.paths.output_dir = str(output_dir)
    return task


def job_for_run(config: DictConfig) -> Job:
    output_dir = Path(os.path.abspath(_select_with_hydra(config, "hydra.run.dir")))
    return Job(_task_config(config, output_dir), output_dir, "paths.results_dir=... (or hydra.run.dir=...)")


def jobs_for_sweep(config: DictConfig) -> list[Job]:
    """Compose every job of a sweep as Hydra's basic sweeper and launcher will (other sweepers: the base config)."""
    sweeper = OmegaConf.select(config, "hydra.sweeper._target_")
    if sweeper != BASIC_SWEEPER:
        return [job_for_run_in_sweep(config, Path(_select_with_hydra(config, "hydra.sweep.dir")))]
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    loader = GlobalHydra.instance().config_loader()
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))  # type: ignore[arg-type]
    jobs: list[Job] = []
    try:
        overrides = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
        for index, job_overrides in enumerate(BasicSweeper.split_arguments(overrides, None)[0]):
            job_config = loader.load_sweep_config(config, list(job_overrides))
            with open_dict(job_config):
                job_config.hydra.job.id = index
                job_config.hydra.job.num = index
            jobs.append(job_for_run_in_sweep(job_config, None))
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError("sweep", " ".join(arguments), "overrides that compose for every job", str(error).strip(),
                          problem="Invalid sweep")  # fmt: skip
    return jobs


def job_for_run_in_sweep(config: DictConfig, output_dir: Path | None) -> Job:
    if output_dir is None:
        sweep_dir = _select_with_hydra(config, "hydra.sweep.dir")
        output_dir = Path(sweep_dir) / _select_with_hydra(config, "hydra.sweep.subdir")
    output_dir = Path(os.path.abspath(output_dir))
    return Job(_task_config(config, output_dir), output_dir, "paths.results_dir=... (or hydra.sweep.dir=...)")


# ----------------------------------------------------------------------------------------------- checks
def check_jobs(jobs: list[Job]) -> None:
    """All checks for all jobs, cheapest stage first across the whole sweep."""
    plain = [validate(job.cfg) for job in jobs]
    for job, data in zip(jobs, plain):
        check_output_dir(job.output_dir, job.results_key)
        if data["dataset"].get("kind") != "synthetic":
            check_data_dir(Path(data["data_dir"]).expanduser())
    built: set[str] = set()
    for job, data in zip(jobs, plain):
        validate_components(data)
        check_device(data["trainer"])
        check_existing_record(job.output_dir, data)
        check_data(data)
        check_model(data, built)


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


def check_device(trainer: dict[str, Any]) -> None:
    from poolbench.train import resolve_device

    resolve_device(str(trainer.get("device", "auto")))


def check_existing_record(output_dir: Path, data: dict[str, Any]) -> None:
    """A result.json already in the run directory must be readable; a checkpoint must belong to this run."""
    from poolbench.record import CHECKPOINT_FILE, RESULT_FILE, compute_run_key, read_result

    if (output_dir / RESULT_FILE).exists():
        read_result(output_dir / RESULT_FILE)
    checkpoint = output_dir / CHECKPOINT_FILE
    if data["trainer"].get("checkpoint", True) and checkpoint.exists():
        from poolbench.train import load_checkpoint

        load_checkpoint(checkpoint, compute_run_key(data))


def check_data(data: dict[str, Any]) -> None:
    """Load the dataset now (data.py keeps it for the run) and check the split sizes against it."""
    from poolbench.data import load_raw, split_indices

    dataset = data["dataset"]
    raw = load_raw(dataset, data["data_dir"])
    split_indices(len(raw.train_y), float(dataset.get("val_fraction", 0.1)), int(dataset.get("split_seed", 0)),
                  dataset.get("train_samples"))  # fmt: skip
    test_samples = dataset.get("test_samples")
    if test_samples is not None and test_samples > len(raw.test_y):
        raise ConfigError("dataset.test_samples", test_samples, f"at most {len(raw.test_y)} (the test split), or null",
                          "set dataset.test_samples=null for the whole test split")  # fmt: skip


def check_model(data: dict[str, Any], built: set[str]) -> None:
    """Build each distinct model once (CPU) and run it at the evaluation size, if that differs."""
    import torch

    from poolbench.models import build_classifier

    dataset, backbone, head = data["dataset"], data["backbone"], data["head"]
    channels, size, classes = int(dataset["channels"]), int(dataset["image_size"]), int(dataset["num_classes"])
    eval_size = dataset.get("eval_image_size") or size
    key = json.dumps([backbone, head, channels, size, classes, eval_size], sort_keys=True, default=str)
    if key in built:
        return
    rng = torch.get_rng_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _ = build_classifier(backbone, head, channels, size, classes)
    except PoolbenchError:
        raise
    except Exception as error:
        raise ConfigError(
            f"backbone={backbone['name']} head={head['name']}", _first_line(error),
            "arguments their classes accept", "check the backbone.* and head.* values",
            problem="Cannot build the model",
        ) from None  # fmt: skip
    finally:
        torch.set_rng_state(rng)
    if eval_size != size:
        check_eval_size(model, head["name"], channels, size, eval_size)
    built.add(key)


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
                "dataset.eval_image_size", eval_size,
                f"null or {size} for head={head_name}, which is tied to the {built} feature map of {size}px inputs "
                f"({eval_size}px gives {got})",
                "drop dataset.eval_image_size, or use a global pooling head (gap, gmp, gem, lse, ...)",
            ) from None  # fmt: skip


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def check_config(cfg: DictConfig, output_dir: Path | None = None) -> None:
    """All preflight checks for one composed task config (no ``hydra`` node), e.g. from tests or Python."""
    target = Path(output_dir or cfg.paths.output_dir)
    check_jobs([Job(cfg, target, "paths.output_dir=...")])


__all__: Iterable[str] = ["PreflightCallback", "check_config", "check_jobs", "reached"]
