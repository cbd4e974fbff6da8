"""How fast poolbench trains, against a naive pipeline, the bare compute and the machine's matmul peak.

Everything is measured in ONE process. Each repetition times a fixed number of training steps of every
variant, one after another (the order rotates between repetitions, so slow background load hits all variants
alike); the table and the JSON report medians over repetitions.

  naive          torchvision dataset + per-sample PIL transforms (RandomCrop, RandomHorizontalFlip, ToTensor,
                 Normalize) through a DataLoader, feeding a plain PyTorch step (NCHW, fp32, no autocast) with
                 the same model, optimizer, schedule and batch size; best of ``--workers`` (default 0, 1, 2).
                 Workers persist across repetitions (no start-up cost is timed); batches they prefetched
                 while other variants ran are drawn untimed before each timed block, and no task is timed
                 until the workers have gone idle again (their refill would otherwise slow the next task).
  naive+step     the same loaders feeding poolbench's step (its memory format and autocast): splits the gain
                 into data path and step.
  poolbench      poolbench's own data path (uint8 on the device, augmented a batch at a time) and the very
                 step and epoch loop ``train.train`` runs (``poolbench.step``).
  compute        the same step on a few pre-made device batches: forward, backward, optimizer step only.
  poolbench P    the poolbench step in the other precision P (fp32 beside bf16, bf16 beside fp32; CPU and CUDA):
                 img/s, speedup over fp32 and MFU against the matmul peak of the same dtype.
  peak           a large square fp32 matmul, same threads (and a bf16 one where a bf16 step is timed).

FLOPs per image are counted by ``torch.utils.flop_counter`` around one whole training step (forward and
backward). The LAST line printed is one JSON object (``speedup_vs_naive``, ``mfu``, ``overhead``,
``images_per_second``, ``device``, ``threads``, the per-variant medians, ...).

Usage: python scripts/bench.py [--backbone small_cnn --head gap --dataset fashion_mnist --steps 30 --reps 5]
       [--threads N] [--device cpu|cuda] [--compile] [hydra.overrides=...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from poolbench.bench.measure import compile_report, measure, training_flops_per_image, warm_up
from poolbench.bench.setup import compose_config, make_setup
from poolbench.bench.summary import print_report, summarise
from poolbench.bench.variants import build_variants


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="small_cnn")
    parser.add_argument("--head", default="gap")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per variant per repetition")
    parser.add_argument("--reps", type=int, default=7, help="repetitions (medians are reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant before the first rep")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores of the job)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--workers", default="0,1,2", help="DataLoader num_workers tried for the naive pipeline")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the naive-loader + poolbench-step rows")
    parser.add_argument("--compile", action="store_true", help="also time trainer.compile=true (and its compile time)")
    parser.add_argument(
        "--glibc-default-malloc",
        action="store_true",
        help="skip poolbench.malloc.retain_freed_memory (to measure what it brings)",
    )
    parser.add_argument("--peak-size", type=int, default=None, help="matmul size (default 2048 CPU, 8192 CUDA)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. trainer.batch_size=256")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.reps < 1 or args.warmup < 0:
        parser.error("--steps and --reps must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    from poolbench.runtime import default_threads

    torch.set_num_threads(args.threads or default_threads())
    setup = make_setup(compose_config(args))
    if setup.device.type == "cpu" and not args.glibc_default_malloc:
        from poolbench.malloc import retain_freed_memory

        retain_freed_memory()  # as poolbench.run does; process-wide, so the naive rows get it too
    peak_size = args.peak_size or (2048 if setup.device.type == "cpu" else 8192)
    load_before = os.getloadavg()
    print(
        f"bench: {setup.settings.backbone['name']} + {setup.settings.head['name']} on {setup.settings.dataset.name}, "
        f"batch {setup.batch_size}, {args.steps} steps x {args.reps} reps, {setup.device}, "
        f"{torch.get_num_threads()} threads, load average {load_before[0]:.1f}",
        file=sys.stderr,
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="poolbench-bench-") as scratch:
        variants = build_variants(setup, args, Path(scratch))
        flops = training_flops_per_image(setup)
        warm_up(variants, args.warmup)
        samples = measure(setup, variants, args, peak_size)
        extra: dict[str, Any] = compile_report(setup, args) if args.compile else {}
    extra.update(
        steps=args.steps, reps=args.reps, load_average_before=load_before[0], load_average_after=os.getloadavg()[0]
    )
    rows, result = summarise(setup, variants, samples, flops, extra)
    print_report(rows, result)
    return result
