#!/usr/bin/env python
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
  peak           a large square fp32 matmul, same threads.

FLOPs per image are counted by ``torch.utils.flop_counter`` around one whole training step (forward and
backward). The LAST line printed is one JSON object (``speedup_vs_naive``, ``mfu``, ``overhead``,
``images_per_second``, ``device``, ``threads``, the per-variant medians, ...).

Usage: python scripts/bench.py [--backbone small_cnn --head gap --dataset fashion_mnist --steps 30 --reps 5]
       [--threads N] [--device cpu|cuda] [--compile] [hydra.overrides=...]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's poolbench, not an installed one

import torch
from torch.utils.flop_counter import FlopCounterMode

Batch = tuple[torch.Tensor, torch.Tensor]
PREFETCH_FACTOR = 2  # DataLoader's default: batches each worker keeps ready


# ----------------------------------------------------------------------------------------------- setup
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


def compose_config(args: argparse.Namespace):
    from hydra import compose, initialize_config_dir

    from poolbench.cli import CONF_DIR

    overrides = [
        f"backbone={args.backbone}",
        f"head={args.head}",
        f"dataset={args.dataset}",
        f"trainer.device={args.device}",
        "paths.output_dir=unused",
        *args.overrides,
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Setup:
    settings: Any  # poolbench.settings.Settings: the validated config, as every run reads it
    device: torch.device
    data: Any  # poolbench.data.splits.DataBundle
    ctx: Any  # poolbench.step.StepContext
    batch_size: int
    steps_per_epoch: int

    @property
    def trainer(self) -> Any:
        return self.settings.trainer

    @property
    def augment(self) -> Any:
        return self.settings.dataset.augment

    def new_model(self, memory_format: torch.memory_format) -> torch.nn.Module:
        """The same initialisation (config seed) for every variant."""
        from poolbench.models import build_classifier

        data = self.data
        model, _ = build_classifier(
            self.settings.backbone,
            self.settings.head,
            data.channels,
            data.image_size,
            data.num_classes,
            seed=self.settings.seed,
        )
        return model.to(self.device).to(memory_format=memory_format).train()

    def poolbench_step(self, compile: bool = False):
        """A fresh model and the step ``training.loop.train`` would build for it."""
        from dataclasses import replace

        from poolbench.training.optim import build_train_step

        model = self.new_model(self.ctx.memory_format)
        return build_train_step(model, replace(self.trainer, compile=compile), self.ctx, self.steps_per_epoch)


def make_setup(cfg_node) -> Setup:
    from poolbench.data.splits import prepare_data
    from poolbench.runtime import resolve_device, seed_everything, step_context
    from poolbench.training.optim import epoch_steps
    from poolbench.validate import validate

    settings = validate(cfg_node)
    device = resolve_device(settings.trainer.device)
    seed_everything(settings.seed)
    data = prepare_data(settings.dataset, settings.data_dir, device)
    batch_size = settings.trainer.batch_size
    return Setup(
        settings,
        device,
        data,
        step_context(device, settings.trainer),
        batch_size,
        epoch_steps(len(data.train), batch_size)[0],
    )


# ----------------------------------------------------------------------------------------------- naive
class PilImages(torch.utils.data.Dataset):
    """uint8 images served one PIL image at a time, as torchvision's own datasets do (non-FashionMNIST)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable) -> None:
        self.images = images.permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        image = self.images[index]
        pil = Image.fromarray(image[:, :, 0], mode="L") if image.shape[2] == 1 else Image.fromarray(image)
        return self.transform(pil), self.labels[index]


def torchvision_fashion_mnist_root(data_dir: Path, scratch: Path) -> Path:
    """A root torchvision's FashionMNIST accepts (``ROOT/FashionMNIST/raw/*-ubyte``, uncompressed), found by
    poolbench's own search; gzipped copies (Debian's) are decompressed into ``scratch``."""
    from poolbench.data.idx import IDX_FILES, find_fashion_mnist_files

    files = find_fashion_mnist_files(data_dir)
    if files is None:
        raise SystemExit("bench: FashionMNIST files not found (poolbench loaded them from elsewhere?)")
    raw = files["train_x"].parent
    if raw.parts[-2:] == ("FashionMNIST", "raw") and all(path.suffix != ".gz" for path in files.values()):
        return raw.parent.parent
    target = scratch / "FashionMNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for key, path in files.items():
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as source, open(target / IDX_FILES[key], "wb") as sink:
            shutil.copyfileobj(source, sink)
    return scratch


def naive_dataset(setup: Setup, scratch: Path) -> torch.utils.data.Dataset:
    import torchvision.transforms as T

    dataset, augment = setup.settings.dataset, setup.augment
    transforms: list[Any] = []
    if augment.crop_padding > 0:
        transforms.append(T.RandomCrop(dataset.image_size, padding=augment.crop_padding))
    if augment.flip:
        transforms.append(T.RandomHorizontalFlip())
    transforms += [T.ToTensor(), T.Normalize(list(dataset.mean), list(dataset.std))]
    transform = T.Compose(transforms)
    if dataset.kind == "fashion_mnist":
        from torchvision.datasets import FashionMNIST

        root = torchvision_fashion_mnist_root(Path(setup.settings.data_dir).expanduser(), scratch)
        return FashionMNIST(str(root), train=True, transform=transform, download=False)
    from poolbench.data.load import load_raw

    raw = load_raw(dataset, setup.settings.data_dir)
    return PilImages(raw.train_x, raw.train_y, transform)


def endless(loader: torch.utils.data.DataLoader) -> Iterator[Batch]:
    while True:
        yield from loader


def naive_batches(setup: Setup, dataset: torch.utils.data.Dataset, workers: int) -> Iterator[Batch]:
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=setup.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=setup.device.type == "cuda",
        prefetch_factor=PREFETCH_FACTOR if workers > 0 else None,
    )
    return endless(loader)


def plain_step(setup: Setup) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """What a straightforward PyTorch script does: NCHW, fp32, the same optimizer and schedule."""
    from poolbench.training.optim import build_optimizer, build_scheduler

    model = setup.new_model(torch.contiguous_format)
    optimizer = build_optimizer(model, setup.trainer)
    scheduler = build_scheduler(optimizer, setup.trainer, setup.steps_per_epoch)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=setup.trainer.label_smoothing)

    def step(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        return loss.detach()

    return step


def to_device(setup: Setup, batch: Batch, memory_format: torch.memory_format) -> Batch:
    images, labels = batch
    non_blocking = setup.device.type == "cuda"
    images = images.to(setup.device, non_blocking=non_blocking).contiguous(memory_format=memory_format)
    return images, labels.to(setup.device, non_blocking=non_blocking)


# ----------------------------------------------------------------------------------------------- variants
@dataclass
class Variant:
    """``run(steps)`` trains ``steps`` steps and returns when the device is done."""

    name: str
    run: Callable[[int], None]
    images_per_step: int
    group: str  # naive | naive+step | poolbench | compute | compile


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


def poolbench_variant(setup: Setup, name: str = "poolbench", compile: bool = False) -> Variant:
    from poolbench.step import train_epoch

    step, batches = setup.poolbench_step(compile), poolbench_batches(setup)

    def run(steps: int) -> None:
        train_epoch(step, itertools.islice(batches, steps))  # ends in a host sync, as every epoch does
        sync(setup.device)

    return Variant(name, run, setup.batch_size, "compile" if compile else "poolbench")


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
    return variants


# ----------------------------------------------------------------------------------------------- peak, FLOPs, eval
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
    """Images ``training.loop.train`` evaluates after every epoch: the train-curve subset, val and test."""
    data = setup.data
    curve = min(setup.trainer.train_eval_samples or len(data.test), len(data.train))
    return curve + len(data.val) + len(data.test)


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
    if setup.ctx.autocast_dtype is not None:
        tasks.append(
            (
                "peak_autocast",
                lambda: matmul_flops_per_second(setup.device, peak_size, peak_iterations, setup.ctx.autocast_dtype),
            )
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


# ----------------------------------------------------------------------------------------------- report
def summarise(
    setup: Setup, variants: list[Variant], samples: dict[str, list[float]], flops: float, extra: dict[str, Any]
) -> tuple[list[list[Any]], dict[str, Any]]:
    batch = setup.batch_size
    median_step = {v.name: statistics.median(samples[v.name]) for v in variants}
    ips = {name: batch / seconds for name, seconds in median_step.items()}
    best_naive = min((v.name for v in variants if v.group == "naive"), key=median_step.__getitem__)
    pb, compute = median_step["poolbench"], median_step["compute only"]
    peak = statistics.median(samples["peak"])
    eval_s = statistics.median(samples["eval"]) * per_epoch_eval_images(setup)
    epoch_train_s = pb * setup.steps_per_epoch
    rows = []
    for v in variants:
        spread = [batch / s for s in samples[v.name]]
        rows.append(
            [
                v.name,
                f"{ips[v.name]:.0f}",
                f"{1000 * median_step[v.name]:.1f}",
                f"{min(spread):.0f}-{max(spread):.0f}",
                f"{median_step[v.name] / pb:.2f}",
                f"{flops * ips[v.name] / peak:.2f}",
            ]
        )
    result: dict[str, Any] = {
        "speedup_vs_naive": median_step[best_naive] / pb,
        "mfu": flops * ips["poolbench"] / peak,
        "overhead": pb / compute,
        "images_per_second": ips["poolbench"],
        "device": str(setup.device),
        "device_name": torch.cuda.get_device_name(setup.device) if setup.device.type == "cuda" else cpu_name(),
        "threads": torch.get_num_threads(),
        "naive_images_per_second": ips[best_naive],
        "naive_best": best_naive,
        "compute_images_per_second": ips["compute only"],
        "peak_flops": peak,
        "train_flops_per_image": flops,
        "achieved_flops": flops * ips["poolbench"],
        "epoch_train_seconds": epoch_train_s,
        "epoch_eval_seconds": eval_s,
        "eval_fraction_of_epoch": eval_s / (eval_s + epoch_train_s),
        "variants_images_per_second": ips,
        "backbone": setup.settings.backbone["name"],
        "head": setup.settings.head["name"],
        "dataset": setup.settings.dataset.name,
        "batch_size": batch,
        "memory_format": "channels_last" if setup.ctx.memory_format == torch.channels_last else "contiguous",
        "autocast": str(setup.ctx.autocast_dtype).replace("torch.", "") if setup.ctx.autocast_dtype else None,
        "torch_version": torch.__version__,
        **extra,
    }
    if "peak_autocast" in samples:
        result["peak_flops_autocast"] = statistics.median(samples["peak_autocast"])
        result["mfu_vs_autocast_peak"] = flops * ips["poolbench"] / result["peak_flops_autocast"]
    return rows, result


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


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


def print_report(rows: list[list[Any]], result: dict[str, Any]) -> None:
    from tabulate import tabulate

    print(
        tabulate(
            rows,
            headers=["variant", "img/s", "ms/step", "img/s range", "time vs poolbench", "MFU"],
            colalign=("left", "right", "right", "right", "right", "right"),
        )
    )
    print()
    print(
        f"device {result['device']} ({result['device_name']}), {result['threads']} threads, batch "
        f"{result['batch_size']}, {result['memory_format']}, autocast {result['autocast']}; load average "
        f"{result['load_average_before']:.1f} -> {result['load_average_after']:.1f}"
    )
    print(
        f"training FLOPs/image {result['train_flops_per_image'] / 1e6:.1f} M; matmul peak "
        f"{result['peak_flops'] / 1e9:.1f} GFLOP/s; achieved {result['achieved_flops'] / 1e9:.1f} GFLOP/s"
    )
    print(
        f"speedup vs naive ({result['naive_best']}) {result['speedup_vs_naive']:.2f}x | MFU {result['mfu']:.2f} | "
        f"overhead vs compute only {result['overhead']:.3f}"
    )
    print(
        f"per-epoch evaluation {result['epoch_eval_seconds']:.1f} s vs training {result['epoch_train_seconds']:.1f} s "
        f"= {100 * result['eval_fraction_of_epoch']:.0f}% of the epoch"
    )
    if "compile_seconds" in result:
        print(
            f"torch.compile: {result['compile_seconds']:.0f} s to compile, {result['compile_speedup']:.2f}x per step, "
            f"pays off after {result['compile_break_even_epochs']} epochs"
        )
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
