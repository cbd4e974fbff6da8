"""The hot loop: one optimiser step, and one pass over an epoch's batches. Shared by ``train.train`` and
``scripts/bench.py``, so the benchmark times exactly the code that trains.

No host synchronisation per step: the loss stays on the device, is summed there, and is checked for
divergence every ``DIVERGENCE_CHECK_EVERY`` steps and at the end of the epoch. On CUDA, reading the loss back
every step (``if not torch.isfinite(loss)``) would wait for the GPU and stop the CPU from queueing ahead; on the
CPU it costs nothing either way, so both devices share this one code path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

DIVERGENCE_CHECK_EVERY = 50  # steps between reads of the running loss sum (one host sync each)


@dataclass
class StepContext:
    """How tensors enter the model: memory format and autocast (bf16, see ``poolbench.runtime.step_context``)."""

    device: torch.device
    memory_format: torch.memory_format = torch.contiguous_format
    autocast_dtype: torch.dtype | None = None

    @property
    def precision(self) -> str:
        """What the run record calls this context's precision: ``bf16`` (autocast) or ``fp32``."""
        return "bf16" if self.autocast_dtype == torch.bfloat16 else "fp32"

    def autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)


class TrainStep:
    """forward -> loss -> backward -> (clip) -> optimiser step -> scheduler step, on one batch.

    Returns the detached loss as a device tensor (never a Python float: that would sync). With ``compile``,
    the forward (and so the backward) runs through ``torch.compile``; ``model`` stays the eager module, whose
    ``state_dict`` checkpoints use and which evaluation runs (eval batches have other shapes, and each new shape
    would cost a recompile).

    ``trainer.compile`` is off by default: for the default small CNN on 2 CPU cores the compiled step measured
    3-5% slower than eager after ~50 s of compiling (~5 s with a warm inductor cache); it was not measured on a
    GPU. ``scripts/bench.py --compile`` reports compile time, speed ratio and break-even epochs for any setup.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        ctx: StepContext,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        grad_clip: float | None = None,
        compile: bool = False,
    ) -> None:
        self.model = model
        self.forward: Callable[[torch.Tensor], torch.Tensor] = torch.compile(model) if compile else model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.criterion = criterion
        self.ctx = ctx
        self.grad_clip = float(grad_clip) if grad_clip else None

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with self.ctx.autocast():
            loss = self.criterion(self.forward(images), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach()


@dataclass
class EpochStats:
    loss_sum: float  # sum over batches of (mean batch loss x batch size); nan/inf once the loss diverged
    seen: int  # images stepped on
    steps: int
    finite: bool

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(1, self.seen)


def train_epoch(
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    check_every: int = DIVERGENCE_CHECK_EVERY,
) -> EpochStats:
    """Run ``step`` on every batch; stop early (``finite=False``) once the running loss sum is non-finite.

    A non-finite loss poisons the running sum for good, so checking it every ``check_every`` steps and at the
    end misses nothing; it only lets up to ``check_every - 1`` useless steps run before the stop.
    """
    loss_sum: torch.Tensor | None = None
    seen = steps = 0
    for images, labels in batches:
        weighted = step(images, labels).float() * labels.shape[0]
        loss_sum = weighted if loss_sum is None else loss_sum + weighted
        seen += int(labels.shape[0])
        steps += 1
        if steps % check_every == 0 and not bool(torch.isfinite(loss_sum)):
            return EpochStats(float(loss_sum), seen, steps, finite=False)
    total = float(loss_sum) if loss_sum is not None else 0.0  # the one host sync of the epoch
    return EpochStats(total, seen, steps, finite=math.isfinite(total))
