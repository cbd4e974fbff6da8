"""The epoch-end checkpoint: written atomically after every epoch, and the state a resumed run starts from.

Per-epoch randomness (data order, crops, flips) comes from a generator seeded by (seed, epoch), so no data state
is saved; the global RNGs (dropout) are.
"""

from __future__ import annotations

import logging
import warnings
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
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol ...": the message below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        # torch's own message would suggest weights_only=False, i.e. running whatever code the file holds: never
        # relayed. The file is named, left unloaded, and the fix needs no trust in it.
        raise RecordError(
            f"{path} is not a checkpoint poolbench can load safely ({unloadable_reason(error)}); it was not "
            "loaded. Fix: delete it to restart this run from epoch 0, or rerun with force=true."
        ) from None
    if not isinstance(state, dict) or state.get("run_key") != run_key:
        raise RecordError(
            f"{path} is the checkpoint of a different run (run key "
            f"{state.get('run_key') if isinstance(state, dict) else '?'}, expected {run_key}); it was not used. "
            "Fix: delete it, rerun with force=true, or use another output directory."
        )
    return state


def unloadable_reason(error: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused the file, in words of ours (torch's carry unsafe advice)."""
    import pickle

    if "weights only" in str(error).lower() or isinstance(error, pickle.UnpicklingError):
        return "it holds Python objects other than tensors and plain values: foreign, or tampered with"
    return f"unreadable: {type(error).__name__}, e.g. truncated or damaged"


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
