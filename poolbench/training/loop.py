"""``train(model, data, plan)``: the epoch loop, with its divergence guard, checkpoints and progress.

Randomness per epoch (data order, crops, flips) comes from a generator seeded by (seed, epoch), so an epoch is
the same whether the run went straight through or resumed from a checkpoint.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poolbench.config.settings import SHIFT_MODES, AugmentSettings, TrainerSettings
from poolbench.data.batches import epoch_batches
from poolbench.data.splits import DataBundle
from poolbench.step import EpochStats, StepContext, TrainStep, train_epoch
from poolbench.training.checkpoint import Progress, resume, save_checkpoint
from poolbench.training.evaluate import Evaluator, Scores, ShiftTest, best_val_acc, train_subset
from poolbench.training.optim import build_train_step, epoch_steps
from poolbench.training.progress import RunProgress

log = logging.getLogger("poolbench.train")


@dataclass
class TrainPlan:
    """Everything ``train`` needs besides the model and the data."""

    trainer: TrainerSettings
    augment: AugmentSettings
    seed: int
    ctx: StepContext
    eval_shifts: tuple[int, ...] = ()
    shift_fills: tuple[str, ...] = SHIFT_MODES
    checkpoint: Path | None = None  # None: no checkpoints, no resume
    run_key: str = ""
    progress_bar: bool = True
    on_epoch: Callable[[list[dict[str, Any]]], None] | None = None  # after each epoch, with the history so far
    label: str = ""  # names the run in its progress lines (head, seed, ...)


@dataclass
class TrainOutcome:
    status: str  # ok | diverged
    progress: Progress
    best_val_acc: float | None
    error: str | None = None
    final: dict[str, float] = field(default_factory=dict)
    shift: ShiftTest = field(default_factory=ShiftTest)
    test: Scores | None = None  # the final test pass, image by image (predictions.npz); None unless ok
    final_seconds: float = 0.0  # final metrics and the translation test
    carried_seconds: float = 0.0  # training and evaluation seconds of earlier attempts (from the checkpoint)

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.progress.history


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def train(model: nn.Module, data: DataBundle, plan: TrainPlan) -> TrainOutcome:
    """Train for ``plan.trainer.epochs`` epochs (resuming from ``plan.checkpoint`` if it holds this run); the
    trained model then takes the translation test at each of ``plan.eval_shifts`` pixels (``plan.shift_fills``)."""
    trainer = plan.trainer
    steps_per_epoch, drop_last = epoch_steps(len(data.train), trainer.batch_size)
    step = build_train_step(model, trainer, plan.ctx, steps_per_epoch)
    curve = train_subset(data.train, trainer.train_eval_samples or len(data.test))
    evaluator = Evaluator(model, data, trainer.eval_batch_size, plan.ctx, curve, trainer.curves)
    progress = resume(plan.checkpoint, plan.run_key, model, step, trainer.epochs)
    carried = progress.train_seconds + progress.eval_seconds
    model.train()
    saved_at = time.perf_counter()
    with RunProgress(trainer.epochs, steps_per_epoch, progress.epochs_done, plan.progress_bar, plan.label) as shown:
        for epoch in range(progress.epochs_done, trainer.epochs):
            began, cpu_began = time.perf_counter(), time.process_time()
            stats = train_epoch(step, shown.batches(_epoch_batches(data, plan, epoch, drop_last)))
            seconds = _synced_seconds_since(began, plan.ctx)
            progress.train_cpu_seconds += time.process_time() - cpu_began
            if not stats.finite:  # checked every few steps (no per-step host sync), see poolbench/step.py
                return _diverged(
                    progress,
                    f"non-finite training loss ({stats.loss_sum}) at epoch {epoch + 1} "
                    f"by step {stats.steps}; lower trainer.lr",
                )
            row = _finish_epoch(evaluator, step, progress, stats, epoch, seconds)
            shown.epoch_done(row)
            if not math.isfinite(row.get("train_loss", 0.0)):  # the eval-mode train curve, where evaluated
                return _diverged(progress, f"non-finite loss in evaluation after epoch {epoch + 1}; lower trainer.lr")
            if plan.checkpoint is not None and checkpoint_due(trainer, epoch, saved_at):
                save_checkpoint(plan.checkpoint, plan.run_key, model, step, progress)
                saved_at = time.perf_counter()
            if plan.on_epoch is not None:
                plan.on_epoch(progress.history)
    began = time.perf_counter()
    final = evaluator.final(progress.history[-1] if progress.history else None)
    shifted = evaluator.shift_accuracy(plan.eval_shifts, final.test, plan.shift_fills)
    seconds = time.perf_counter() - began
    return TrainOutcome(
        "ok", progress, best_val_acc(progress.history), None, final.metrics, shifted, final.test, seconds, carried
    )


def checkpoint_due(trainer: TrainerSettings, epoch: int, saved_at: float) -> bool:
    """Whether the checkpoint is written after ``epoch`` (0-based): always after the last epoch (the trained
    weights), else once ``trainer.checkpoint_interval`` seconds have passed since the last one (0: every epoch)."""
    last = epoch + 1 >= trainer.epochs
    return last or time.perf_counter() - saved_at >= trainer.checkpoint_interval


def _epoch_batches(data: DataBundle, plan: TrainPlan, epoch: int, drop_last: bool) -> Any:
    return epoch_batches(
        data.train,
        plan.trainer.batch_size,
        data.mean,
        data.std,
        epoch_generator(plan.seed, epoch),
        crop_padding=plan.augment.crop_padding,
        flip=plan.augment.flip,
        drop_last=drop_last,
        memory_format=plan.ctx.memory_format,
    )


def _synced_seconds_since(began: float, ctx: StepContext) -> float:
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - began


def _finish_epoch(
    evaluator: Evaluator, step: TrainStep, progress: Progress, stats: EpochStats, epoch: int, seconds: float
) -> dict[str, Any]:
    """Account the epoch's time and images, evaluate it (and time that), and append its row to the history."""
    progress.train_seconds += seconds
    progress.images_seen += stats.seen
    began = time.perf_counter()
    row = evaluator.epoch_row(epoch, step.optimizer.param_groups[0]["lr"], seconds)
    progress.eval_seconds += time.perf_counter() - began
    row["train_batch_loss"] = stats.mean_loss
    progress.history.append(row)
    return row


def _diverged(progress: Progress, message: str) -> TrainOutcome:
    log.warning("diverged: %s", message)
    return TrainOutcome("diverged", progress, best_val_acc(progress.history), error=message)
