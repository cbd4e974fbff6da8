"""``poolbench-deploy RESULTS_DIR``: every cell's trained models exported, checked, measured and timed.

A *cell* is a group of finished runs that differ only in head and seed (``cells``). For each cell:

1. every trained model (checkpoint weights) is exported to ONNX (``model.onnx`` in its run dir) and checked for
   parity against eager PyTorch on the run's test images (``onnx_export``); then quantized to int8
   (``model.int8.onnx``) with its test-accuracy change (``quantize``); one run per core at a time (``steps``);
2. per head, the lowest seed that passed parity is the timed model; its peak inference memory at batch 1 is
   measured in ``--memory-probes`` fresh processes, the cell's heads taking turns (``memory``), once per graph
   (the same backbone, head and input sizes trained in several cells: the first cell's model, ``memory_run``);
3. k processes (``--processes``, one after the other) each time every cell's heads interleaved, in eager PyTorch
   and ONNX Runtime (``rounds``); every round goes into ``RESULTS_DIR/deploy_timing.csv``;
4. each run dir gets ``deploy_timing.json``: its head's medians per runtime, the latency ratio against
   ``flatten`` with its hierarchical-bootstrap CI (``poolbench.resample``), memory, sizes, parity, int8.

A model that fails parity is reported and never timed in ONNX Runtime. Without onnx/onnxruntime one line says so
and eager PyTorch is timed alone. A cell whose run dirs already hold its timing for the same heads is skipped
unless ``--force``. ``make claims`` runs it before the report; docs/deploy.md has the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from poolbench.deploy.steps import AGAINST, memory_fields, merge_rounds, prepare_runs, summaries
from poolbench.errors import PoolbenchError
from poolbench.record import DEPLOY_TIMING_FILE

ROUNDS_FILE = "deploy_timing.csv"  # every round of every process, at the results dir's top


class DeployInputError(PoolbenchError):
    """A results path that does not exist or holds no finished run: a usage error, exit code 2."""

    exit_code = 2


def already_timed(runs: list[Any], key: str, heads: list[str]) -> bool:
    for run in runs:
        try:
            saved = json.loads((run.run_dir / DEPLOY_TIMING_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(saved, dict) or saved.get("cell_id") != key or saved.get("heads") != heads:
            return False
    return True


def run_processes(specs: list[dict[str, Any]], args: argparse.Namespace, scratch: Path) -> list[dict[str, Any]]:
    """k timing processes, one after the other; their rounds."""
    import pandas as pd

    frames = []
    for process in range(args.processes):
        spec = {
            "process": process,
            "rounds": args.rounds,
            "latency_calls": args.latency_calls,
            "ort_calls": args.ort_calls,
        }
        spec |= {"batch_size": args.batch_size, "runtimes": args.runtimes, "cells": specs}
        spec_path, out_path = scratch / f"spec{process}.json", scratch / f"rounds{process}.csv"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [sys.executable, "-m", "poolbench.deploy.rounds", str(spec_path), str(out_path)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise DeployInputError(f"timing process {process} failed: {done.stderr.strip().splitlines()[-1:]}")
        frames.append(pd.read_csv(out_path))
    return pd.concat(frames, ignore_index=True).to_dict("records") if frames else []


def machine() -> dict[str, Any]:
    import torch

    from poolbench.runtime import cpu_has_native_bf16, cpu_name

    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "cpu": cpu_name(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "machine": platform.machine(),
        "torch_version": torch.__version__,
        "onnxruntime_version": ort_version,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def deploy_results(args: argparse.Namespace) -> list[str]:
    from poolbench.atomic import atomic_write_json
    from poolbench.deploy.cells import arch_id, find_cells
    from poolbench.deploy.onnx_export import onnx_missing

    missing = [str(path) for path in args.paths if not Path(path).is_dir()]
    if missing:
        raise DeployInputError(f"no such directory: {', '.join(missing)}. Pass a results or sweep directory.")
    cells = find_cells(args.paths)
    if not cells:
        raise DeployInputError(f"no finished run (result.json, status ok) under {', '.join(map(str, args.paths))}.")
    began, lines = time.perf_counter(), []
    why_not = onnx_missing()
    if why_not:
        lines.append(why_not)
        args.runtimes = [r for r in args.runtimes if r == "eager"]
    pending: dict[str, tuple[list[Any], list[str]]] = {}
    specs: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="poolbench-deploy-"))
    for key, runs in cells.items():
        heads = sorted({run.head for run in runs})
        if not args.force and already_timed(runs, key, heads):
            lines.append(f"cell {key}: already timed ({', '.join(heads)}); --force times it again")
            continue
        pending[key] = (runs, heads)
    jobs = []
    for runs, heads in pending.values():
        first = {head: next(run for run in runs if run.head == head) for head in heads}  # lowest seed: int8 too
        jobs += [(run, run is first[run.head]) for run in runs]
    results = prepare_runs(jobs, args, why_not is None)
    fields: dict[Path, dict[str, Any]] = {run.run_dir: done for (run, _), done in zip(jobs, results)}
    measured: dict[tuple[str, bool], dict[str, Any]] = {}  # one graph's peak memory, whatever cell it was trained in
    for key, (runs, heads) in pending.items():
        timed = {}
        for head in heads:
            passed = [run for run in runs if run.head == head and fields[run.run_dir].get("onnx")]
            timed[head] = (passed or [run for run in runs if run.head == head])[0]  # its lowest seed that passed
        graphs = {head: (arch_id(run.config), bool(fields[run.run_dir].get("onnx"))) for head, run in timed.items()}
        new = {
            head: (run, fields[run.run_dir].get("onnx")) for head, run in timed.items() if graphs[head] not in measured
        }
        for head, memory in memory_fields(new, scratch, args.memory_probes).items():
            measured[graphs[head]] = memory
        for run in runs:
            fields[run.run_dir] |= measured[graphs[run.head]] | {"timed_run": str(timed[run.head].run_dir)}
        failed = [str(run.run_dir) for run in runs if why_not is None and not fields[run.run_dir].get("parity_ok")]
        if failed:
            lines.append(f"cell {key}: parity FAILED (not timed in ONNX Runtime): {', '.join(failed)}")
        specs.append(
            {
                "cell_id": key,
                "shape": list(runs[0].input_shape),
                "heads": {
                    h: {"run_dir": str(r.run_dir), "onnx": fields[r.run_dir].get("onnx"), "arch_id": arch_id(r.config)}
                    for h, r in timed.items()
                },
            }
        )
    if not specs:
        return lines
    prepared = time.perf_counter()
    rounds = run_processes(specs, args, scratch)
    merge_rounds(Path(args.paths[0]) / ROUNDS_FILE, rounds, set(pending))
    shared = machine() | {
        "processes": args.processes,
        "rounds": args.rounds,
        "latency_calls": args.latency_calls,
        "ort_calls": args.ort_calls,
        "batch_size": args.batch_size,
        "threads": 1,
        "runtimes": args.runtimes,
        "precision": "fp32",
        "against": AGAINST,
        "rounds_file": str(Path(args.paths[0]) / ROUNDS_FILE),
    }
    for key, (runs, heads) in pending.items():
        per_head = summaries(rounds, key, heads, args.runtimes)
        for run in runs:
            own = {k: v for k, v in fields[run.run_dir].items() if k != "onnx"}
            body = shared | {"cell_id": key, "heads": heads, "head": run.head} | own | per_head[run.head]
            atomic_write_json(run.run_dir / DEPLOY_TIMING_FILE, body)
        text = ", ".join(
            f"{h} {per_head[h].get('latency_ms_ort_1', per_head[h].get('latency_ms', float('nan'))):.3f} ms"
            for h in heads
        )
        lines.append(f"cell {key} ({len(runs)} runs): batch-1 latency {text}")
    stages = f"export, parity, int8, memory {prepared - began:.0f} s; timing {time.perf_counter() - prepared:.0f} s"
    lines.append(f"{len(pending)} cell(s) in {time.perf_counter() - began:.0f} s ({stages})")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="poolbench-deploy",
        description="Export every trained model of each cell (runs differing only in head and seed) to ONNX, check "
        "parity, quantize to int8, measure peak memory, and time the cell's heads interleaved in k processes in "
        "eager PyTorch and ONNX Runtime; writes deploy_timing.json per run dir and deploy_timing.csv (every round).",
        epilog="Example: poolbench-deploy results/claims   (make claims runs it before the report; docs/deploy.md)",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="RESULTS_DIR")
    parser.add_argument("--processes", type=int, default=5, help="independent timing processes (default 5)")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per process (default 10)")
    parser.add_argument(
        "--latency-calls", type=int, default=20, help="batch-1 calls per head per round, eager PyTorch (default 20)"
    )
    parser.add_argument(
        "--ort-calls", type=int, default=100, help="batch-1 calls per head per round, ONNX Runtime (default 100)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch of the throughput call (default 32)")
    parser.add_argument(
        "--parity-images", type=int, default=200, help="the run's first N test images for parity (default 200)"
    )
    parser.add_argument(
        "--int8-images", type=int, default=2000, help="test images for the int8 accuracy change (default 2000)"
    )
    parser.add_argument(
        "--runtimes", nargs="+", default=["eager", "ort_1", "ort_all"], choices=["eager", "ort_1", "ort_all"]
    )
    parser.add_argument(
        "--memory-probes", type=int, default=3, help="fresh processes measuring each graph's peak memory (default 3)"
    )
    parser.add_argument("--force", action="store_true", help="time cells that already hold their timing again")
    args = parser.parse_args(argv)
    counts = (args.processes, args.rounds, args.latency_calls, args.ort_calls, args.batch_size, args.memory_probes)
    if min(*counts, args.parity_images, args.int8_images) < 1:
        parser.error(
            "--processes, --rounds, --latency-calls, --ort-calls, --batch-size, --memory-probes and --*-images "
            "must be >= 1"
        )
    args.eval_threads = max(1, os.cpu_count() or 1)  # parity and int8 accuracy: as fast as the machine allows
    args.workers = args.eval_threads  # ... by as many processes, one run each
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        lines = deploy_results(args)
    except PoolbenchError as error:
        print(f"poolbench-deploy: {error}", file=sys.stderr)
        return error.exit_code
    for line in lines:
        print(f"poolbench-deploy: {line}")
    return 0


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
