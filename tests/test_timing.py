"""Where a run's time goes (the record's time split, summed by the report), the deployment timing of a cell
(poolbench-deploy: every head timed together, a file per run dir the report merges in), and what the report
says about precision and about curves that were not recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from poolbench.deploy.cells import cell_id, find_cells
from poolbench.deploy.command import main as deploy_main
from poolbench.record import DEPLOY_TIMING_FILE, TIME_SPLIT_FIELDS, RunRecord, write_config, write_result
from poolbench.report.build import write_report
from poolbench.report.figures import learning_curves, recorded_curves
from poolbench.report.names import head_styles
from poolbench.report.timing import time_split_table
from poolbench.run import run
from tests.conftest import TINY, compose_settings

CONFIG = "dataset: {name: synthetic}\ntrainer: {lr: 0.1}\nhead: {name: HEAD}\nseed: SEED\n"


def test_a_run_records_how_its_time_split(tmp_path):
    record = run(compose_settings([*TINY, "dataset.eval_shifts=[2]", "deploy.eval_sizes=[8]"], output_dir=tmp_path))
    split = [getattr(record, name) for name in TIME_SPLIT_FIELDS]
    assert all(seconds > 0 for seconds in split), dict(zip(TIME_SPLIT_FIELDS, split))
    assert sum(split) <= record.run_seconds  # the rest: epoch files, checkpoints
    assert 0 < record.train_cpu_seconds <= record.run_cpu_seconds
    saved = json.loads((tmp_path / "result.json").read_text())
    assert {name: saved[name] for name in TIME_SPLIT_FIELDS} == dict(zip(TIME_SPLIT_FIELDS, split))


def test_deploy_timing_off_keeps_size_and_other_sizes(tmp_path):
    record = run(compose_settings([*TINY, "deploy.timing=false", "deploy.eval_sizes=[8]"], output_dir=tmp_path))
    assert record.latency_ms is None and record.throughput_ips is None
    assert record.model_bytes > 0 and set(record.size_acc) == {"8"} and record.macs_per_image > 0


def fake_run(root: Path, head: str, seed: int, precision: str, split: tuple[float, ...], run_seconds: float) -> None:
    run_dir = root / head / f"seed{seed}"
    seconds = dict(zip(TIME_SPLIT_FIELDS, split))
    write_result(
        run_dir,
        RunRecord(
            status="ok",
            run_key=f"{head}{seed}",
            dataset="synthetic",
            backbone="small_cnn",
            head=head,
            seed=seed,
            epochs=2,
            test_acc=0.8,
            train_acc=0.9,
            overfit_acc=0.1,
            overfit_loss=0.1,
            params_total=10,
            params_backbone=8,
            params_head=2,
            flops_per_image=100,
            precision=precision,
            run_seconds=run_seconds,
            **seconds,
        ),
    )
    write_config(run_dir, CONFIG.replace("HEAD", head).replace("SEED", str(seed)))


def test_the_report_sums_the_time_split(tmp_path):
    fake_run(tmp_path, "gap", 0, "bf16", (1.0, 8.0, 2.0, 1.5, 0.5), 14.0)
    fake_run(tmp_path, "gmp", 0, "bf16", (1.0, 6.0, 1.0, 0.5, 0.5), 10.0)
    result = write_report([tmp_path], figures=False)
    table = pd.read_csv(result.out_dir / "timing.csv")
    total = table[table["dataset"] == "all runs"].iloc[0]
    assert total["runs"] == 2 and total["train_seconds"] == 14.0 and total["eval_seconds"] == 3.0
    assert total["run_seconds"] == 24.0 and total["other_seconds"] == pytest.approx(24.0 - 22.0)
    assert total["train_share"] == pytest.approx(14.0 / 24.0)
    text = result.report_md.read_text()
    assert "## Time split" in text and "training takes 58 % of all run time" in text
    assert "CPU latency and throughput not measured for" in text  # neither in-run nor poolbench-deploy timing


def test_older_records_without_a_split_are_counted_not_dropped(tmp_path):
    fake_run(tmp_path, "gap", 0, "fp32", (1.0, 8.0, 2.0, 1.5, 0.5), 14.0)
    fake_run(tmp_path, "gmp", 0, "fp32", (None,) * 5, None)  # type: ignore[arg-type]
    assert time_split_table(pd.DataFrame({"run_seconds": [None]}), ["dataset"]).empty
    text = write_report([tmp_path], figures=False).report_md.read_text()
    assert "1 record(s) without a time split" in text


def test_runs_of_different_precision_are_never_pooled(tmp_path):
    """Same config (precision=auto on two machines), different precision: two rows, each saying which."""
    fake_run(tmp_path / "a", "gap", 0, "bf16", (1.0, 8.0, 2.0, 1.5, 0.5), 14.0)
    fake_run(tmp_path / "b", "gap", 0, "fp32", (1.0, 8.0, 2.0, 1.5, 0.5), 14.0)
    result = write_report([tmp_path], figures=False)
    summary = pd.read_csv(result.out_dir / "summary.csv")
    assert sorted(summary["precision"]) == ["bf16", "fp32"] and list(summary["n_seeds"]) == [1, 1]
    assert "precision (ran)" in result.report_md.read_text()


def test_a_learning_curve_figure_names_the_curves_not_recorded():
    curves = pd.DataFrame(
        {"head": ["gap"] * 4, "seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "val_acc": [0.5, 0.6, 0.52, 0.61]}
    )
    assert [label for _, _, label in recorded_curves(curves)] == ["validation"]
    figure = learning_curves(curves, "synthetic", head_styles(["gap"]))
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["validation", "train and test: not recorded per epoch"]
    full = curves.assign(train_acc=0.7, test_acc=0.6)
    assert [label for _, _, label in recorded_curves(full)] == ["train", "test"]


def two_tiny_runs(root: Path, *overrides: str) -> None:
    for head in ("gap", "flatten"):
        settings = compose_settings([*TINY, f"head={head}", "deploy.timing=false", *overrides], output_dir=root / head)
        assert run(settings).status == "ok"


def test_one_graph_trained_in_two_cells_is_measured_once(tmp_path):
    """Peak memory depends on the graph (backbone, head, input and output sizes), not on what it was trained
    on: the same net trained with two learning rates (two cells) is measured once, in the first cell's run
    (``memory_run``), and both cells carry that measurement."""
    pytest.importorskip("onnxruntime")
    root = tmp_path / "results"
    two_tiny_runs(root / "slow", "trainer.lr=0.01")
    two_tiny_runs(root / "fast", "trainer.lr=0.02")
    assert len(find_cells([root])) == 2
    assert deploy_main([str(root), "--processes", "1", "--rounds", "1", "--runtimes", "ort_1"]) == 0
    saved = {p.parent: json.loads(p.read_text()) for p in root.rglob(DEPLOY_TIMING_FILE)}
    for head in ("gap", "flatten"):
        fast, slow = saved[root / "fast" / head], saved[root / "slow" / head]
        assert fast["cell_id"] != slow["cell_id"] and fast["memory_run"] == slow["memory_run"]
        assert fast["peak_memory_bytes"] == slow["peak_memory_bytes"]


def test_poolbench_deploy_times_the_heads_of_a_cell_together(tmp_path, capsys):
    """Two tiny runs that differ only in head form one cell: exported, checked, timed together in k processes
    in both runtimes, a file in each run dir and the rounds at the top, merged into the report; a second call
    leaves them alone."""
    pytest.importorskip("onnxruntime")
    root = tmp_path / "results"
    two_tiny_runs(root)
    cells = find_cells([root])
    assert len(cells) == 1 and {r.head for r in next(iter(cells.values()))} == {"gap", "flatten"}
    args = ["--processes", "2", "--rounds", "3", "--latency-calls", "2", "--batch-size", "16"]
    assert deploy_main([str(root), *args]) == 0
    saved = {head: json.loads((root / head / DEPLOY_TIMING_FILE).read_text()) for head in ("gap", "flatten")}
    for head, data in saved.items():
        assert data["head"] == head and data["heads"] == ["flatten", "gap"] and data["threads"] == 1
        assert data["latency_ms"] > 0 and data["throughput_ips"] > 0 and data["latency_ms_iqr"] >= 0
        assert data["rounds"] == 3 and data["batch_size"] == 16 and data["weights"] == "trained (checkpoint)"
        assert data["processes"] == 2 and data["parity_ok"] and data["latency_ms_ort_1"] > 0
    assert saved["gap"]["cell_id"] == saved["flatten"]["cell_id"] == next(iter(cells))
    assert deploy_main([str(root)]) == 0 and "already timed" in capsys.readouterr().out
    result = write_report([root], figures=False)
    merged = pd.read_csv(result.out_dir / "deploy_timing.csv")
    assert sorted(merged["head"]) == ["flatten", "gap"]
    assert list(merged.set_index("head").loc[["gap"], "cell_latency_ms"]) == [saved["gap"]["latency_ms"]]
    assert "## Deployment timing (poolbench-deploy)" in result.report_md.read_text()
    rounds = pd.read_csv(root / "deploy_timing.csv")
    assert set(rounds["runtime"]) == {"eager", "ort_1", "ort_all"} and set(rounds["process"]) == {0, 1}
    assert len(rounds) == 2 * 3 * 2 * 3  # processes x rounds x heads x runtimes
    ratios = pd.read_csv(result.out_dir / "deploy_ratios.csv")
    assert set(ratios["runtime"]) == {"eager", "ort_1", "ort_all"} and set(ratios["head"]) == {"gap"}
    assert "## Deployment latency ratio with CI" in result.report_md.read_text()


def test_without_onnxruntime_one_line_says_so_and_eager_is_timed(tmp_path, capsys, monkeypatch):
    from poolbench.deploy import onnx_export

    monkeypatch.setattr(onnx_export, "onnx_missing", lambda: "ONNX Runtime timing skipped: onnxruntime missing")
    root = tmp_path / "results"
    two_tiny_runs(root)
    assert deploy_main([str(root), "--processes", "1", "--rounds", "2", "--latency-calls", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("ONNX Runtime timing skipped") == 1
    data = json.loads((root / "gap" / DEPLOY_TIMING_FILE).read_text())
    assert data["latency_ms"] > 0 and "latency_ms_ort_1" not in data and data["runtimes"] == ["eager"]
    assert data["latency_ratio_eager"] > 0 and "onnx_bytes" not in data


def test_a_cell_is_everything_but_head_and_seed():
    base = {"dataset": {"name": "d"}, "trainer": {"lr": 0.1, "threads": 1}, "head": {"name": "gap"}, "seed": 0}
    other_head = {**base, "head": {"name": "gem", "p": 3}, "seed": 2, "trainer": {"lr": 0.1, "threads": 4}}
    assert cell_id(base) == cell_id(other_head)  # head, seed and non-semantic keys do not split a cell
    assert cell_id(base) != cell_id({**base, "trainer": {"lr": 0.2}})


def test_poolbench_deploy_names_a_missing_directory(tmp_path, capsys):
    assert deploy_main([str(tmp_path / "absent")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_the_heads_of_a_round_take_turns_call_by_call():
    """One round of one runtime: every head gets ``count`` batch-1 calls, the heads alternating in a fresh random
    order per call (seeded: a rerun times in the same order), so a burst of noise falls on all of them alike and
    each head follows each other equally often; then one batch-N call each."""
    import itertools
    import random

    from poolbench.deploy.rounds import interleaved_calls

    def timed_order(seed: int, count: int) -> tuple[list[str], dict[str, list[float]], dict[str, float]]:
        order: list[str] = []

        def caller(name: str, batch: str) -> Callable[[], None]:
            return lambda: order.append(f"{name}{batch}")

        calls = {head: (caller(head, "1"), caller(head, "N")) for head in ("a", "b", "c")}
        latencies, seconds = interleaved_calls(calls, count, random.Random(seed))
        return order, latencies, seconds

    order, latencies, seconds = timed_order(7, 600)
    turns = [order[i : i + 3] for i in range(0, 1800, 3)]
    assert all(sorted(turn) == ["a1", "b1", "c1"] for turn in turns) and order[1800:] == ["aN", "bN", "cN"]
    assert {head: len(times) for head, times in latencies.items()} == {"a": 600, "b": 600, "c": 600}
    assert set(seconds) == {"a", "b", "c"} and all(s >= 0 for s in seconds.values())
    follows = dict.fromkeys(itertools.permutations("abc", 2), 0)
    for before, after in itertools.pairwise(order[:1800]):
        if before != after:
            follows[before[0], after[0]] += 1
    assert min(follows.values()) > 0.8 * max(follows.values())  # rotation would give a 2:1 imbalance
    assert timed_order(7, 600)[0] == order and timed_order(8, 600)[0] != order
