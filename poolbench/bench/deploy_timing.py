"""``poolbench-deploy RESULTS_DIR``: CPU latency and throughput of every head of a cell, timed together.

A *cell* is a group of finished runs that differ only in head and seed (same dataset, backbone, training
settings). Weights do not change how long a forward pass takes, so one run per head is enough: each head's
model is rebuilt from its run's ``config.yaml`` (with its checkpoint's weights where there is one) and all heads
of the cell are timed in ONE process, on the same inputs, in rounds that alternate between them (the order
rotates every round), so slow background load on a shared machine hits every head alike. Each round takes
``--latency-calls`` timed batch-1 calls and one timed batch-``--batch-size`` call per head; the medians and
interquartile ranges over all of them go into ``deploy_timing.json`` in every run dir of the cell, which the
report merges in (``poolbench.record.read_deploy_timing``). Timing is fp32, eval mode, inference mode, on the
CPU with ``--threads`` threads, like the in-run measurement (``poolbench.deploy``) it replaces in the claims grid.

Run it after a sweep (``make claims`` does); a cell whose run dirs already hold its timing for the same heads
is skipped unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from poolbench.atomic import atomic_write_json
from poolbench.config.run_folder import read_config
from poolbench.errors import PoolbenchError, RecordError
from poolbench.record import (
    CHECKPOINT_FILE,
    DEPLOY_TIMING_FILE,
    compute_run_key,
    find_run_dirs,
    read_result,
)

REPORT_DIR = "report"
WARMUP_ROUNDS = 2  # untimed rounds first: allocations and oneDNN primitive creation land there


class DeployInputError(PoolbenchError):
    """A results path that does not exist or holds no finished run: a usage error, exit code 2."""

    exit_code = 2


@dataclass
class CellRun:
    run_dir: Path
    head: str
    seed: int
    config: dict[str, Any]


def cell_id(config: dict[str, Any]) -> str:
    """What a cell's runs share: the run key of their config without the head and the seed."""
    return compute_run_key({key: value for key, value in config.items() if key not in ("head", "seed")})


def find_cells(roots: Sequence[Path]) -> dict[str, list[CellRun]]:
    """Every finished (status ok) run under ``roots`` with a config.yaml, grouped by cell, in a stable order."""
    cells: dict[str, list[CellRun]] = {}
    for run_dir in find_run_dirs(*roots):
        if any(REPORT_DIR in run_dir.relative_to(root).parts for root in roots if run_dir.is_relative_to(root)):
            continue  # a copy under a report folder is not a run
        try:
            record = read_result(run_dir)
        except RecordError:
            continue  # the report lists unreadable records; nothing to time here
        config = read_config(run_dir)
        if record.status != "ok" or config is None:
            continue
        cells.setdefault(cell_id(config), []).append(CellRun(run_dir, record.head, record.seed, config))
    return {key: sorted(runs, key=lambda r: (r.head, r.seed, str(r.run_dir))) for key, runs in sorted(cells.items())}


def build_model(run: CellRun) -> tuple[Any, Any, str]:
    """The run's classifier in eval mode on the CPU (fp32), with its checkpoint's weights when they load; its
    memory format (channels_last unless the run turned it off); which weights it holds."""
    import torch

    from poolbench.models import build_classifier

    dataset = run.config["dataset"]
    model, _ = build_classifier(
        run.config["backbone"], run.config["head"], dataset["channels"], dataset["image_size"], dataset["num_classes"]
    )
    weights = "initial (no checkpoint)"
    checkpoint = run.run_dir / CHECKPOINT_FILE
    if checkpoint.is_file():
        try:
            model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["model"])
            weights = "trained (checkpoint)"
        except Exception as error:  # any unreadable checkpoint: latency does not depend on the weights
            weights = f"initial (checkpoint not loaded: {type(error).__name__})"
    layout = torch.contiguous_format if run.config["trainer"].get("channels_last") is False else torch.channels_last
    return model.to(memory_format=layout).eval(), layout, weights


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    import numpy as np

    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q1), float(median), float(q3)


def time_heads(
    models: dict[str, tuple[Any, Any]], shape: tuple[int, ...], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Latency (ms, batch 1) and throughput (images/s, batch ``args.batch_size``) of every (model, memory
    format), on the same inputs, rounds alternating between them; medians and interquartile ranges (q3 - q1)."""
    import torch

    from poolbench.deploy import cpu_threads

    batch = torch.randn((args.batch_size, *shape), generator=torch.Generator().manual_seed(0))
    inputs = {
        head: (batch[:1].contiguous(memory_format=fmt), batch.contiguous(memory_format=fmt))
        for head, (_, fmt) in models.items()
    }
    latency: dict[str, list[float]] = {head: [] for head in models}
    seconds: dict[str, list[float]] = {head: [] for head in models}
    heads = list(models)
    with cpu_threads(args.threads), torch.inference_mode():
        for round_index in range(WARMUP_ROUNDS + args.rounds):
            order = heads[round_index % len(heads) :] + heads[: round_index % len(heads)]
            for head in order:
                model, (one, many) = models[head][0], inputs[head]
                for _ in range(args.latency_calls):
                    began = time.perf_counter()
                    model(one)
                    latency[head].append(time.perf_counter() - began)
                began = time.perf_counter()
                model(many)
                seconds[head].append(time.perf_counter() - began)
    results = {}
    for head in heads:
        lat = quartiles([1000 * s for s in latency[head][WARMUP_ROUNDS * args.latency_calls :]])
        ips = quartiles([args.batch_size / s for s in seconds[head][WARMUP_ROUNDS:]])
        results[head] = {
            "latency_ms": lat[1],
            "latency_ms_iqr": lat[2] - lat[0],
            "latency_ms_quartiles": [lat[0], lat[2]],
            "throughput_ips": ips[1],
            "throughput_ips_iqr": ips[2] - ips[0],
            "throughput_ips_quartiles": [ips[0], ips[2]],
        }
    return results


def already_timed(runs: list[CellRun], key: str, heads: list[str]) -> bool:
    for run in runs:
        path = run.run_dir / DEPLOY_TIMING_FILE
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(saved, dict) or saved.get("cell_id") != key or saved.get("heads") != heads:
            return False
    return True


def time_cell(key: str, runs: list[CellRun], args: argparse.Namespace) -> str:
    """Time one cell and write deploy_timing.json into each of its run dirs; returns a summary line."""
    import torch

    from poolbench.runtime import cpu_has_native_bf16, cpu_name

    heads = sorted({run.head for run in runs})
    if not args.force and already_timed(runs, key, heads):
        return f"cell {key}: already timed ({', '.join(heads)}); --force times it again"
    timed = {head: next(run for run in runs if run.head == head) for head in heads}  # its lowest seed
    built = {head: build_model(run) for head, run in timed.items()}
    dataset = runs[0].config["dataset"]
    shape = (int(dataset["channels"]), int(dataset["image_size"]), int(dataset["image_size"]))
    results = time_heads({head: (model, layout) for head, (model, layout, _) in built.items()}, shape, args)
    shared = {
        "cell_id": key,
        "heads": heads,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "rounds": args.rounds,
        "latency_calls": args.latency_calls,
        "precision": "fp32",
        "cpu": cpu_name(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "machine": platform.machine(),
        "torch_version": torch.__version__,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for run in runs:
        source = timed[run.head]
        mine = {"head": run.head, "timed_run": str(source.run_dir), "weights": built[run.head][2]}
        atomic_write_json(run.run_dir / DEPLOY_TIMING_FILE, {**shared, **mine, **results[run.head]})
    text = ", ".join(f"{h} {r['latency_ms']:.3f} ms / {r['throughput_ips']:,.0f} img/s" for h, r in results.items())
    return f"cell {key} ({len(runs)} runs): {text}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="poolbench-deploy",
        description="Time every head of each cell (runs differing only in head and seed) together on the CPU; "
        "writes deploy_timing.json into each run dir for poolbench-report.",
        epilog="Example: poolbench-deploy results/claims   (make claims runs it before the report)",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="RESULTS_DIR")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the timing (default 1)")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds alternating between heads (default 20)")
    parser.add_argument("--latency-calls", type=int, default=10, help="batch-1 calls per head per round")
    parser.add_argument("--batch-size", type=int, default=256, help="batch of the throughput call (default 256)")
    parser.add_argument("--force", action="store_true", help="time cells that already hold their timing again")
    args = parser.parse_args(argv)
    if min(args.threads, args.rounds, args.latency_calls, args.batch_size) < 1:
        parser.error("--threads, --rounds, --latency-calls and --batch-size must be >= 1")
    return args


def time_results(args: argparse.Namespace) -> list[str]:
    missing = [str(path) for path in args.paths if not Path(path).is_dir()]
    if missing:
        raise DeployInputError(f"no such directory: {', '.join(missing)}. Pass a results or sweep directory.")
    cells = find_cells(args.paths)
    if not cells:
        raise DeployInputError(f"no finished run (result.json, status ok) under {', '.join(map(str, args.paths))}.")
    return [time_cell(key, runs, args) for key, runs in cells.items()]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        lines = time_results(args)
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
