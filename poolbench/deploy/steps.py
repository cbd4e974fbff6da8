"""What ``poolbench-deploy`` does to one trained model before timing (export, parity, int8, memory), and what it
makes of the stored rounds afterwards (per-head medians and the latency ratio against flatten with its CI)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ONNX_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"
AGAINST = "flatten"


def prepare_run(run: Any, args: argparse.Namespace, onnx: bool, int8: bool) -> dict[str, Any]:
    """Export and parity of one trained model (and, with ``int8``, its int8 quantization): its record fields,
    and the ONNX path when it passed parity."""
    from poolbench.deploy.cells import build_model, memory_layout, test_images
    from poolbench.deploy.onnx_export import check_parity, eager_logits, export_onnx, ort_logits, ort_session
    from poolbench.deploy.quantize import int8_fields

    model, weights = build_model(run)
    fields: dict[str, Any] = {"weights": weights}
    if not onnx:
        return fields
    path = run.run_dir / ONNX_FILE
    fields["onnx_bytes"] = export_onnx(model, run.input_shape, path)
    images, labels = test_images(run, max(args.parity_images, args.int8_images if int8 else 0))
    checked = images[: args.parity_images]
    session = ort_session(path, args.eval_threads)
    parity = check_parity(eager_logits(model, checked, memory_layout(run)), ort_logits(session, checked))
    fields.update(parity.fields())
    if parity.ok:
        fields["onnx"] = str(path)
        if int8:
            n = args.int8_images
            quantized = int8_fields(path, run.run_dir / INT8_FILE, images[:n], labels[:n], args.eval_threads)
            fields.update(quantized | {"int8_images": min(len(labels), n)})
    return fields


def prepare_runs(jobs: list[tuple[Any, bool]], args: argparse.Namespace, onnx: bool) -> list[dict[str, Any]]:
    """``prepare_run`` for every (run, int8) of ``jobs``, in order: on ``args.workers`` fresh processes at once
    (each on one thread: a small model's export and scoring use a core better than two threads do), or here."""
    if args.workers <= 1 or len(jobs) <= 1:
        return [prepare_run(run, args, onnx, int8) for run, int8 in jobs]
    import concurrent.futures
    import multiprocessing

    one_thread = argparse.Namespace(**{**vars(args), "eval_threads": 1})
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that runs torch's thread pools
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=spawn, initializer=_one_thread) as pool:
        runs, int8s = zip(*jobs)
        return list(pool.map(prepare_run, runs, [one_thread] * len(jobs), [onnx] * len(jobs), int8s))


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def memory_fields(models: dict[str, tuple[Any, str | None]], reference_dir: Path, probes: int) -> dict[str, Any]:
    """Per head of ``models`` (head -> (run, ONNX path or None)): the closed-form estimate and the peak memory
    measured in ``probes`` fresh processes, the heads taking turns probe by probe; the median is the field, the
    probes are kept (``peak_memory_probes``). One process's reading moves in steps of the allocator's heap
    growth (the same graph read 0.75, 0.95 or 1.67 MB in different processes): a median of turns taken side by
    side keeps such a step from falling on one head alone."""
    import statistics

    from poolbench.deploy.cells import build_model
    from poolbench.deploy.memory import estimated_peak_bytes, measured_peak_bytes, reference_model
    from poolbench.deploy.rounds import rotated

    fields: dict[str, dict[str, Any]] = {}
    readings: dict[str, list[int]] = {head: [] for head, (_, path) in models.items() if path}
    for head, (run, _) in models.items():
        model, _ = build_model(run)
        fields[head] = {"memory_estimate_bytes": estimated_peak_bytes(model, run.input_shape)}
        fields[head]["memory_run"] = str(run.run_dir)  # the run whose model was measured (the same graph elsewhere)
    shapes = {models[head][0].input_shape for head in readings}
    references = {s: reference_model(s, reference_dir / f"reference_{'x'.join(map(str, s))}.onnx") for s in shapes}
    for probe in range(probes):
        for head in rotated(list(readings), probe):
            run, path = models[head]
            reading = measured_peak_bytes(Path(str(path)), references[run.input_shape], run.input_shape)
            if reading is not None:
                readings[head].append(reading)
    for head, values in readings.items():
        if values:
            fields[head] |= {"peak_memory_bytes": int(statistics.median(values)), "peak_memory_probes": values}
    return fields


def summaries(rounds: list[dict[str, Any]], cell: str, heads: list[str], runtimes: list[str]) -> dict[str, Any]:
    """Per head: per runtime the median latency and throughput over every round of every process (with IQRs),
    and the latency ratio against flatten with its CI (``latency_ratio``: ONNX Runtime, 1 thread)."""
    import numpy as np

    from poolbench.resample import hierarchical_ratio, paired_log_ratios

    out: dict[str, dict[str, Any]] = {head: {} for head in heads}
    for runtime in runtimes:
        timed = [row for row in rounds if row["cell_id"] == cell and row["runtime"] == runtime]
        for head in heads:
            lat = np.array([row["latency_ms"] for row in timed if row["head"] == head], dtype=float)
            ips = np.array([row["throughput_ips"] for row in timed if row["head"] == head], dtype=float)
            if not len(lat):
                continue
            suffix = "" if runtime == "eager" else f"_{runtime}"
            (l1, lm, l3), (i1, im, i3) = np.percentile(lat, [25, 50, 75]), np.percentile(ips, [25, 50, 75])
            out[head] |= {
                f"latency_ms{suffix}": float(lm),
                f"latency_ms_iqr{suffix}": float(l3 - l1),
                f"throughput_ips{suffix}": float(im),
                f"throughput_ips_iqr{suffix}": float(i3 - i1),
            }
            if AGAINST in heads:
                ci = hierarchical_ratio(paired_log_ratios(timed, head, AGAINST))
                tag = "" if runtime == "ort_1" else f"_{runtime}"
                out[head] |= {
                    f"latency_ratio{tag}": ci.ratio,
                    f"latency_ratio{tag}_ci_low": ci.ci_low,
                    f"latency_ratio{tag}_ci_high": ci.ci_high,
                }
    return out


def merge_rounds(path: Path, rows: list[dict[str, Any]], cells: set[str]) -> None:
    """``deploy_timing.csv``: earlier rows of other cells kept, this call's cells replaced."""
    import pandas as pd

    from poolbench.atomic import atomic_write_text
    from poolbench.deploy.rounds import COLUMNS

    fresh = pd.DataFrame(rows, columns=COLUMNS)
    if path.is_file():
        old = pd.read_csv(path)
        fresh = pd.concat([old[~old["cell_id"].isin(cells)], fresh], ignore_index=True)
    atomic_write_text(path, fresh.to_csv(index=False))
