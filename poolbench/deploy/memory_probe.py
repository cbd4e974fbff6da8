"""The fresh process that measures peak inference memory in ONNX Runtime (run as a script: imports no torch).

    python poolbench/deploy/memory_probe.py MODEL.onnx REFERENCE.onnx C H W   ->  prints the peak bytes

It imports onnxruntime, loads and runs a reference model (a 1x1 convolution at the same input size) so the
runtime's one-off setup is in place, frees it, resets the process's high-water mark (``/proc/self/clear_refs``)
and reads its resident set: the runtime's own baseline. Then it loads MODEL (CPU execution provider, 1 thread,
no memory arena) and runs three batch-1 passes; the peak is the high-water resident set minus that baseline.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

FORWARD_CALLS = 3


def status_bytes(key: str) -> int:
    """A ``kB`` line of /proc/self/status (VmRSS, VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"{key} not in /proc/self/status")


def load_and_run(path: str, shape: tuple[int, ...]) -> Any:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((1, *shape), dtype=np.float32)}
    for _ in range(FORWARD_CALLS):
        session.run(None, feed)
    return session


def peak_bytes(model: str, reference: str, shape: tuple[int, ...]) -> int:
    load_and_run(reference, shape)  # returned session dropped: freed
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    baseline = status_bytes("VmRSS")
    session = load_and_run(model, shape)
    peak = status_bytes("VmHWM") - baseline
    del session
    return peak


if __name__ == "__main__":
    print(peak_bytes(sys.argv[1], sys.argv[2], tuple(int(v) for v in sys.argv[3:6])))
