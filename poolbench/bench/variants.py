"""The timed variants: naive loaders (with the plain step or poolbench's step), poolbench's own batches and
epoch loop, and the step alone on pre-made batches."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from poolbench.bench.naive import PREFETCH_FACTOR, naive_batches, naive_dataset, plain_step, to_device
from poolbench.bench.setup import Batch, Setup, sync


@dataclass
class Variant:
    """``run(steps)`` trains ``steps`` steps and returns when the device is done."""

    name: str
    run: Callable[[int], None]
    images_per_step: int
    group: str  # naive | naive+step | poolbench | compute | compile | precision (the other precision's poolbench)


def loader_variant(
    setup: Setup, name: str, group: str, batches: Iterator[Batch], step, memory_format, prefetched: int
) -> Variant:
    """``prefetched`` batches that workers made while other variants ran are taken untimed first, so a timed
    block starts as a loader in steady state does, not with a queue filled for free."""

    def run(steps: int) -> None:
        for _ in range(prefetched):
            next(batches)
        for _ in range(steps):
            step(*to_device(setup, next(batches), memory_format))
        sync(setup.device)

    return Variant(name, run, setup.batch_size, group)


def poolbench_batches(setup: Setup) -> Iterator[Batch]:
    """Epoch after epoch of poolbench's own batches, exactly as ``training.loop.train`` asks for them."""
    from poolbench.data.batches import epoch_batches
    from poolbench.training.loop import epoch_generator
    from poolbench.training.optim import epoch_steps

    drop_last = epoch_steps(len(setup.data.train), setup.batch_size)[1]
    for epoch in itertools.count():
        yield from epoch_batches(
            setup.data.train,
            setup.batch_size,
            setup.data.mean,
            setup.data.std,
            epoch_generator(setup.settings.seed, epoch),
            crop_padding=setup.augment.crop_padding,
            flip=setup.augment.flip,
            drop_last=drop_last,
            memory_format=setup.ctx.memory_format,
        )


def poolbench_variant(
    setup: Setup, name: str = "poolbench", compile: bool = False, precision: str | None = None
) -> Variant:
    from poolbench.step import train_epoch

    step, batches = setup.poolbench_step(compile, precision), poolbench_batches(setup)

    def run(steps: int) -> None:
        train_epoch(step, itertools.islice(batches, steps))  # ends in a host sync, as every epoch does
        sync(setup.device)

    group = "compile" if compile else "precision" if precision is not None else "poolbench"
    return Variant(name, run, setup.batch_size, group)


def compute_variant(setup: Setup) -> Variant:
    step = setup.poolbench_step()
    premade = list(itertools.islice(poolbench_batches(setup), 4))

    def run(steps: int) -> None:
        for index in range(steps):
            step(*premade[index % len(premade)])
        sync(setup.device)

    return Variant("compute only", run, setup.batch_size, "compute")


def build_variants(setup: Setup, args: argparse.Namespace, scratch: Path) -> list[Variant]:
    dataset = naive_dataset(setup, scratch)
    variants = []
    for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
        batches = naive_batches(setup, dataset, workers)  # one loader (and its workers) for both rows
        prefetched = workers * PREFETCH_FACTOR
        variants.append(
            loader_variant(
                setup,
                f"naive (workers={workers})",
                "naive",
                batches,
                plain_step(setup),
                torch.contiguous_format,
                prefetched,
            )
        )
        if not args.no_breakdown:
            variants.append(
                loader_variant(
                    setup,
                    f"naive loader + poolbench step (workers={workers})",
                    "naive+step",
                    batches,
                    setup.poolbench_step(),
                    setup.ctx.memory_format,
                    prefetched,
                )
            )
    variants += [poolbench_variant(setup), compute_variant(setup)]
    if setup.other_precision is not None:  # bf16 beside fp32: the same poolbench step in the other precision
        other = setup.other_precision
        variants.append(poolbench_variant(setup, f"poolbench {other}", precision=other))
    return variants
