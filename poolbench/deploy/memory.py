"""Peak inference memory at batch 1 in ONNX Runtime, measured in a fresh process, and its closed-form estimate.

The measurement (``memory_probe.py``, a fresh Python process that imports onnxruntime and no torch): the high-water
resident set while loading the model and running batch-1 passes, minus the resident set after the runtime's own
setup. Linux only (``/proc/self/clear_refs``); elsewhere the field is null.

The estimate: the fp32 weights plus the largest activation of a batch-1 forward pass. ONNX Runtime holds the
parsed model file and its initialized weights at once while it loads, so the measured peak lies between the
estimate and twice it, plus the session's fixed overhead (about 1.5 MB here); ``tests/test_deploy_memory.py``
holds it to ``[estimate, 2 x estimate + SESSION_OVERHEAD_BYTES]``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from poolbench.deploy.onnx_export import export_onnx

PROBE = Path(__file__).with_name("memory_probe.py")
SESSION_OVERHEAD_BYTES = 4 * 2**20  # the tolerance's fixed part: an empty session's allocations, with margin
PROBE_SECONDS = 120


def reference_model(input_shape: tuple[int, int, int], path: Path) -> Path:
    """A 1x1 convolution at the same input size: the runtime's setup without a model's weights."""
    if not path.is_file():
        export_onnx(nn.Conv2d(input_shape[0], 1, 1), input_shape, path)
    return path


def measured_peak_bytes(onnx_path: Path, reference: Path, input_shape: tuple[int, int, int]) -> int | None:
    """Peak bytes of ONNX Runtime loading ``onnx_path`` and running batch 1, in a fresh process; None where it
    cannot be measured (no /proc, the probe failed)."""
    if not Path("/proc/self/clear_refs").exists():
        return None
    command = [sys.executable, str(PROBE), str(onnx_path), str(reference), *map(str, input_shape)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_SECONDS, check=True)
        return int(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return None


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers as stored (fp32: 4 per number)."""
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def largest_activation_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """The largest tensor a batch-1 forward pass hands between modules (fp32 bytes), the input included."""
    sizes = [4 * int(torch.Size(input_shape).numel())]

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel() * output.element_size())

    handles = [module.register_forward_hook(hook) for module in model.modules()]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return max(sizes)


def estimated_peak_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """The closed form: weights + largest activation, at batch 1 in fp32."""
    return weight_bytes(model) + largest_activation_bytes(model, input_shape)
