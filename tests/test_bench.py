"""The speed benchmark's report (poolbench/bench/summary.py): its numbers from hand-written timings, the table
columns and the JSON last line's keys that docs/performance.md and users' scripts read."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from poolbench.bench.command import parse_args
from poolbench.bench.measure import per_epoch_eval_images
from poolbench.bench.setup import compose_config, make_setup
from poolbench.bench.summary import print_report, summarise
from poolbench.bench.variants import Variant

RESULT_KEYS = [
    "speedup_vs_naive",
    "mfu",
    "overhead",
    "images_per_second",
    "device",
    "device_name",
    "threads",
    "naive_images_per_second",
    "naive_best",
    "compute_images_per_second",
    "peak_flops",
    "train_flops_per_image",
    "achieved_flops",
    "epoch_train_seconds",
    "epoch_eval_seconds",
    "eval_fraction_of_epoch",
    "variants_images_per_second",
    "backbone",
    "head",
    "dataset",
    "batch_size",
    "memory_format",
    "autocast",
    "torch_version",
]
EXTRA = {"steps": 3, "reps": 3, "load_average_before": 1.0, "load_average_after": 1.5}


@pytest.fixture
def setup(tmp_path):
    """300 synthetic train images (270 after the 10 % validation carve-out), 100 test, batch 32, on the CPU."""
    args = parse_args(
        [
            "--dataset",
            "synthetic",
            "--device",
            "cpu",
            "backbone.widths=[4,8]",
            "dataset.image_size=12",
            "dataset.train_size=300",
            "dataset.test_size=100",
            "trainer.batch_size=32",
            "trainer.precision=fp32",  # the same setup on every machine (auto is bf16 where the CPU has it)
            f"data_dir={tmp_path}",
        ]
    )
    return make_setup(compose_config(args))


def variant(name: str, group: str) -> Variant:
    return Variant(name, lambda steps: None, 32, group)


VARIANTS = [
    variant("naive (workers=0)", "naive"),
    variant("naive (workers=1)", "naive"),
    variant("poolbench", "poolbench"),
    variant("compute only", "compute"),
]
SAMPLES = {  # seconds per step (variants), FLOP/s (peak), seconds per image (eval); medians in the comments
    "naive (workers=0)": [0.2, 0.4, 0.3],  # 0.3
    "naive (workers=1)": [0.25, 0.25, 0.25],  # 0.25: the best naive
    "poolbench": [0.1, 0.12, 0.11],  # 0.11
    "compute only": [0.1, 0.1, 0.1],  # 0.1
    "peak": [1e9, 3e9, 2e9],  # 2e9
    "eval": [1e-4, 1e-4, 1e-4],
}
FLOPS = 1e6  # per image


def test_per_epoch_eval_images_counts_the_train_curve_subset_val_and_test(setup):
    assert (len(setup.data.train), len(setup.data.val), len(setup.data.test)) == (270, 30, 100)
    assert per_epoch_eval_images(setup) == 100 + 30 + 100  # curve: test-set size (train_eval_samples=null)
    setup.settings = replace(setup.settings, trainer=replace(setup.trainer, curves=("val",)))
    assert per_epoch_eval_images(setup) == 30  # trainer.curves=[val]: validation alone


def test_summarise_computes_the_ratios_from_median_timings(setup):
    rows, result = summarise(setup, VARIANTS, SAMPLES, FLOPS, dict(EXTRA))
    assert list(result) == [*RESULT_KEYS, *EXTRA]  # the JSON keys, in order
    assert result["naive_best"] == "naive (workers=1)"
    assert result["speedup_vs_naive"] == pytest.approx(0.25 / 0.11)
    assert result["overhead"] == pytest.approx(0.11 / 0.1)
    assert result["images_per_second"] == pytest.approx(32 / 0.11)
    assert result["naive_images_per_second"] == pytest.approx(32 / 0.25)
    assert result["compute_images_per_second"] == pytest.approx(320.0)
    assert result["peak_flops"] == 2e9
    assert result["mfu"] == pytest.approx(1e6 * (32 / 0.11) / 2e9)
    assert result["achieved_flops"] == pytest.approx(1e6 * 32 / 0.11)
    epoch_train = 0.11 * setup.steps_per_epoch
    assert result["epoch_train_seconds"] == pytest.approx(epoch_train)
    assert result["epoch_eval_seconds"] == pytest.approx(1e-4 * 230)
    assert result["eval_fraction_of_epoch"] == pytest.approx(0.023 / (0.023 + epoch_train))
    assert result["variants_images_per_second"] == pytest.approx(
        {"naive (workers=0)": 32 / 0.3, "naive (workers=1)": 128.0, "poolbench": 32 / 0.11, "compute only": 320.0}
    )
    assert (result["device"], result["batch_size"], result["dataset"]) == ("cpu", 32, "synthetic")
    assert (result["backbone"], result["head"], result["autocast"]) == ("small_cnn", "gap", None)
    assert "peak_flops_autocast" not in result  # only with an autocast peak sample
    # name, img/s, ms/step, img/s range over repetitions, time vs poolbench, MFU
    assert rows[0] == ["naive (workers=0)", "107", "300.0", "80-160", "2.73", "0.05"]
    assert rows[2] == ["poolbench", "291", "110.0", "267-320", "1.00", "0.15"]


def test_summarise_puts_bf16_beside_fp32_with_the_mfu_of_each_dtype_peak(setup, capsys):
    """A bf16 config: the fp32 poolbench variant is timed beside it; MFU of each against its own dtype's peak."""
    setup.ctx = setup.context("bf16")
    samples = {**SAMPLES, "poolbench fp32": [0.22, 0.22, 0.22], "peak_bf16": [4e9, 4e9, 4e9]}
    variants = [*VARIANTS, variant("poolbench fp32", "precision")]
    rows, result = summarise(setup, variants, samples, FLOPS, dict(EXTRA))
    assert list(result)[-3:] == ["peak_flops_autocast", "mfu_vs_autocast_peak", "precisions"]
    assert result["mfu_vs_autocast_peak"] == pytest.approx(1e6 * (32 / 0.11) / 4e9)
    bf16, fp32 = result["precisions"]["bf16"], result["precisions"]["fp32"]
    assert bf16["speedup_vs_fp32"] == pytest.approx(0.22 / 0.11) and fp32["speedup_vs_fp32"] == 1.0
    assert bf16["mfu_same_dtype_peak"] == pytest.approx(1e6 * (32 / 0.11) / 4e9)
    assert fp32["mfu_same_dtype_peak"] == pytest.approx(1e6 * (32 / 0.22) / 2e9)
    print_report(rows, result)
    assert "bf16: 291 img/s, 2.00x fp32, MFU 0.07 of the bf16 matmul peak (4.0 GFLOP/s)" in capsys.readouterr().out


def test_an_fp32_config_times_bf16_beside_it(setup):
    assert setup.ctx.precision == "fp32" and setup.other_precision == "bf16"
    assert setup.poolbench_step(precision="bf16").ctx.autocast_dtype is not None


def test_print_report_prints_the_table_then_the_result_as_the_json_last_line(setup, capsys):
    rows, result = summarise(setup, VARIANTS, SAMPLES, FLOPS, dict(EXTRA))
    print_report(rows, result)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["variant", "img/s", "ms/step", "img/s", "range", "time", "vs", "poolbench", "MFU"]
    assert [line.split()[0] for line in lines[2:6]] == ["naive", "naive", "poolbench", "compute"]
    assert "speedup vs naive (naive (workers=1)) 2.27x | MFU 0.15 | overhead vs compute only 1.100" in lines
    assert "load average 1.0 -> 1.5" in lines[7]
    assert not any(line.startswith("torch.compile") for line in lines)  # only with --compile
    assert json.loads(lines[-1]) == result
