"""The epoch-end checkpoint: written atomically after every epoch, and the state a resumed run starts from.

Per-epoch randomness (data order, crops, flips) comes from a generator seeded by (seed, epoch), so no data state
is saved; the global RNGs (dropout) are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poolbench.atomic import atomic_torch_save
from poolbench.errors import RecordError
from poolbench.step import TrainStep
from poolbench.training.rng import capture_rng, restore_rng

log = logging.getLogger("poolbench.train")


@dataclass
class Progress:
    """How far a run got: the epochs done (their rows), training time (wall and process CPU seconds), time in
    per-epoch evaluation, and images stepped on."""

    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    images_seen: int = 0
    eval_seconds: float = 0.0
    train_cpu_seconds: float = 0.0

    @property
    def epochs_done(self) -> int:
        return len(self.history)


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


def save_checkpoint(path: Path, run_key: str, model: nn.Module, step: TrainStep, progress: Progress) -> None:
    assert step.scheduler is not None
    atomic_torch_save(
        path,
        {
            "run_key": run_key,
            "epoch": progress.epochs_done,
            "model": model.state_dict(),
            "optimizer": step.optimizer.state_dict(),
            "scheduler": step.scheduler.state_dict(),
            **capture_rng(),
            "history": progress.history,
            "train_seconds": progress.train_seconds,
            "images_seen": progress.images_seen,
            "eval_seconds": progress.eval_seconds,
            "train_cpu_seconds": progress.train_cpu_seconds,
            "precision": step.ctx.precision,
        },
    )


def resume(path: Path | None, run_key: str, model: nn.Module, step: TrainStep, total_epochs: int) -> Progress:
    """Load the run's checkpoint into model, optimiser, schedule and RNGs; a fresh ``Progress`` if none."""
    state = load_checkpoint(path, run_key) if path is not None else None
    if state is None:
        return Progress()
    assert step.scheduler is not None
    saved = state.get("precision", step.ctx.precision)  # checkpoints from before the key: as now
    if saved != step.ctx.precision:
        raise RecordError(
            f"{path}: the epochs so far trained in {saved}, this run resolves trainer.precision to "
            f"{step.ctx.precision} (another machine?). Fix: set trainer.precision={saved} to resume, or delete the "
            "checkpoint to restart from epoch 0."
        )
    model.load_state_dict(state["model"])
    step.optimizer.load_state_dict(state["optimizer"])
    step.scheduler.load_state_dict(state["scheduler"])
    restore_rng(state)
    log.info("resuming from %s at epoch %d/%d", path, int(state["epoch"]), total_epochs)
    return Progress(
        list(state["history"]),
        float(state["train_seconds"]),
        int(state["images_seen"]),
        float(state.get("eval_seconds", 0.0)),
        float(state.get("train_cpu_seconds", 0.0)),
    )
