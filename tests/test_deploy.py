"""Deployment cost in the run record: labelled multiply-adds and FLOPs, serialized size, CPU latency and
throughput (measured, never compared with a wall-clock limit), accuracy at other input sizes (flatten cannot
run there: recorded, not a crash), the consistency fields, and records written before these fields existed."""

from __future__ import annotations

import io
import json

import pytest
import torch

from poolbench.deploy import cost_fields, median_seconds, serialized_bytes
from poolbench.errors import ConfigError
from poolbench.models.classifier import build_classifier
from poolbench.record import RESULT_FILE, RunRecord, read_result
from poolbench.run import run
from tests.conftest import TINY, compose_settings

SIZES = "deploy.eval_sizes=[8,12,16]"  # TINY images are 12 px


def test_a_run_records_its_deployment_cost(tmp_path):
    record = run(compose_settings([*TINY, SIZES, "dataset.eval_shifts=[0,2]"], output_dir=tmp_path))
    assert record.status == "ok"
    assert record.macs_per_image > 0 and record.flops_per_image == 2 * record.macs_per_image
    assert 4 * record.params_total < record.model_bytes < 4 * record.params_total + 100_000  # fp32 + pickle framing
    assert record.latency_ms > 0 and record.throughput_ips > 0
    assert record.deploy_batch_size == 256 and record.deploy_threads == 1
    assert set(record.size_acc) == {"8", "12", "16"} and record.size_errors == {}
    assert all(0.0 <= acc <= 1.0 for acc in record.size_acc.values())
    assert record.size_acc["12"] == record.test_acc  # its own size: the test set unchanged
    assert record.runs_other_sizes is True
    assert record.shift_consistency["0"] == 1.0 and record.shift_circular_consistency["0"] == 1.0
    assert set(record.shift_circular_acc) == {"0", "2"} and 0.0 <= record.shift_consistency["2"] <= 1.0
    saved = json.loads((tmp_path / RESULT_FILE).read_text())
    assert saved["size_acc"] == record.size_acc and saved["latency_ms"] == record.latency_ms


def test_flatten_is_recorded_as_not_runnable_at_other_sizes(tmp_path):
    record = run(compose_settings([*TINY, SIZES, "head=flatten"], output_dir=tmp_path))
    assert record.status == "ok"
    assert record.size_acc["8"] is None and record.size_acc["16"] is None
    assert record.size_acc["12"] == record.test_acc
    assert "flatten" in record.size_errors["16"] and set(record.size_errors) == {"8", "16"}
    assert record.runs_other_sizes is False
    assert read_result(tmp_path).size_acc == record.size_acc  # null survives the JSON round trip


def test_deploy_measure_false_skips_the_measurement(tmp_path):
    record = run(compose_settings([*TINY, "deploy.measure=false"], output_dir=tmp_path))
    assert record.status == "ok" and record.macs_per_image > 0  # counted from the graph, always
    assert record.latency_ms is None and record.model_bytes is None and record.size_acc == {}
    assert record.runs_other_sizes is None


def test_cost_fields_label_multiply_adds_and_flops():
    """One 3x3 conv (1 -> 4 channels, no padding) on 6x6 images: 4x4 outputs x 4 channels x 9 multiply-adds,
    then a linear 64 -> 2: 2 x 64."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, bias=False), torch.nn.Flatten(), torch.nn.Linear(64, 2))
    assert cost_fields(model, 1, 6, torch.device("cpu")) == {
        "macs_per_image": 4 * 4 * 4 * 9 + 64 * 2,
        "flops_per_image": 2 * (4 * 4 * 4 * 9 + 64 * 2),
    }


def test_serialized_bytes_is_the_saved_state_dict():
    model, _ = build_classifier(
        {"_target_": "poolbench.models.backbones.SmallCNN", "widths": [4, 8]},
        {"_target_": "poolbench.models.heads.GlobalAvgPoolHead"},
        1,
        12,
        3,
    )
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert serialized_bytes(model) == len(buffer.getvalue())


def test_median_seconds_counts_only_the_timed_calls():
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=5, warmup=2) >= 0.0
    assert len(calls) == 7


@pytest.mark.parametrize(
    "override, text",
    [("deploy.repeats=0", "deploy.repeats"), ("deploy.eval_sizes=[0]", "deploy.eval_sizes"), ("+deploy.repeat=3", "")],
)
def test_bad_deploy_settings_name_the_key(override, text):
    with pytest.raises(ConfigError) as raised:
        compose_settings([*TINY, override])
    assert (text or "deploy.repeat") in str(raised.value)


def test_a_record_written_before_the_deployment_fields_still_reads(tmp_path):
    """A schema_version 1 record from before the deployment fields still reads: the new fields take defaults."""
    old = {
        "schema_version": 1,
        "status": "ok",
        "run_key": "abc",
        "dataset": "fashion_mnist",
        "backbone": "small_cnn",
        "head": "gap",
        "seed": 0,
        "epochs": 3,
        "test_acc": 0.9,
        "flops_per_image": 1000,
        "shift_acc": {"0": 0.9, "2": 0.8},
    }
    (tmp_path / RESULT_FILE).write_text(json.dumps(old))
    record = read_result(tmp_path)
    assert record.flops_per_image == 1000 and record.macs_per_image is None
    assert record.shift_consistency == {} and record.size_acc == {} and record.latency_ms is None
    assert RunRecord.from_json(record.to_json()) == record
