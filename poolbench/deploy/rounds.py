"""One timing process: every cell's heads timed interleaved, in every runtime, round after round.

``python -m poolbench.deploy.rounds SPEC.json OUT.csv`` (``command`` starts k of these, one after the other, so
that no two share the cores). Per round, for each runtime (the order rotates every round), ``latency_calls``
(eager) or ``ort_calls`` (ONNX Runtime, whose call takes a fifth of eager's) timed batch-1 calls per head of the
cell, the heads taking turns call by call in a seeded random order (``interleaved_calls``; their median is the
head's latency in that round), then one timed batch-``batch_size`` call per head (the round's throughput). Two
untimed rounds first. Runtimes: ``eager`` (PyTorch, fp32, inference mode, 1 thread), ``ort_1`` (ONNX Runtime
CPU execution provider, 1 intra-op thread: the resource-constrained case) and ``ort_all`` (one intra-op thread
per core; idle workers sleep at once instead of spinning as ONNX Runtime does by default). Only models that
passed parity get an ONNX path in the spec; eager timing runs for every head.
"""

from __future__ import annotations

import csv
import json
import os
import random
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
            # no spinning, all cores too: with the heads' calls interleaved, one session's spinning workers would
            # take the cores from the next head's call (flatten vs flatten_dropout: sd of a round's log ratio
            # 0.07 spinning, 0.03 not, 100 calls; docs/deploy.md)
            session = ort_session(Path(head["onnx"]), ort_threads(runtime))
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
                timed = [head for head in rotated(heads, index) if runtime in calls[head]]
                count = spec["latency_calls"] if runtime == "eager" else spec["ort_calls"]
                order = random.Random(f"{process} {cell['cell_id']} {runtime} {index}")  # the same in a rerun
                latencies, seconds = interleaved_calls({head: calls[head][runtime] for head in timed}, count, order)
                if index < WARMUP_ROUNDS:
                    continue
                for head in timed:
                    rows.append(
                        {
                            "process": process,
                            "cell_id": cell["cell_id"],
                            "arch_id": cell["heads"][head].get("arch_id", ""),
                            "head": head,
                            "runtime": runtime,
                            "round": index - WARMUP_ROUNDS,
                            "latency_ms": 1000 * statistics.median(latencies[head]),
                            "throughput_ips": spec["batch_size"] / seconds[head] if seconds[head] > 0 else np.nan,
                        }
                    )
    return rows


def interleaved_calls(
    calls: dict[str, tuple[Callable[[], Any], Callable[[], Any]]], count: int, order: random.Random
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """One round of one runtime: ``count`` batch-1 calls per head, the heads taking turns call by call in a fresh
    random order each time (``order``), then one batch-N call per head. A burst of noise (another process, the
    hypervisor) then falls on every head alike instead of on the one whose block it hit, and every head follows
    every other equally often: with all cores a call is slower after some heads than after others (flatten
    + dropout against flatten, the same graph: 0.94 with the rotation run backwards, 1.035 forwards, 1.01 in
    random order). Returns per head its batch-1 call seconds and its batch-N call's seconds."""
    heads = list(calls)
    latencies: dict[str, list[float]] = {head: [] for head in heads}
    for _ in range(count):
        for head in order.sample(heads, len(heads)):
            one = calls[head][0]
            began = time.perf_counter()
            one()
            latencies[head].append(time.perf_counter() - began)
    seconds = {}
    for head in heads:
        many = calls[head][1]
        began = time.perf_counter()
        many()
        seconds[head] = time.perf_counter() - began
    return latencies, seconds


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
