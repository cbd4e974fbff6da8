"""The report: one table row per variant, the result dict (the JSON last line's keys), and their printing."""

from __future__ import annotations

import json
import statistics
from typing import Any

import torch

from poolbench.bench.measure import per_epoch_eval_images
from poolbench.bench.setup import Setup
from poolbench.bench.variants import Variant
from poolbench.runtime import cpu_name


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
    if "peak_bf16" in samples and setup.ctx.precision == "bf16":
        result["peak_flops_autocast"] = statistics.median(samples["peak_bf16"])
        result["mfu_vs_autocast_peak"] = flops * ips["poolbench"] / result["peak_flops_autocast"]
    if setup.other_precision is not None and f"poolbench {setup.other_precision}" in ips:
        result["precisions"] = precision_rows(setup, ips, samples, flops)
    return rows, result


def precision_rows(
    setup: Setup, ips: dict[str, float], samples: dict[str, list[float]], flops: float
) -> dict[str, dict[str, float]]:
    """fp32 and bf16 side by side: img/s of the same poolbench step, speedup over fp32, and MFU against the
    matmul peak of the same dtype (bf16 against the bf16 peak, which a CPU with native bf16 runs ~2x faster)."""
    by_precision = {
        setup.ctx.precision: ips["poolbench"],
        setup.other_precision: ips[f"poolbench {setup.other_precision}"],
    }
    peaks = {"fp32": statistics.median(samples["peak"]), "bf16": statistics.median(samples["peak_bf16"])}
    return {
        precision: {
            "images_per_second": by_precision[precision],
            "speedup_vs_fp32": by_precision[precision] / by_precision["fp32"],
            "mfu_same_dtype_peak": flops * by_precision[precision] / peaks[precision],
            "peak_flops": peaks[precision],
        }
        for precision in ("fp32", "bf16")
    }


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
    for precision, row in result.get("precisions", {}).items():
        print(
            f"{precision}: {row['images_per_second']:.0f} img/s, {row['speedup_vs_fp32']:.2f}x fp32, MFU "
            f"{row['mfu_same_dtype_peak']:.2f} of the {precision} matmul peak ({row['peak_flops'] / 1e9:.1f} GFLOP/s)"
        )
    if "compile_seconds" in result:
        print(
            f"torch.compile: {result['compile_seconds']:.0f} s to compile, {result['compile_speedup']:.2f}x per step, "
            f"pays off after {result['compile_break_even_epochs']} epochs"
        )
    print(json.dumps(result, default=float))
