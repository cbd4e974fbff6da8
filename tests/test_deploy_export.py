"""poolbench-deploy's parts: ONNX export and parity of a trained model, peak memory against its closed form,
the hierarchical bootstrap of a latency ratio and the report's ratio table with its controls."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from poolbench.report.deploy_ratio import latency_ratio, ratio_table
from poolbench.resample import hierarchical_ratio, paired_log_ratios

onnxruntime = pytest.importorskip("onnxruntime")

from poolbench.deploy.memory import (  # noqa: E402
    SESSION_OVERHEAD_BYTES,
    estimated_peak_bytes,
    measured_peak_bytes,
    reference_model,
)
from poolbench.deploy.onnx_export import (  # noqa: E402
    PARITY_AGREEMENT,
    check_parity,
    eager_logits,
    export_onnx,
    ort_logits,
    ort_session,
)
from poolbench.deploy.quantize import int8_fields  # noqa: E402


def tiny_trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    images, labels = torch.randn(96, 1, 4, 4), torch.randint(0, 3, (96,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval(), images, labels


def test_a_trained_model_exports_and_passes_parity(tmp_path):
    model, images, labels = tiny_trained()
    size = export_onnx(model, (1, 4, 4), tmp_path / "m.onnx")
    assert size == (tmp_path / "m.onnx").stat().st_size > 0
    parity = check_parity(
        eager_logits(model, images, torch.contiguous_format), ort_logits(ort_session(tmp_path / "m.onnx", 1), images)
    )
    assert parity.ok and parity.images == 96 and parity.max_abs_diff < 1e-4
    int8 = int8_fields(tmp_path / "m.onnx", tmp_path / "q.onnx", images, labels)
    assert int8["int8_bytes"] > 0 and abs(int8["int8_acc_delta"]) <= 1


def test_parity_fails_for_a_different_model(tmp_path):
    """The check can fail: another model's logits differ and their argmax disagrees."""
    model, images, _ = tiny_trained()
    other = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    export_onnx(other, (1, 4, 4), tmp_path / "other.onnx")
    parity = check_parity(
        eager_logits(model, images, torch.contiguous_format),
        ort_logits(ort_session(tmp_path / "other.onnx", 1), images),
    )
    assert not parity.ok and parity.argmax_agreement < PARITY_AGREEMENT


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/clear_refs").exists(), reason="Linux /proc only")
def test_peak_memory_matches_the_closed_form(tmp_path):
    """A model whose weights dominate (a 24 MB dense layer): ONNX Runtime's measured peak at batch 1 lies between
    weights + largest activation and twice that plus a fixed session overhead (it holds the parsed file and the
    weights at once while loading) — the tolerance docs/deploy.md states."""
    shape = (3, 32, 32)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 32 * 32, 750)).eval()
    export_onnx(model, shape, tmp_path / "big.onnx")
    estimate = estimated_peak_bytes(model, shape)
    assert estimate == 4 * (3 * 8 * 9 + 8 + 8 * 32 * 32 * 750 + 750) + 4 * 8 * 32 * 32
    measured = measured_peak_bytes(tmp_path / "big.onnx", reference_model(shape, tmp_path / "ref.onnx"), shape)
    assert measured is not None
    assert estimate <= measured <= 2 * estimate + SESSION_OVERHEAD_BYTES, (measured, estimate)


def rounds(ratio: float, noise: float, processes: int = 5, per: int = 10, seed: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(processes):
        shift = rng.normal(0, noise)  # a process's own speed
        for r in range(per):
            base = math.exp(shift + rng.normal(0, noise))
            rows.append({"process": p, "round": r, "head": "flatten", "latency_ms": base})
            rows.append(
                {
                    "process": p,
                    "round": r,
                    "head": "gap",
                    "latency_ms": base * ratio * math.exp(rng.normal(0, noise / 4)),
                }
            )
    return rows


def test_the_bootstrap_covers_the_true_ratio_and_narrows_with_rounds():
    ci = hierarchical_ratio(paired_log_ratios(rounds(0.8, 0.1), "gap", "flatten"))
    assert ci.ci_low < 0.8 < ci.ci_high and ci.processes == 5 and ci.rounds == 50
    wide = hierarchical_ratio(paired_log_ratios(rounds(0.8, 0.1, per=3), "gap", "flatten"))
    assert wide.ci_high - wide.ci_low > ci.ci_high - ci.ci_low
    assert not ci.within(0.10) and hierarchical_ratio(paired_log_ratios(rounds(1.0, 0.02), "gap", "flatten")).within(
        0.10
    )


def test_the_report_table_has_endpoint_and_controls():
    frames = []
    for cell in ("a", "b"):
        frame = pd.DataFrame(rounds(0.7, 0.05, seed=ord(cell)))
        dropout = frame[frame["head"] == "flatten"].assign(head="flatten_dropout")
        frames.append(pd.concat([frame, dropout]).assign(cell_id=cell, runtime="ort_1", arch_id=lambda f: f["head"]))
    table = ratio_table(pd.concat(frames, ignore_index=True))
    endpoint = table[table["kind"] == "endpoint"].set_index("cell_id")
    assert endpoint.loc["a", "ratio"] == pytest.approx(latency_ratio(pd.concat(frames), "a", "gap").ratio)
    assert endpoint.loc["a", "ci_low"] < 0.7 < endpoint.loc["a", "ci_high"]
    controls = table[table["kind"] != "endpoint"]
    assert set(controls["kind"]) == {"control: same graph", "control: same model, two cells"}
    assert controls[controls["kind"] == "control: same graph"]["negligible"].all()
