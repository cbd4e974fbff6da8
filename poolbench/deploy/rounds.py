"""One timing process: every cell's heads timed interleaved, in every runtime, round after round.

``python -m poolbench.deploy.rounds SPEC.json OUT.csv`` (``command`` starts k of these, one after the other, so
that no two share the cores). Per round, for each runtime (the order rotates every round) and each head of a
cell (the order rotates too), ``latency_calls`` timed batch-1 calls (their median is the round's latency) and one
timed batch-``batch_size`` call (the round's throughput). Two untimed rounds first. Runtimes: ``eager`` (PyTorch,
fp32, inference mode, 1 thread), ``ort_1`` (ONNX Runtime CPU execution provider, 1 intra-op thread: the
resource-constrained case) and ``ort_all`` (one intra-op thread per core, spinning as ONNX Runtime does by
default). Only models that passed parity get an
ONNX path in the spec; eager timing runs for every head.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from poolbench.atomic import atomic_write_text
from poolbench.config.run_folder import read_config
from poolbench.deploy.cells import CellRun, build_model, memory_layout

WARMUP_ROUNDS = 2
COLUMNS = ["process", "cell_id", "arch_id", "head", "runtime", "round", "latency_ms", "throughput_ips"]
RUNTIMES = ("eager", "ort_1", "ort_all")


def ort_threads(runtime: str) -> int:
    return 1 if runtime == "ort_1" else max(1, os.cpu_count() or 1)


def callers(head: dict[str, Any], shape: tuple[int, ...], batch_size: int, runtimes: list[str]) -> dict[str, Any]:
    """Per runtime, (batch-1 call, batch-N call) for one head; a runtime the head has no model for is left out."""
    from poolbench.deploy.onnx_export import ort_session

    batch = torch.randn((batch_size, *shape), generator=torch.Generator().manual_seed(0))
    out: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {}
    if "eager" in runtimes:
        run_dir = Path(head["run_dir"])
        config = read_config(run_dir) or {}
        run = CellRun(run_dir, str(config.get("head", {}).get("name", "")), 0, config)
        model, _ = build_model(run)
        layout = memory_layout(run)
        one, many = batch[:1].contiguous(memory_format=layout), batch.contiguous(memory_format=layout)
        out["eager"] = (lambda: model(one), lambda: model(many))
    for runtime in (r for r in runtimes if r != "eager"):
        if head.get("onnx"):
            # all cores: ONNX Runtime's default spinning (idle workers poll a while after each call); without it,
            # waking the workers dominated a 0.03 ms call on a loaded machine (control CI ±15-24 % vs ±3 %)
            session = ort_session(Path(head["onnx"]), ort_threads(runtime), spinning=runtime == "ort_all")
            one_np, many_np = batch[:1].numpy(), batch.numpy()
            out[runtime] = (ort_call(session, one_np), ort_call(session, many_np))
    return out


def ort_call(session: Any, images: np.ndarray) -> Callable[[], Any]:
    return lambda: session.run(None, {"images": images})


def rotated(items: list[str], by: int) -> list[str]:
    return items[by % len(items) :] + items[: by % len(items)] if items else items


def time_cell(cell: dict[str, Any], spec: dict[str, Any], process: int) -> list[dict[str, Any]]:
    shape = tuple(cell["shape"])
    calls = {head: callers(info, shape, spec["batch_size"], spec["runtimes"]) for head, info in cell["heads"].items()}
    heads, rows = sorted(calls), []
    with torch.inference_mode():
        for index in range(WARMUP_ROUNDS + spec["rounds"]):
            for runtime in rotated(list(spec["runtimes"]), index):
                for head in rotated(heads, index):
                    if runtime not in calls[head]:
                        continue
                    one, many = calls[head][runtime]
                    latencies = []
                    for _ in range(spec["latency_calls"]):
                        began = time.perf_counter()
                        one()
                        latencies.append(time.perf_counter() - began)
                    began = time.perf_counter()
                    many()
                    seconds = time.perf_counter() - began
                    if index >= WARMUP_ROUNDS:
                        rows.append(
                            {
                                "process": process,
                                "cell_id": cell["cell_id"],
                                "arch_id": cell["heads"][head].get("arch_id", ""),
                                "head": head,
                                "runtime": runtime,
                                "round": index - WARMUP_ROUNDS,
                                "latency_ms": 1000 * statistics.median(latencies),
                                "throughput_ips": spec["batch_size"] / seconds if seconds > 0 else np.nan,
                            }
                        )
    return rows


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    torch.set_num_threads(1)  # eager PyTorch on one thread; ORT sets its own per session
    rows = [row for cell in spec["cells"] for row in time_cell(cell, spec, int(spec["process"]))]
    lines = [",".join(COLUMNS)]
    writer_rows: list[str] = []
    for row in rows:
        writer_rows.append(",".join(str(row[column]) for column in COLUMNS))
    atomic_write_text(Path(out_path), "\n".join([*lines, *writer_rows]) + "\n")


def read_rounds(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
