"""Where and how a run computes: the device (auto: cuda -> mps -> cpu), CPU threads, seeds, and the step's
memory layout and autocast."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from poolbench.config.settings import TrainerSettings
from poolbench.errors import ConfigError
from poolbench.malloc import retain_freed_memory
from poolbench.step import StepContext


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)  # the name's form was validated (trainer.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", name, "a device this machine has (no CUDA here)", "set trainer.device=auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("trainer.device", name, "a device this machine has (no MPS here)", "set trainer.device=auto")
    return device


def default_threads(jobs: int = 1) -> int:
    """The cores this process may use (respects CPU affinity, e.g. under SLURM or taskset), shared fairly by
    ``jobs`` runs on the same machine (a parallel launcher) so they do not oversubscribe the cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, int(jobs)))


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def step_context(device: torch.device, trainer: TrainerSettings) -> StepContext:
    """channels_last ('auto': on for CUDA and CPU; on CPU the whole step measured 1.6-2x faster, see
    scripts/bench.py's "naive loader + poolbench step" rows) and bf16 autocast ('auto': CUDA only; CPU stays fp32)."""
    on_cuda = device.type == "cuda"
    auto_layout = device.type in ("cuda", "cpu")
    use_channels_last = auto_layout if trainer.channels_last == "auto" else bool(trainer.channels_last)
    use_amp = on_cuda if trainer.amp == "auto" else bool(trainer.amp)
    if on_cuda:  # fixed batch shapes: let cuDNN time its conv algorithms once, unless runs must be bit-exact
        torch.backends.cudnn.benchmark = not trainer.deterministic
    return StepContext(
        device=device,
        memory_format=torch.channels_last if use_channels_last else torch.contiguous_format,
        autocast_dtype=torch.bfloat16 if use_amp and device.type in ("cuda", "cpu") else None,
    )


def prepare_runtime(trainer: TrainerSettings, jobs: int, seed: int) -> StepContext:
    """Threads, device, allocator and seeds for one run; the step context it trains with."""
    torch.set_num_threads(trainer.threads or default_threads(jobs))
    device = resolve_device(trainer.device)
    if device.type == "cpu":
        retain_freed_memory()  # steps reuse freed activation memory instead of page-faulting it back in
    seed_everything(seed, trainer.deterministic)
    return step_context(device, trainer)
