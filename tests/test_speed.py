"""The fast path changes no result: poolbench's batches + step against a plain loop; augmentation unit tests;
the divergence guard that no longer reads the loss every step; scripts/bench.py end to end."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from poolbench.bench.measure import children_cpu_ticks, wait_until_children_idle
from poolbench.bench.naive import torchvision_fashion_mnist_root
from poolbench.data.batches import crop_windows, epoch_batches, flip_where, random_crop, random_flip
from poolbench.data.splits import ImageSplit, prepare_data
from poolbench.models import build_classifier
from poolbench.runtime import step_context
from poolbench.step import train_epoch
from poolbench.training.loop import TrainPlan, epoch_generator, train
from poolbench.training.optim import build_train_step, epoch_steps
from tests.conftest import REPO_ROOT, TINY, cli_env, compose_cfg, compose_settings, write_idx

SEED = 3


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------- same result
def reference_losses(model, x_uint8, y, order, batch_size, mean, std, trainer, bf16: bool = False) -> list[float]:
    """A plain loop: NCHW model, plain indexing and normalisation, torch.optim.SGD at a constant lr; with ``bf16``
    each forward runs under its own bf16 autocast context (one context around several steps would keep its
    cached bf16 copies of the first step's weights)."""
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=trainer.lr,
        momentum=trainer.momentum,
        nesterov=trainer.nesterov,
        weight_decay=trainer.weight_decay,
    )
    losses = []
    for start in range(0, len(order) - batch_size + 1, batch_size):
        index = order[start : start + batch_size]
        images = (x_uint8[index].float() / 255.0 - mean) / std
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(images), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# (precision, rtol) of the per-step losses against the plain loop in the same precision. bf16 keeps 8 bits of
# mantissa (unit roundoff 2^-8 = 0.39 %): over these 11 steps the fast path was within 0.03 % of the plain bf16
# loop and 0.04 % of the plain fp32 one; 0.2 % leaves 5x room and still fails a wrong step or a stale weight.
TOLERANCES = [("fp32", 1e-4), ("bf16", 2e-3)]


@pytest.mark.parametrize("precision, rtol", TOLERANCES)
def test_fast_path_and_train_give_the_plain_loop_loss_trajectory(tmp_path, one_thread, precision, rtol):
    overrides = [*TINY, "trainer.schedule=constant", "trainer.epochs=1", f"trainer.precision={precision}"]
    cfg = compose_settings(overrides, output_dir=tmp_path)
    trainer, bf16 = cfg.trainer, precision == "bf16"
    data = prepare_data(cfg.dataset, str(tmp_path), torch.device("cpu"))
    model, _ = build_classifier(cfg.backbone, cfg.head, data.channels, data.image_size, data.num_classes, seed=SEED)
    batch_size = trainer.batch_size
    num_steps, drop_last = epoch_steps(len(data.train), batch_size)
    assert drop_last and num_steps >= 5

    generator = lambda: torch.Generator().manual_seed(1234)  # noqa: E731
    order = torch.randperm(len(data.train), generator=generator())  # the permutation epoch_batches draws first
    expected = reference_losses(
        copy.deepcopy(model), data.train.x, data.train.y, order, batch_size, data.mean, data.std, trainer, bf16
    )

    ctx = step_context(torch.device("cpu"), trainer)
    assert ctx.memory_format == torch.channels_last  # the fast path really differs from the reference's NCHW
    assert ctx.precision == precision
    fast_model = copy.deepcopy(model).to(memory_format=ctx.memory_format)
    step = build_train_step(fast_model, trainer, ctx, num_steps)
    batches = epoch_batches(
        data.train, batch_size, data.mean, data.std, generator(), drop_last=True, memory_format=ctx.memory_format
    )
    fast = [float(step(images, labels)) for images, labels in batches]
    np.testing.assert_allclose(fast, expected, rtol=rtol, atol=1e-6)
    assert fast[-1] < fast[0]  # it trained: the check is not comparing constants

    # train() itself (epoch seeds, the device-side loss sum): same mean loss over its one epoch.
    order = torch.randperm(len(data.train), generator=epoch_generator(SEED, 0))
    expected = reference_losses(
        copy.deepcopy(model), data.train.x, data.train.y, order, batch_size, data.mean, data.std, trainer, bf16
    )
    plan = TrainPlan(trainer, cfg.dataset.augment, SEED, ctx, progress_bar=False)
    outcome = train(copy.deepcopy(model).to(memory_format=ctx.memory_format), data, plan)
    assert outcome.status == "ok"
    assert outcome.history[0]["train_batch_loss"] == pytest.approx(float(np.mean(expected)), rel=rtol)


# ----------------------------------------------------------------------------------------------- augmentation
def windows_of(image: torch.Tensor, padding: int) -> dict[tuple[int, int], torch.Tensor]:
    padded = F.pad(image, (padding,) * 4)
    height, width = image.shape[-2:]
    return {
        (dy, dx): padded[:, dy : dy + height, dx : dx + width]
        for dy in range(2 * padding + 1)
        for dx in range(2 * padding + 1)
    }


def test_crop_windows_cuts_each_image_at_its_own_offset():
    images = torch.randint(0, 256, (6, 3, 7, 9), dtype=torch.uint8)
    shifts = torch.tensor([[0, 0], [4, 4], [0, 4], [4, 0], [2, 2], [1, 3]])
    cropped = crop_windows(images, 2, shifts)
    assert cropped.shape == images.shape and cropped.dtype == torch.uint8
    for n, (dy, dx) in enumerate(shifts.tolist()):
        assert torch.equal(cropped[n], windows_of(images[n], 2)[(dy, dx)])
    assert torch.equal(cropped[4], images[4])  # the centre window is the image itself
    assert crop_windows(images, 0, shifts) is images


def test_random_crop_draws_every_offset_and_is_deterministic_per_generator():
    images = torch.randint(1, 256, (300, 1, 5, 5), dtype=torch.uint8)
    cropped = random_crop(images, 1, torch.Generator().manual_seed(0))
    offsets = set()
    for n in range(300):
        matches = [key for key, window in windows_of(images[n], 1).items() if torch.equal(cropped[n], window)]
        assert matches, f"image {n} is not a window of its padded input"
        offsets.add(matches[0])
    assert len(offsets) == 9
    assert torch.equal(cropped, random_crop(images, 1, torch.Generator().manual_seed(0)))
    assert not torch.equal(cropped, random_crop(images, 1, torch.Generator().manual_seed(1)))


def test_flip_where_mirrors_exactly_the_masked_images():
    images = torch.arange(4 * 2 * 3 * 4).view(4, 2, 3, 4)
    mask = torch.tensor([True, False, False, True])
    flipped = flip_where(images, mask)
    for n in range(4):
        assert torch.equal(flipped[n], images[n].flip(-1) if mask[n] else images[n])
    assert torch.equal(flipped[0, 0, 0], torch.tensor([3, 2, 1, 0]))
    generator = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.equal(random_flip(images, generator()), random_flip(images, generator()))


def test_augmented_epoch_batches_are_flipped_windows_of_their_source_images():
    """Labels carry each image's index, so every output can be checked against its own source image."""
    count, padding = 70, 2
    split = ImageSplit(torch.randint(1, 256, (count, 2, 6, 6), dtype=torch.uint8), torch.arange(count))
    zero, one = torch.zeros(1, 2, 1, 1), torch.ones(1, 2, 1, 1)

    def batches(seed):
        return list(
            epoch_batches(
                split,
                16,
                zero,
                one,
                torch.Generator().manual_seed(seed),
                crop_padding=padding,
                flip=True,
                memory_format=torch.channels_last,
            )
        )

    first = batches(7)
    seen, flipped = [], 0
    for images, labels in first:
        assert images.dtype == torch.float32 and images.is_contiguous(memory_format=torch.channels_last)
        pixels = (images * 255).round().to(torch.uint8)
        for image, label in zip(pixels, labels.tolist()):
            windows = windows_of(split.x[label], padding).values()
            plain = any(torch.equal(image, w) for w in windows)
            mirrored = any(torch.equal(image, w.flip(-1)) for w in windows)
            assert plain or mirrored
            flipped += int(mirrored and not plain)
            seen.append(label)
    assert sorted(seen) == list(range(count))  # a permutation: every image once
    assert 10 < flipped < 60
    again = batches(7)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], batches(8)[0][0])


# ----------------------------------------------------------------------------------------------- divergence guard
def constant_batches(count: int, size: int = 4):
    return [(torch.zeros(size, 1), torch.zeros(size, dtype=torch.long)) for _ in range(count)]


def test_train_epoch_sums_losses_and_stops_at_the_first_check_after_a_non_finite_loss():
    values = iter([1.0, 2.0, float("nan")] + [1.0] * 30)
    calls = []

    def step(images, labels):
        calls.append(1)
        return torch.tensor(next(values))

    stats = train_epoch(step, constant_batches(20), check_every=4)
    assert not stats.finite and stats.steps == 4 and len(calls) == 4  # stopped at the first check, not at 20

    stats = train_epoch(lambda images, labels: torch.tensor(0.5), constant_batches(7), check_every=4)
    assert stats.finite and stats.steps == 7 and stats.seen == 28
    assert stats.loss_sum == pytest.approx(0.5 * 28) and stats.mean_loss == pytest.approx(0.5)

    late = iter([1.0] * 6 + [float("inf")])
    stats = train_epoch(lambda images, labels: torch.tensor(next(late)), constant_batches(7), check_every=4)
    assert not stats.finite and stats.steps == 7  # caught by the end-of-epoch read


def test_compile_option_builds_a_compiled_forward_but_keeps_the_eager_model(tmp_path):
    cfg = compose_settings([*TINY, "trainer.compile=true"], output_dir=tmp_path)
    trainer = cfg.trainer
    model, _ = build_classifier(cfg.backbone, cfg.head, 1, 12, 4)
    step = build_train_step(model, trainer, step_context(torch.device("cpu"), trainer), 10)
    assert step.model is model and step.forward is not model  # checkpoints and evaluation use the eager module
    plain = build_train_step(model, replace(trainer, compile=False), step_context(torch.device("cpu"), trainer), 10)
    assert plain.forward is model


# ----------------------------------------------------------------------------------------------- grad layout
@pytest.mark.parametrize("head", ["gap", "flatten", "gmp", "gem"])
def test_gradient_reaches_the_backbone_in_its_own_memory_format_with_unchanged_values(tmp_path, head):
    """Averaging and flattening heads send back an NCHW gradient for a channels_last feature map (a slow mixed-
    layout ReLU backward on the CPU); the classifier hands the backbone the same values in its own layout."""
    from poolbench.models import classifier as classifier_module

    cfg = compose_cfg([*TINY, f"head={head}"], output_dir=tmp_path)
    model, _ = build_classifier(cfg.backbone, cfg.head, 1, 12, 4)
    model = model.to(memory_format=torch.channels_last)
    images = torch.randn(6, 1, 12, 12).contiguous(memory_format=torch.channels_last)

    def grad_at_features(boundary) -> torch.Tensor:
        seen: list[torch.Tensor] = []
        features = boundary(model.backbone(images))
        features.register_hook(lambda grad: seen.append(grad))  # runs after the boundary's own hook
        model.head(features).square().sum().backward()
        return seen[0]

    kept = grad_at_features(classifier_module.keep_grad_layout)
    raw = grad_at_features(lambda features: features)
    assert kept.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(kept, raw)
    if head in ("gap", "flatten"):  # the case the boundary exists for
        assert not raw.is_contiguous(memory_format=torch.channels_last)
    plain = torch.randn(2, 3, 4, 4, requires_grad=True) * 1.0
    assert classifier_module.memory_format_of(plain) is torch.contiguous_format
    detached = plain.detach()
    assert classifier_module.keep_grad_layout(detached) is detached  # no grad: passed through untouched


# ----------------------------------------------------------------------------------------------- allocator
def test_retained_memory_lets_big_buffers_be_reused_without_page_faults():
    """40 MB is above glibc's largest automatic mmap threshold (32 MB): by default every such buffer is a fresh
    mmap that faults in ~10,000 pages; retained, a freed buffer is reused."""
    import resource

    from poolbench.malloc import retain_freed_memory

    if not retain_freed_memory():
        pytest.skip("no glibc mallopt on this platform")
    for _ in range(20):  # let the heap settle at its peak
        torch.empty(10_000_000).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        torch.empty(10_000_000).fill_(1.0)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 2000  # default glibc: ~98,000


# ----------------------------------------------------------------------------------------------- bench script
def test_bench_hands_torchvision_a_decompressed_copy_of_gzipped_system_files(tmp_path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    rng = np.random.default_rng(0)
    write_idx(system / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (5, 28, 28)))
    write_idx(system / "train-labels-idx1-ubyte.gz", np.arange(5))
    write_idx(system / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (3, 28, 28)))
    write_idx(system / "t10k-labels-idx1-ubyte.gz", np.arange(3))
    monkeypatch.setenv("POOLBENCH_SYSTEM_FASHION_MNIST", str(system))
    root = torchvision_fashion_mnist_root(tmp_path / "data", tmp_path / "scratch")
    from torchvision.datasets import FashionMNIST

    dataset = FashionMNIST(str(root), train=True, download=False)
    assert len(dataset) == 5 and dataset.targets.tolist() == [0, 1, 2, 3, 4]


def busy_then_idle(seconds: float, flag: str) -> None:
    """Spin on a core for ``seconds``, mark that, then sleep (idle) until terminated."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    Path(flag).touch()
    time.sleep(30)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_bench_waits_for_busy_child_processes_before_the_next_timed_task(tmp_path):
    """The wait returns only after a busy child went idle: its flag, written when the spinning ends, exists."""
    import multiprocessing

    wait_until_children_idle()  # nothing running: returns
    flag = tmp_path / "done-spinning"
    child = multiprocessing.get_context("fork").Process(target=busy_then_idle, args=(0.6, str(flag)))
    child.start()
    try:
        while children_cpu_ticks() == 0:  # the child is on a core
            time.sleep(0.01)
        wait_until_children_idle(limit=60.0)
        assert flag.exists(), "returned while the child was still busy"
    finally:
        child.terminate()
        child.join()


@pytest.mark.slow
def test_bench_script_prints_a_table_and_a_json_last_line(tmp_path):
    args = [
        "--dataset",
        "synthetic",
        "--steps",
        "2",
        "--reps",
        "2",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--workers",
        "0",
        "backbone.widths=[4,8]",
        "dataset.image_size=12",
        "dataset.train_size=300",
        "dataset.test_size=100",
        "dataset.augment.crop_padding=2",
        "dataset.augment.flip=true",
        "trainer.batch_size=32",
        f"data_dir={tmp_path}",
    ]
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "bench.py"), *args],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("speedup_vs_naive", "mfu", "overhead", "images_per_second", "peak_flops", "train_flops_per_image"):
        assert result[key] > 0, key
    assert result["device"] == "cpu" and result["threads"] == 1
    other = "poolbench fp32" if result["autocast"] else "poolbench bf16"  # the other precision, timed beside
    assert set(result["variants_images_per_second"]) == {
        "naive (workers=0)",
        "naive loader + poolbench step (workers=0)",
        "poolbench",
        "compute only",
        other,
    }
    assert set(result["precisions"]) == {"fp32", "bf16"} and result["precisions"]["fp32"]["speedup_vs_fp32"] == 1.0
    assert any(line.startswith("poolbench") for line in lines) and "MFU" in done.stdout
