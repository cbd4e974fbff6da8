"""Timing: repetitions in rotating order, waiting for idle loader workers between tasks, the matmul peak,
training FLOPs per image, evaluation seconds per image, and torch.compile against eager."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from poolbench.bench.setup import Setup, sync
from poolbench.bench.variants import Variant, poolbench_batches, poolbench_variant


def matmul_flops_per_second(device: torch.device, size: int, iterations: int, dtype=torch.float32) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    sync(device)
    began = time.perf_counter()
    for _ in range(iterations):
        torch.mm(a, b, out=out)
    sync(device)
    return 2.0 * size**3 * iterations / (time.perf_counter() - began)


def training_flops_per_image(setup: Setup) -> float:
    """FLOPs of one whole training step (forward + backward; torch.utils.flop_counter), per image."""
    step = setup.poolbench_step()
    images, labels = next(poolbench_batches(setup))
    with FlopCounterMode(display=False) as counter:
        step(images, labels)
    return counter.get_total_flops() / labels.shape[0]


def eval_seconds_per_image(setup: Setup, images: int) -> Callable[[], float]:
    """Time ``training.evaluate.evaluate`` (inference mode, eval batch size) on the first ``images`` test images."""
    from poolbench.data.splits import ImageSplit
    from poolbench.training.evaluate import evaluate

    model = setup.new_model(setup.ctx.memory_format)
    split = ImageSplit(setup.data.test.x[:images], setup.data.test.y[:images])
    eval_batch = setup.trainer.eval_batch_size

    def measure() -> float:
        began = time.perf_counter()
        evaluate(model, split, setup.data, eval_batch, setup.ctx)
        return (time.perf_counter() - began) / len(split)

    return measure


def per_epoch_eval_images(setup: Setup) -> int:
    """Images ``training.loop.train`` evaluates after every epoch: the splits of ``trainer.curves`` (train: the
    train-curve subset)."""
    data = setup.data
    curve = min(setup.trainer.train_eval_samples or len(data.test), len(data.train))
    sizes = {"train": curve, "val": len(data.val), "test": len(data.test)}
    return sum(sizes[split] for split in setup.trainer.curves)


# ----------------------------------------------------------------------------------------------- measure
def timed(run: Callable[[int], None], steps: int) -> float:
    began = time.perf_counter()
    run(steps)
    return time.perf_counter() - began


def children_cpu_ticks() -> int | None:
    """CPU time (clock ticks) used so far by this process's live child processes (DataLoader workers); None
    where /proc is not there to ask."""
    total = 0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total


def wait_until_children_idle(poll: float = 0.03, quiet_polls: int = 3, limit: float = 5.0) -> None:
    """Return once no child process has used CPU for ``quiet_polls`` polls in a row.

    Right after a timed block of a worker-backed naive loader, its workers refill their prefetch queue (2
    batches of per-sample PIL work each). Timed next, any other variant would share the 2 cores with them and
    look slower than it is: that once cost the poolbench rows ~8 % and the matmul peak ~5 % here.
    """
    last, quiet, deadline = children_cpu_ticks(), 0, time.monotonic() + limit
    if last is None:
        time.sleep(0.5)
        return
    while quiet < quiet_polls and time.monotonic() < deadline:
        time.sleep(poll)
        now = children_cpu_ticks()
        quiet = quiet + 1 if now == last else 0
        last = now


def measure(setup: Setup, variants: list[Variant], args: argparse.Namespace, peak_size: int) -> dict[str, list[float]]:
    """Seconds per step of every variant (and the peak's FLOP/s, eval s/image) for every repetition."""
    peak_iterations = 10 if setup.device.type == "cpu" else 50
    eval_measure = eval_seconds_per_image(setup, min(len(setup.data.test), 8 * setup.trainer.eval_batch_size))

    def per_step(variant: Variant) -> Callable[[], float]:
        return lambda: timed(variant.run, args.steps) / args.steps

    tasks: list[tuple[str, Callable[[], float]]] = [(v.name, per_step(v)) for v in variants]
    tasks.append(("peak", lambda: matmul_flops_per_second(setup.device, peak_size, peak_iterations)))
    if "bf16" in (setup.ctx.precision, setup.other_precision):  # MFU of bf16 against the bf16 matmul peak
        tasks.append(
            ("peak_bf16", lambda: matmul_flops_per_second(setup.device, peak_size, peak_iterations, torch.bfloat16))
        )
    tasks.append(("eval", eval_measure))
    samples: dict[str, list[float]] = {name: [] for name, _ in tasks}
    for rep in range(args.reps):
        shift = rep % len(tasks)  # rotate the order so no variant always follows the same neighbour
        for name, task in tasks[shift:] + tasks[:shift]:
            wait_until_children_idle()  # nothing left over from the previous task shares the cores
            samples[name].append(task())
        print(f"  rep {rep + 1}/{args.reps} done (load average {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    return samples


def warm_up(variants: list[Variant], steps: int) -> dict[str, float]:
    """Untimed first steps (allocator, oneDNN/cuDNN plans, DataLoader workers); returns their seconds."""
    return {variant.name: timed(variant.run, steps) for variant in variants if steps > 0}


def compile_report(setup: Setup, args: argparse.Namespace) -> dict[str, Any]:
    """trainer.compile=true against eager: compile seconds, steady speed, and the epochs it needs to pay off."""
    compiled = poolbench_variant(setup, "poolbench compiled", compile=True)
    compile_s = timed(compiled.run, 2)  # the first steps compile forward and backward
    eager = poolbench_variant(setup, "poolbench eager")
    eager.run(args.warmup)
    eager_t, compiled_t = [], []
    for _ in range(args.reps):
        eager_t.append(timed(eager.run, args.steps) / args.steps)
        compiled_t.append(timed(compiled.run, args.steps) / args.steps)
    eager_s, compiled_s = statistics.median(eager_t), statistics.median(compiled_t)
    saved_per_epoch = (eager_s - compiled_s) * setup.steps_per_epoch
    return {
        "compile_seconds": compile_s,
        "compile_speedup": eager_s / compiled_s,
        "compile_break_even_epochs": compile_s / saved_per_epoch if saved_per_epoch > 0 else None,
    }
