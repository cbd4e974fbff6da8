"""ONNX export of a trained model and the parity check that must pass before it is timed.

The exporter is torch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): it needs only ``onnx``
and works offline; the dynamo exporter (``dynamo=True``, torch's default since 2.9) needs ``onnxscript`` on top.
The batch dimension is dynamic, so one file serves batch 1 and batch N.

Parity: the ONNX model in ONNX Runtime (CPU execution provider) against the eager model on the run's test images:
the largest absolute logit difference must be at most ``PARITY_ATOL`` and the argmax must agree on at least
``PARITY_AGREEMENT`` of the images. A model that fails is reported (``parity_ok`` false, with the numbers) and
never timed.
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from poolbench.atomic import atomic_write_bytes

PARITY_ATOL = 1e-3  # fp32 logits; kernel order differences are ~1e-6, a wrong graph is >> 1e-3
PARITY_AGREEMENT = 0.999  # argmax agreement over the test images
PARITY_BATCH = 512
INPUT, OUTPUT = "images", "logits"


def onnx_missing() -> str | None:
    """None when onnx and onnxruntime import; else the one line that says what is missing and what to do."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        return (
            f"ONNX Runtime timing skipped: {error.name} is not installed "
            "(pip install -e '.[deploy]' or make install); eager PyTorch is timed alone."
        )
    return None


def export_onnx(model: nn.Module, input_shape: tuple[int, int, int], path: Path) -> int:
    """Write ``model`` (eval mode, fp32, CPU) as ONNX with a dynamic batch dimension; returns the file's bytes."""
    buffer = io.BytesIO()
    example = torch.zeros(1, *input_shape)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object works (and is documented)
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        )
    atomic_write_bytes(path, buffer.getvalue())
    return len(buffer.getvalue())


def ort_session(path: Path, threads: int, spinning: bool = False) -> Any:
    """An ONNX Runtime session on the CPU execution provider with ``threads`` intra-op threads (one inter-op
    thread). ``spinning`` false: idle worker threads sleep at once, so a session takes no core from the next
    measurement (ONNX Runtime's default spins them a while after each call)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_logits(session: Any, images: torch.Tensor) -> np.ndarray:
    """Logits of ``images`` (N x C x H x W, fp32) from an ONNX Runtime session, in batches."""
    chunks = [
        session.run([OUTPUT], {INPUT: images[i : i + PARITY_BATCH].contiguous().numpy()})[0]
        for i in range(0, len(images), PARITY_BATCH)
    ]
    return np.concatenate(chunks)


def eager_logits(model: nn.Module, images: torch.Tensor, layout: torch.memory_format) -> np.ndarray:
    with torch.inference_mode():
        chunks = [
            model(images[i : i + PARITY_BATCH].contiguous(memory_format=layout)).float().numpy()
            for i in range(0, len(images), PARITY_BATCH)
        ]
    return np.concatenate(chunks)


@dataclass
class Parity:
    max_abs_diff: float
    argmax_agreement: float
    images: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= PARITY_ATOL and self.argmax_agreement >= PARITY_AGREEMENT

    def fields(self) -> dict[str, Any]:
        return {
            "parity_ok": self.ok,
            "parity_max_abs_diff": self.max_abs_diff,
            "parity_argmax_agreement": self.argmax_agreement,
            "parity_images": self.images,
            "parity_atol": PARITY_ATOL,
        }


def check_parity(eager: np.ndarray, exported: np.ndarray) -> Parity:
    """Largest |logit difference| and argmax agreement between the eager and the exported model's logits."""
    diff = float(np.abs(eager.astype(np.float64) - exported).max()) if len(eager) else 0.0
    agree = float((eager.argmax(1) == exported.argmax(1)).mean()) if len(eager) else 1.0
    return Parity(diff if np.isfinite(diff) else float("inf"), agree, len(eager))


def file_bytes(path: Path) -> int:
    return os.path.getsize(path)
