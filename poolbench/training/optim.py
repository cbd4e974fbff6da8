"""Optimiser, parameter groups and learning-rate schedules, built from ``TrainerSettings``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from poolbench.config.settings import TrainerSettings
from poolbench.step import StepContext, TrainStep


def parameter_groups(model: nn.Module, weight_decay: float, lr: float) -> list[dict[str, Any]]:
    """Decayed, not decayed (the names the model lists in ``no_weight_decay``, e.g. GeM p), and one group per
    learning-rate factor the model lists in ``lr_multipliers`` (GeM's ``head.p_lr_mult``) at ``lr`` x factor.

    Each group's ``lr`` is its starting rate; the schedule scales every group by the same factor."""
    listed = getattr(model, "no_weight_decay", None)
    skip: set[str] = listed() if callable(listed) else set()
    factors_of = getattr(model, "lr_multipliers", None)
    factors: dict[str, float] = factors_of() if callable(factors_of) else {}
    grouped: dict[tuple[bool, float], list[nn.Parameter]] = {(True, 1.0): []}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            grouped.setdefault((name not in skip, factors.get(name, 1.0)), []).append(parameter)
    return [
        {"params": params, "weight_decay": weight_decay if decayed else 0.0, "lr": lr * factor}
        for (decayed, factor), params in grouped.items()
        if params or (decayed, factor) == (True, 1.0)
    ]


def build_optimizer(model: nn.Module, trainer: TrainerSettings) -> torch.optim.Optimizer:
    groups = parameter_groups(model, trainer.weight_decay, trainer.lr)
    if trainer.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=trainer.lr, betas=trainer.betas)
    return torch.optim.SGD(groups, lr=trainer.lr, momentum=trainer.momentum, nesterov=trainer.nesterov)


def lr_factor(step: int, total_steps: int, trainer: TrainerSettings, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based) of ``total_steps``."""
    if trainer.schedule == "onecycle":
        # Linear warm-up over pct_start of training from lr/div, then linear decay to ~0 (airbench-style).
        peak = max(1, int(total_steps * trainer.pct_start))
        start = 1.0 / trainer.div_factor
        if step < peak:
            return start + (1.0 - start) * step / peak
        return max(0.0, (total_steps - step) / max(1, total_steps - peak))
    warmup = round(trainer.warmup_epochs * steps_per_epoch)
    if warmup and step < warmup:
        return (step + 1) / warmup
    if trainer.schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    if trainer.schedule == "step":
        progress = step / max(1, total_steps)
        return trainer.gamma ** sum(progress >= m for m in trainer.milestones)
    return 1.0  # constant


def build_scheduler(
    optimizer: torch.optim.Optimizer, trainer: TrainerSettings, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    total = max(1, steps_per_epoch * trainer.epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, trainer, steps_per_epoch))


def build_train_step(model: nn.Module, trainer: TrainerSettings, ctx: StepContext, steps_per_epoch: int) -> TrainStep:
    """The optimiser, schedule, loss and (optional) ``torch.compile`` that ``train`` uses, as one step."""
    optimizer = build_optimizer(model, trainer)
    return TrainStep(
        model,
        optimizer,
        nn.CrossEntropyLoss(label_smoothing=trainer.label_smoothing),
        ctx,
        scheduler=build_scheduler(optimizer, trainer, steps_per_epoch),
        grad_clip=trainer.grad_clip,
        compile=trainer.compile,
    )


def epoch_steps(num_train: int, batch_size: int) -> tuple[int, bool]:
    """(optimiser steps per epoch, drop_last): the ragged last batch is dropped unless it is the only one."""
    drop_last = num_train >= batch_size
    return max(1, num_train // batch_size if drop_last else math.ceil(num_train / batch_size)), drop_last
