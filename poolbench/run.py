"""``run(settings) -> RunRecord``: one training run as a pure function of its settings, ending in a run record.

Everything that can fail on bad input (data, model construction) happens before the first file is written.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

import poolbench
from poolbench.config.settings import Settings
from poolbench.data.splits import DataBundle, prepare_data
from poolbench.deploy import accuracy_at_sizes, cost_fields, measure_deployment
from poolbench.models import Classifier, build_classifier
from poolbench.record import (
    CHECKPOINT_FILE,
    EPOCHS_FILE,
    PREDICTIONS_FILE,
    RunRecord,
    read_epochs,
    write_config,
    write_epochs,
    write_predictions,
    write_result,
)
from poolbench.runtime import prepare_runtime
from poolbench.step import StepContext
from poolbench.trackers.base import TrackerSet
from poolbench.trackers.registry import start_trackers
from poolbench.training.evaluate import SPLIT_METRICS, epochs_to_train_acc
from poolbench.training.loop import TrainOutcome, TrainPlan, train
from poolbench.training.predictions import prediction_arrays

log = logging.getLogger("poolbench.run")


def run(settings: Settings, model: Classifier | None = None) -> RunRecord:
    """Train one backbone x head x dataset x seed and write its run record into ``settings.paths.output_dir``.

    ``model``: the one the preflight built for this run (same config and seed), else it is built here."""
    started_at, began, cpu_began = now_iso(), time.perf_counter(), time.process_time()
    run_dir = Path(settings.paths.output_dir or ".")
    run_key = settings.run_key
    ctx = prepare_runtime(settings.trainer, settings.jobs, settings.seed)
    data = prepare_data(settings.dataset, settings.data_dir, ctx.device, settings.seed)
    model = build_model(settings, data, ctx.device, model)
    model.to(memory_format=ctx.memory_format)
    base = describe_run(settings, run_key, model, data, ctx, started_at)
    write_config(run_dir, OmegaConf.to_yaml(OmegaConf.create(dict(settings.resolved))))
    (run_dir / PREDICTIONS_FILE).unlink(missing_ok=True)  # an earlier attempt's: this one writes its own when ok
    trackers = start_trackers(settings, run_dir)

    def after_epoch(history: list[dict[str, Any]]) -> None:
        write_epochs(run_dir, history)
        trackers.on_epoch(history)

    plan = training_plan(settings, ctx, run_dir, run_key, after_epoch)
    startup = time.perf_counter() - began
    try:
        outcome = train(model, data, plan)
    except Exception as error:
        finish(run_dir, record_of_failure(base, error, run_dir), trackers)
        raise
    write_epochs(run_dir, outcome.history)
    record = record_of_outcome(base, outcome, model)
    if record.status == "ok" and outcome.test is not None:
        record = after_training(record, model, data, settings, ctx)
        write_predictions(run_dir, prediction_arrays(data, outcome.test, outcome.shift.zero_pred))
    record = dataclasses.replace(
        record,
        startup_seconds=startup,
        run_seconds=time.perf_counter() - began + outcome.carried_seconds,
        run_cpu_seconds=time.process_time() - cpu_began,
    )
    return finish(run_dir, record, trackers)


def after_training(record: RunRecord, model: Classifier, data: DataBundle, settings: Settings, ctx: StepContext):
    """The tests at other input sizes (timed with the final tests) and the deployment cost: size, and the CPU
    latency and throughput when ``deploy.timing`` (timed as deployment)."""
    began = time.perf_counter()
    deploy = settings.deploy
    batch = settings.trainer.eval_batch_size
    sizes = accuracy_at_sizes(model, data, deploy.eval_sizes, batch, ctx) if deploy.measure else {}
    tested = time.perf_counter()
    deployed = measure_deployment(model, data, deploy, ctx)
    final = (record.final_eval_seconds or 0.0) + tested - began
    return dataclasses.replace(
        record, **sizes, **deployed, final_eval_seconds=final, deploy_seconds=time.perf_counter() - tested
    )


def training_plan(
    settings: Settings, ctx: StepContext, run_dir: Path, run_key: str, after_epoch: Callable[[list[Any]], None]
) -> TrainPlan:
    return TrainPlan(
        settings.trainer,
        settings.dataset.augment,
        settings.seed,
        ctx,
        settings.dataset.eval_shifts,
        settings.dataset.shift_fills,
        checkpoint=run_dir / CHECKPOINT_FILE if settings.trainer.checkpoint else None,
        run_key=run_key,
        progress_bar=settings.progress and settings.jobs == 1,  # parallel jobs' bars would fight over a terminal
        on_epoch=after_epoch,
        label=f"{settings.head['name']} seed{settings.seed}",
    )


def finish(run_dir: Path, record: RunRecord, trackers: TrackerSet) -> RunRecord:
    """The record written (the run is done only now), and sent to the trackers."""
    write_result(run_dir, record)
    trackers.finish(record)
    return record


def build_model(settings: Settings, data: DataBundle, device: torch.device, built: Classifier | None) -> Classifier:
    """The classifier for this dataset's images (``built`` by the preflight, or built now), on ``device``; one
    log line says what runs where."""
    model = built
    if model is None:
        model, _ = build_classifier(
            settings.backbone, settings.head, data.channels, data.image_size, data.num_classes, seed=settings.seed
        )
    torch.manual_seed(settings.seed + 2_000_003)  # what follows (dropout) draws the same whoever built the model
    model.to(device)
    counts = model.param_counts()
    log.info(
        "%s | %s | %s | seed %d | %d params (head %d) | %s, %d thread%s | data from %s",
        settings.dataset.name,
        settings.backbone["name"],
        settings.head["name"],
        settings.seed,
        counts["params_total"],
        counts["params_head"],
        device,
        torch.get_num_threads(),
        "" if torch.get_num_threads() == 1 else "s",
        data.source,
    )
    return model


def describe_run(
    settings: Settings, run_key: str, model: Classifier, data: DataBundle, ctx: StepContext, started_at: str
) -> dict[str, Any]:
    """The record fields known before training: identity, model size and cost, precision, environment."""
    device = ctx.device
    return dict(
        run_key=run_key,
        dataset=settings.dataset.name,
        backbone=settings.backbone["name"],
        head=settings.head["name"],
        seed=settings.seed,
        epochs=settings.trainer.epochs,
        content_key=settings.dataset.content_key,
        **cost_fields(model, data.channels, data.image_size, device),
        device=str(device),
        precision=ctx.precision,
        torch_version=torch.__version__,
        poolbench_version=poolbench.__version__,
        git_sha=git_sha(),
        started_at=started_at,
        **model.param_counts(),
    )


def record_of_failure(base: dict[str, Any], error: BaseException, run_dir: Path) -> RunRecord:
    """The record of a run that raised (or was interrupted): the epochs its checkpoint holds, if any."""
    done = len(read_epochs(run_dir)) if (run_dir / EPOCHS_FILE).is_file() else 0
    checkpoint = str(run_dir / CHECKPOINT_FILE) if (run_dir / CHECKPOINT_FILE).is_file() else None
    return RunRecord(
        status="failed",
        error=f"{type(error).__name__}: {error}",
        finished_at=now_iso(),
        epochs_completed=done,
        checkpoint=checkpoint,
        **base,
    )


def record_of_outcome(base: dict[str, Any], outcome: TrainOutcome, model: Classifier) -> RunRecord:
    progress = outcome.progress
    return RunRecord(
        status=outcome.status,
        error=outcome.error,
        best_val_acc=outcome.best_val_acc,
        epochs_to_train_acc_90=epochs_to_train_acc(outcome.history),
        train_seconds=progress.train_seconds,
        train_cpu_seconds=progress.train_cpu_seconds,
        eval_seconds=progress.eval_seconds,
        final_eval_seconds=outcome.final_seconds,
        images_per_second=progress.images_seen / progress.train_seconds if progress.train_seconds > 0 else None,
        pool_params=model.pool_params(),
        shift_acc=outcome.shift.acc,
        shift_consistency=outcome.shift.consistency,
        shift_circular_acc=outcome.shift.circular_acc,
        shift_circular_consistency=outcome.shift.circular_consistency,
        finished_at=now_iso(),
        epochs_completed=progress.epochs_done,
        **final_metrics(outcome.final, outcome.history),
        **base,
    )


def final_metrics(final: dict[str, float], history: list[dict[str, Any]]) -> dict[str, Any]:
    """Final metrics (train measured in eval mode on the whole train split) and the generalization gaps."""
    if not final:  # diverged: report the last completed epoch, if any
        if not history:
            return {}
        final = {key: history[-1][key] for key in SPLIT_METRICS}
    metrics = {key: final[key] for key in ("test_acc", "test_loss", "val_acc", "val_loss", "train_acc", "train_loss")}
    metrics["overfit_acc"] = final["train_acc"] - final["test_acc"]
    metrics["overfit_loss"] = final["test_loss"] - final["train_loss"]
    return metrics


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(poolbench.__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
