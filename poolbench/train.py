"""The training loop: optimiser and schedule from config, per-epoch metrics, divergence guard, checkpoints.

Randomness per epoch (data order, crops, flips) comes from a generator seeded by (seed, epoch), so an epoch is
the same whether the run went straight through or resumed from a checkpoint; the global torch RNG (dropout)
is saved in the checkpoint.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from poolbench.atomic import atomic_torch_save
from poolbench.config import OPTIMIZERS, SCHEDULES
from poolbench.data import DataBundle, ImageSplit, epoch_batches, shift_images
from poolbench.errors import ConfigError, RecordError
from poolbench.rng import capture_rng, restore_rng
from poolbench.step import StepContext, TrainStep, train_epoch

log = logging.getLogger("poolbench.train")


# ----------------------------------------------------------------------------------------------- device
def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError("trainer.device", name, "auto, cpu, cuda, cuda:N or mps", "set trainer.device=auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", name, "a device this machine has (no CUDA here)", "set trainer.device=auto")
    return device


# ----------------------------------------------------------------------------------------------- optimiser
def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: decayed, and not decayed (the names the model lists in ``no_weight_decay``, e.g. GeM p)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if name in skip else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    name = str(cfg.get("optimizer", "sgd")).lower()
    groups = parameter_groups(model, float(cfg.get("weight_decay", 0.0)))
    lr = float(cfg["lr"])
    if name == "sgd":
        return torch.optim.SGD(
            groups, lr=lr, momentum=float(cfg.get("momentum", 0.9)), nesterov=bool(cfg.get("nesterov", False))
        )
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(cfg.get("betas", (0.9, 0.999))))
    raise ConfigError("trainer.optimizer", name, ", ".join(OPTIMIZERS), "set trainer.optimizer=sgd")


def lr_factor(step: int, total_steps: int, cfg: Mapping[str, Any], steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based) of ``total_steps``."""
    schedule = str(cfg.get("schedule", "cosine")).lower()
    warmup = int(round(float(cfg.get("warmup_epochs", 0)) * steps_per_epoch))
    if schedule == "onecycle":
        # Linear warm-up over pct_start of training from lr/div, then linear decay to ~0 (airbench-style).
        peak = max(1, int(total_steps * float(cfg.get("pct_start", 0.25))))
        start = 1.0 / float(cfg.get("div_factor", 10.0))
        if step < peak:
            return start + (1.0 - start) * step / peak
        return max(0.0, (total_steps - step) / max(1, total_steps - peak))
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    if schedule == "step":
        milestones = [float(m) for m in cfg.get("milestones", (0.5, 0.75))]
        gamma = float(cfg.get("gamma", 0.1))
        progress = step / max(1, total_steps)
        return gamma ** sum(progress >= m for m in milestones)
    if schedule == "constant":
        return 1.0
    raise ConfigError("trainer.schedule", schedule, ", ".join(SCHEDULES), "set trainer.schedule=cosine")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    total = max(1, steps_per_epoch * epochs)
    lr_factor(0, total, cfg, steps_per_epoch)  # validate the schedule name before training starts
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, cfg, steps_per_epoch))


def build_train_step(
    model: nn.Module, cfg: Mapping[str, Any], ctx: StepContext, steps_per_epoch: int, epochs: int
) -> TrainStep:
    """The optimiser, schedule, loss and (optional) ``torch.compile`` that ``train`` uses, as one step."""
    optimizer = build_optimizer(model, cfg)
    return TrainStep(
        model,
        optimizer,
        nn.CrossEntropyLoss(label_smoothing=float(cfg.get("label_smoothing", 0.0))),
        ctx,
        scheduler=build_scheduler(optimizer, cfg, steps_per_epoch, epochs),
        grad_clip=cfg.get("grad_clip"),
        compile=bool(cfg.get("compile", False)),
    )


def epoch_steps(num_train: int, batch_size: int) -> tuple[int, bool]:
    """(optimiser steps per epoch, drop_last): the ragged last batch is dropped unless it is the only one."""
    drop_last = num_train >= batch_size
    return max(1, num_train // batch_size if drop_last else math.ceil(num_train / batch_size)), drop_last


# ----------------------------------------------------------------------------------------------- evaluation
@torch.inference_mode()
def evaluate(
    model: nn.Module, split: ImageSplit, data: DataBundle, batch_size: int, ctx: StepContext
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` in eval mode over a whole split."""
    if len(split) == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    # float64 sums keep 60k-sample losses exact to print precision; MPS has no float64.
    sum_dtype = torch.float32 if split.x.device.type == "mps" else torch.float64
    loss_sum = torch.zeros((), dtype=sum_dtype, device=split.x.device)
    correct = torch.zeros((), dtype=torch.int64, device=split.x.device)
    for images, labels in epoch_batches(split, batch_size, data.mean, data.std, memory_format=ctx.memory_format):
        with ctx.autocast():
            logits = model(images)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").to(sum_dtype)
        correct += (logits.argmax(1) == labels).sum()
    model.train(was_training)
    return float(loss_sum) / len(split), int(correct) / len(split)


# ----------------------------------------------------------------------------------------------- loop
@dataclass
class TrainOutcome:
    status: str  # ok | diverged
    history: list[dict[str, Any]]
    train_seconds: float
    images_seen: int
    best_val_acc: float | None
    error: str | None = None
    final: dict[str, float] = field(default_factory=dict)
    shift_acc: dict[str, float] = field(default_factory=dict)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def train_subset(split: ImageSplit, size: int) -> ImageSplit:
    """A fixed slice of the (already shuffled-at-split) train set, for a cheap per-epoch train curve."""
    if size >= len(split):
        return split
    return ImageSplit(split.x[:size], split.y[:size])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_torch_save(path, state)


def load_checkpoint(path: Path, run_key: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it belongs to this run; never unpickles arbitrary objects."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise RecordError(
            f"{path}: corrupt or foreign checkpoint ({str(error).splitlines()[0][:200]}). "
            "Delete it to restart this run from epoch 0."
        ) from None
    if not isinstance(state, dict) or state.get("run_key") != run_key:
        raise RecordError(
            f"{path}: checkpoint of a different run (run key {state.get('run_key') if isinstance(state, dict) else '?'}"
            f", expected {run_key}). Delete it, or use another output directory."
        )
    return state


def progress_reporter(total_epochs: int, enabled: bool) -> Callable[[dict[str, Any]], None]:
    """A tqdm bar with ETA on a terminal; one log line per epoch otherwise."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total_epochs, unit="epoch", dynamic_ncols=True)

        def report(row: dict[str, Any]) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row['val_acc']:.4f}", test=f"{row['test_acc']:.4f}")
            if row["epoch"] >= total_epochs:
                bar.close()

        return report

    def log_line(row: dict[str, Any]) -> None:
        log.info(
            "epoch %d/%d  lr %.4g  train_loss %.4f  train_acc %.4f  val_acc %.4f  test_acc %.4f  (%.1fs)",
            row["epoch"], total_epochs, row["lr"], row["train_loss"], row["train_acc"], row["val_acc"],
            row["test_acc"], row["seconds"],
        )  # fmt: skip

    return log_line


def train(
    model: nn.Module,
    data: DataBundle,
    cfg: Mapping[str, Any],
    seed: int,
    ctx: StepContext,
    augment: Mapping[str, Any] | None = None,
    checkpoint_path: Path | None = None,
    run_key: str = "",
    on_epoch: Callable[[list[dict[str, Any]]], None] | None = None,
    progress: bool = True,
    eval_shifts: Sequence[int] = (),
) -> TrainOutcome:
    """Train ``model`` for ``cfg['epochs']`` epochs; resume from ``checkpoint_path`` if it holds this run.
    The trained model then takes the translation test at each of ``eval_shifts`` pixels (``shift_accuracy``)."""
    epochs = int(cfg["epochs"])
    batch_size = int(cfg["batch_size"])
    eval_batch = int(cfg.get("eval_batch_size", 1024))
    num_steps, drop_last = epoch_steps(len(data.train), batch_size)
    step = build_train_step(model, cfg, ctx, num_steps, epochs)
    optimizer, scheduler = step.optimizer, step.scheduler
    assert scheduler is not None
    augment = dict(augment or {})
    curve_size = int(cfg.get("train_eval_samples") or len(data.test))
    train_curve_split = train_subset(data.train, curve_size)

    history: list[dict[str, Any]] = []
    start_epoch, train_seconds, images_seen = 0, 0.0, 0
    state = load_checkpoint(checkpoint_path, run_key) if checkpoint_path is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state)
        history = list(state["history"])
        start_epoch, train_seconds, images_seen = int(state["epoch"]), float(state["train_seconds"]), int(state["images_seen"])
        log.info("resuming from %s at epoch %d/%d", checkpoint_path, start_epoch, epochs)

    report = progress_reporter(epochs, progress)
    model.train()
    for epoch in range(start_epoch, epochs):
        generator = epoch_generator(seed, epoch)
        began = time.perf_counter()
        stats = train_epoch(step, epoch_batches(
            data.train, batch_size, data.mean, data.std, generator,
            crop_padding=int(augment.get("crop_padding", 0)), flip=bool(augment.get("flip", False)),
            drop_last=drop_last, memory_format=ctx.memory_format,
        ))  # fmt: skip
        if not stats.finite:  # checked every few steps (no per-step host sync), see poolbench/step.py
            message = f"non-finite training loss ({stats.loss_sum}) at epoch {epoch + 1} by step {stats.steps}; lower trainer.lr"
            log.warning("diverged: %s", message)
            return TrainOutcome("diverged", history, train_seconds, images_seen, _best(history), error=message)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize()
        epoch_seconds = time.perf_counter() - began
        train_seconds += epoch_seconds
        images_seen += stats.seen
        row = _epoch_row(model, data, train_curve_split, eval_batch, ctx, epoch, optimizer, epoch_seconds)
        row["train_batch_loss"] = stats.mean_loss
        history.append(row)
        report(row)
        if not math.isfinite(row["train_loss"]):
            return TrainOutcome("diverged", history, train_seconds, images_seen, _best(history),
                                error=f"non-finite loss in evaluation after epoch {epoch + 1}; lower trainer.lr")  # fmt: skip
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, {
                "run_key": run_key, "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                **capture_rng(),
                "history": history, "train_seconds": train_seconds, "images_seen": images_seen,
            })  # fmt: skip
        if on_epoch is not None:
            on_epoch(history)
    final = final_metrics(model, data, history[-1] if history else None, train_curve_split, eval_batch, ctx)
    shifted = shift_accuracy(model, data, eval_shifts, eval_batch, ctx, final["test_acc"])
    return TrainOutcome("ok", history, train_seconds, images_seen, _best(history), final=final, shift_acc=shifted)


def shift_accuracy(
    model: nn.Module, data: DataBundle, shifts: Sequence[int], eval_batch: int, ctx: StepContext, test_acc: float
) -> dict[str, float]:
    """Test accuracy with every test image moved by each of ``shifts`` pixels (``data.shift_images``; 0 is the
    plain test accuracy). A global pool sums over positions and should lose less than flatten + dense, whose
    weights are tied to where each feature was during training: the claim "where features are matters less"."""
    accuracy: dict[str, float] = {}
    for pixels in sorted({int(p) for p in shifts}):
        if pixels == 0:
            accuracy["0"] = test_acc
            continue
        shifted = ImageSplit(shift_images(data.test.x, pixels), data.test.y)
        accuracy[str(pixels)] = evaluate(model, shifted, data, eval_batch, ctx)[1]
    return accuracy


def final_metrics(
    model: nn.Module,
    data: DataBundle,
    last_row: dict[str, Any] | None,
    train_curve_split: ImageSplit,
    eval_batch: int,
    ctx: StepContext,
) -> dict[str, float]:
    """Loss and accuracy of the trained model on the whole train, val and test splits (eval mode).

    The last epoch row already evaluated these very weights on val and test (and on the train split, when the
    curve subset is the whole split): those numbers are reused instead of being computed a second time.
    """
    final: dict[str, float] = {}
    if last_row is not None and len(train_curve_split) == len(data.train):
        final["train_loss"], final["train_acc"] = last_row["train_loss"], last_row["train_acc"]
    else:
        final["train_loss"], final["train_acc"] = evaluate(model, data.train, data, eval_batch, ctx)
    for name, split in (("val", data.val), ("test", data.test)):
        if last_row is not None:
            final[f"{name}_loss"], final[f"{name}_acc"] = last_row[f"{name}_loss"], last_row[f"{name}_acc"]
        else:
            final[f"{name}_loss"], final[f"{name}_acc"] = evaluate(model, split, data, eval_batch, ctx)
    return final


def _best(history: list[dict[str, Any]]) -> float | None:
    values = [row["val_acc"] for row in history if row.get("val_acc") is not None and math.isfinite(row["val_acc"])]
    return max(values) if values else None


def _epoch_row(
    model: nn.Module,
    data: DataBundle,
    train_curve_split: ImageSplit,
    eval_batch: int,
    ctx: StepContext,
    epoch: int,
    optimizer: torch.optim.Optimizer,
    seconds: float,
) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "seconds": seconds}
    row["train_loss"], row["train_acc"] = evaluate(model, train_curve_split, data, eval_batch, ctx)
    row["val_loss"], row["val_acc"] = evaluate(model, data.val, data, eval_batch, ctx)
    row["test_loss"], row["test_acc"] = evaluate(model, data.test, data, eval_batch, ctx)
    pool = model.pool_params() if hasattr(model, "pool_params") else {}
    row.update({key: value for key, value in pool.items() if isinstance(value, (int, float))})
    return row


def default_threads(jobs: int = 1) -> int:
    """The cores this process may use (respects CPU affinity, e.g. under SLURM or taskset), shared fairly by
    ``jobs`` runs on the same machine (a parallel launcher) so they do not oversubscribe the cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, int(jobs)))
