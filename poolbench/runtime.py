"""Where and how a run computes: the device (auto: cuda -> mps -> cpu), CPU threads, seeds, and the step's
memory layout and precision (bf16 autocast or fp32)."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

from poolbench.config.settings import TrainerSettings
from poolbench.errors import ConfigError
from poolbench.malloc import retain_freed_memory
from poolbench.step import StepContext

log = logging.getLogger("poolbench.runtime")
# CPU flags (Linux /proc/cpuinfo) of units that compute bf16 natively. oneDNN also runs bf16 on any AVX-512 CPU
# by emulation, which trains slower than fp32, so torch's mkldnn bf16 check alone does not mean "faster".
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX) and torch's oneDNN can use it: the one
    capability check ``precision=auto`` asks (tests mock it)."""
    mkldnn_check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(mkldnn_check is not None and mkldnn_check()) and bool(NATIVE_BF16_FLAGS & cpu_flags())


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: what a run with ``trainer.precision`` computes in on ``device``.

    auto: bf16 autocast on CUDA (where the GPU supports bf16) and on CPUs with native bf16, fp32 elsewhere (an
    AVX2-only or AVX-512 CPU without BF16 emulates it, slower than fp32; MPS has no bf16 autocast here)."""
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    if precision == "bf16" and device.type not in ("cuda", "cpu"):
        raise ConfigError(
            "trainer.precision", precision, f"fp32 or auto on {device.type}", "set trainer.precision=auto"
        )
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("trainer.precision=bf16 on a CPU without native bf16 (AVX512-BF16/AMX): emulated, likely slower")
    return precision


def step_context(device: torch.device, trainer: TrainerSettings) -> StepContext:
    """channels_last ('auto': on for CUDA and CPU; on CPU the whole step measured 1.6-2x faster, see
    scripts/bench.py's "naive loader + poolbench step" rows) and the precision (``resolve_precision``): bf16
    autocast for the step and for every evaluation of the run (curves, final metrics, shifts, other sizes)."""
    on_cuda = device.type == "cuda"
    auto_layout = device.type in ("cuda", "cpu")
    use_channels_last = auto_layout if trainer.channels_last == "auto" else bool(trainer.channels_last)
    use_amp = resolve_precision(trainer.precision, device) == "bf16"
    if on_cuda:  # fixed batch shapes: let cuDNN time its conv algorithms once, unless runs must be bit-exact
        torch.backends.cudnn.benchmark = not trainer.deterministic
    return StepContext(
        device=device,
        memory_format=torch.channels_last if use_channels_last else torch.contiguous_format,
        autocast_dtype=torch.bfloat16 if use_amp else None,
    )


def prepare_runtime(trainer: TrainerSettings, jobs: int, seed: int) -> StepContext:
    """Threads, device, allocator and seeds for one run; the step context it trains with."""
    torch.set_num_threads(trainer.threads or default_threads(jobs))
    device = resolve_device(trainer.device)
    if device.type == "cpu":
        retain_freed_memory()  # steps reuse freed activation memory instead of page-faulting it back in
    seed_everything(seed, trainer.deterministic)
    return step_context(device, trainer)
