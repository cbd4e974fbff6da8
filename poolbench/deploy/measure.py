"""Deployment cost of a trained model: what it costs to ship and run, measured after training.

- ``cost_fields``: forward multiply-adds and FLOPs per image, both labelled. ``torch.utils.flop_counter`` counts
  2 FLOPs per multiply-add (convolutions, matmuls); papers quote multiply-adds (ResNet-20: ~41 M), often
  calling them FLOPs. Pooling, activations and normalisation are not counted by either.
- ``measure_deployment``: the serialized size (``torch.save`` of the state_dict, in bytes) and, with
  ``deploy.timing``, the CPU latency at batch 1 and the throughput at ``deploy.batch_size`` (median of repeated
  calls after warm-up, fp32, eval mode, ``deploy.threads`` threads, on the CPU even when training ran on a GPU).
  The claims grid turns the in-run timing off: ``poolbench-deploy`` (``poolbench.deploy.command``) times
  every head of a cell together, in eager PyTorch and ONNX Runtime.
- ``accuracy_at_sizes``: the test accuracy at each of ``deploy.eval_sizes`` (test images resized), in the run's
  precision. A model that cannot run at a size (flatten + dense is tied to the feature-map size it was built
  for) gets ``null`` there and the reason in ``size_errors``: never a crash.

Timings are medians of ``perf_counter`` intervals: a median ignores the odd call slowed by another process on
a shared machine; the thread count is recorded beside them because it changes them most.
"""

from __future__ import annotations

import copy
import io
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from poolbench.config.settings import DeploySettings
from poolbench.data.splits import DataBundle, ImageSplit, resize_images
from poolbench.errors import PoolbenchError
from poolbench.models.flops import count_flops_per_image
from poolbench.step import StepContext
from poolbench.training.evaluate import evaluate

WARMUP_CALLS = 3  # untimed calls first: one-off allocations and kernel selection land here
SIZE_STEP = 4  # "runs at another input size" is probed at image_size + SIZE_STEP when no eval_sizes are set


def cost_fields(model: nn.Module, channels: int, image_size: int, device: torch.device) -> dict[str, int]:
    """``flops_per_image`` (2 per multiply-add, as before) and ``macs_per_image`` for one forward pass."""
    flops = count_flops_per_image(model, channels, image_size, device)
    return {"flops_per_image": flops, "macs_per_image": flops // 2}


def serialized_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the file one would ship."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def median_seconds(call: Callable[[], Any], repeats: int, warmup: int = WARMUP_CALLS) -> float:
    """Median wall time of ``repeats`` calls of ``call`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` CPU threads (None: as now); yields the count used; restores it after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def cpu_copy(model: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    """An eval-mode fp32 copy of ``model`` on the CPU (the trained model itself is left where it is)."""
    clone = copy.deepcopy(model).to("cpu", dtype=torch.float32)
    clone.to(memory_format=memory_format)
    return clone.eval()


def sample_batch(data: DataBundle, size: int, memory_format: torch.memory_format) -> torch.Tensor:
    """``size`` normalised test images (repeated if the test split is smaller) on the CPU."""
    images = data.test.x[: max(1, size)].cpu()
    if images.shape[0] < size:
        images = images.repeat((size + images.shape[0] - 1) // images.shape[0], 1, 1, 1)[:size]
    mean, std = data.mean.cpu(), data.std.cpu()
    return ((images.float() / 255.0 - mean) / std).contiguous(memory_format=memory_format)


def time_inference(
    model: nn.Module, data: DataBundle, deploy: DeploySettings, memory_format: torch.memory_format
) -> dict[str, Any]:
    """Latency (ms) at batch 1 and throughput (images/s) at ``deploy.batch_size``, on the CPU."""
    clone = cpu_copy(model, memory_format)
    batch = sample_batch(data, deploy.batch_size, memory_format)
    single = batch[:1].contiguous(memory_format=memory_format)
    with cpu_threads(deploy.threads) as threads, torch.inference_mode():
        latency = median_seconds(lambda: clone(single), deploy.repeats)
        batched = median_seconds(lambda: clone(batch), deploy.batch_repeats, warmup=1)
    return {
        "latency_ms": 1000.0 * latency,
        "throughput_ips": deploy.batch_size / batched if batched > 0 else None,
        "deploy_batch_size": deploy.batch_size,
        "deploy_threads": threads,
    }


def size_failure(model: nn.Module, data: DataBundle, size: int, ctx: StepContext) -> str | None:
    """Why ``model`` cannot run on ``size`` x ``size`` inputs, or None when one forward pass works."""
    probe = torch.zeros(1, data.channels, size, size, device=data.test.x.device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), ctx.autocast():
            model(probe.contiguous(memory_format=ctx.memory_format))
    except (PoolbenchError, RuntimeError, ValueError) as error:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    finally:
        model.train(was_training)
    return None


def accuracy_at_sizes(
    model: nn.Module, data: DataBundle, sizes: tuple[int, ...], batch_size: int, ctx: StepContext
) -> dict[str, Any]:
    """Test accuracy with the test images resized (bilinear, antialiased) to each size; null where the model
    cannot run, with the reason. ``runs_other_sizes``: whether it runs at every size other than its own."""
    accuracy: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for size in sorted({int(s) for s in sizes}):
        failure = size_failure(model, data, size, ctx)
        if failure is not None:
            accuracy[str(size)], errors[str(size)] = None, failure
            continue
        resized = ImageSplit(resize_images(data.test.x, size), data.test.y)
        accuracy[str(size)] = evaluate(model, resized, data, batch_size, ctx)[1]
    others = [int(s) for s in sizes if int(s) != data.image_size] or [data.image_size + SIZE_STEP]
    runs = all(size_failure(model, data, size, ctx) is None for size in others)
    return {"size_acc": accuracy, "size_errors": errors, "runs_other_sizes": runs}


def measure_deployment(model: nn.Module, data: DataBundle, deploy: DeploySettings, ctx: StepContext) -> dict[str, Any]:
    """The RunRecord size and timing fields of a trained model ({} when ``deploy.measure`` is false; no timing
    fields when ``deploy.timing`` is false)."""
    if not deploy.measure:
        return {}
    fields: dict[str, Any] = {"model_bytes": serialized_bytes(model)}
    if deploy.timing:
        fields.update(time_inference(model, data, deploy, ctx.memory_format))
    return fields
