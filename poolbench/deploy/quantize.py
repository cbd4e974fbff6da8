"""int8: ONNX Runtime's dynamic quantization of an exported model, its file size and its test-accuracy change.

``onnxruntime.quantization.quantize_dynamic`` stores the weights of convolutions and dense layers as int8
(activations are quantized at run time, per call): what one ships to a small device without calibration data.
The accuracy change is the int8 model's test accuracy minus the fp32 ONNX model's, on the same test images.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from poolbench.deploy.onnx_export import file_bytes, ort_logits, ort_session


def quantize_int8(fp32_path: Path, int8_path: Path) -> int:
    """Write the int8 dynamic quantization of ``fp32_path`` to ``int8_path``; returns its bytes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint on the root logger every call
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return file_bytes(int8_path)


def accuracy(logits: np.ndarray, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels.numpy()).mean()) if len(labels) else float("nan")


def int8_fields(
    fp32_path: Path, int8_path: Path, images: torch.Tensor, labels: torch.Tensor, threads: int = 1
) -> dict[str, Any]:
    """``int8_bytes``, ``int8_test_acc`` and ``int8_acc_delta`` (int8 minus fp32 ONNX accuracy, same images)."""
    size = quantize_int8(fp32_path, int8_path)
    fp32 = accuracy(ort_logits(ort_session(fp32_path, threads), images), labels)
    int8 = accuracy(ort_logits(ort_session(int8_path, threads), images), labels)
    return {"int8_bytes": size, "onnx_test_acc": fp32, "int8_test_acc": int8, "int8_acc_delta": int8 - fp32}
