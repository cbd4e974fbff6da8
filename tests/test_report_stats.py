"""Honest statistics and grouping: rows split by every config key that varies, duplicates only for the same
config, Holm-adjusted p-values and d_z, published values only where the setting matches, a record missing a
field listed as a problem (through the real CLI), and a note when timings come from parallel jobs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli_env
from scipy import stats
from test_report import write_run

from poolbench.errors import RecordError
from poolbench.record import RESULT_FILE, RunRecord, read_result, required_fields
from poolbench.report.aggregate import runs_frame
from poolbench.report.build import write_report
from poolbench.report.collect import collect_runs
from poolbench.report.decide import holm
from poolbench.report.paired import paired_comparison

LR_ACC = {0.1: (0.424, 0.430), 0.01: (0.514, 0.520)}  # (seed 0, seed 1) test accuracy per learning rate


def lr_config(seed: int, lr: float, **more) -> dict:
    return {"seed": seed, "trainer": {"lr": lr, "threads": more.pop("threads", None)}, **more}


def test_report_groups_by_every_config_key_that_varies(tmp_path: Path) -> None:
    """A sweep over trainer.lr: one row per lr (the best trial is visible), no duplicates, lr as a column."""
    for index, (lr, accuracies) in enumerate(LR_ACC.items()):
        for seed, acc in enumerate(accuracies):
            run = write_run(
                tmp_path / f"trial{index}",
                "gap",
                seed,
                acc,
                config=lr_config(seed, lr),
                finished_at=f"2026-01-0{index + 1}T00:00:00+00:00",
            )
            _set_run_key(run, f"gap-lr{lr}-seed{seed}")
    result = write_report([tmp_path], tmp_path / "out", figures=False)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["trainer.lr"]) == [0.01, 0.1]
    assert sorted(summary["test_acc_mean"]) == [pytest.approx(0.427), pytest.approx(0.517)]
    assert pd.read_csv(tmp_path / "out" / "duplicates.csv").empty
    report = result.report_md.read_text()
    assert "Grouped by dataset, backbone, head and `trainer.lr`" in report
    assert "learning rate = 0.01" in report and "51.70" in report  # readable key name in the panel heading
    assert "learning rate" in (tmp_path / "out" / "summary.md").read_text()


def test_keys_that_do_not_change_the_computation_never_split_rows(tmp_path: Path) -> None:
    """paths, jobs, trainer.threads, name differ, and head.p differs only between heads: one row per head."""
    for seed in (0, 1):
        for head in ("gap", "gem"):
            config = {
                "seed": seed,
                "name": f"sweep{seed}",
                "jobs": 1 + seed,
                "paths": {"output_dir": f"/x/{seed}"},
                "trainer": {"lr": 0.1, "threads": seed + 1},
                "head": {"name": head, **({"p": 3.0} if head == "gem" else {})},
            }
            write_run(tmp_path, head, seed, 0.8 + 0.01 * seed, config=config)
    write_report([tmp_path], tmp_path / "out", figures=False)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["head"]) == ["gap", "gem"] and set(summary["n_seeds"]) == {2}
    assert not {"jobs", "name", "trainer.threads", "paths.output_dir", "head.p", "seed"} & set(summary.columns)


def test_duplicate_is_only_the_same_config_and_seed(tmp_path: Path) -> None:
    """Two records of seed 0 with one run key: a rerun, listed once. Two with different run keys and no
    config.yaml to tell why: kept apart by run key, never averaged together, never called duplicates."""
    write_run(tmp_path / "a", "gap", 0, 0.80, finished_at="2026-01-01T00:00:00+00:00")
    write_run(tmp_path / "b", "gap", 0, 0.70, finished_at="2026-01-02T00:00:00+00:00")  # same run_key "gap0"
    other = write_run(tmp_path / "c", "gap", 0, 0.60)
    _set_run_key(other, "another-config")
    (other / "config.yaml").unlink()
    write_report([tmp_path], tmp_path / "out", figures=False)
    duplicates = pd.read_csv(tmp_path / "out" / "duplicates.csv")
    assert list(duplicates["run_dir"]) == [str(tmp_path / "a" / "fashion_mnist" / "small_cnn" / "gap" / "seed0")]
    assert "same run_key and seed" in duplicates.loc[0, "reason"]
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["test_acc_mean"]) == [pytest.approx(0.60), pytest.approx(0.70)]
    assert "run_key" in summary.columns


def test_holm_matches_hand_computed_values() -> None:
    # sorted: 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06 (monotone); NaN stays out
    assert holm([0.01, 0.04, 0.03, math.nan]) == [
        pytest.approx(0.03),
        pytest.approx(0.06),
        pytest.approx(0.06),
        pytest.approx(math.nan, nan_ok=True),
    ]
    assert holm([0.5, 0.6]) == [pytest.approx(1.0), pytest.approx(1.0)]  # capped at 1
    assert holm([0.02]) == [pytest.approx(0.02)]  # one test: unadjusted
    assert holm([]) == []


# Paired differences to gap: a = [0.02, 0.03, 0.04] (t = 5.196, p = 0.0351 each), c = [0.01, 0.03, 0.02]
BASE = {0: 0.80, 1: 0.81, 2: 0.79}
DIFFS = {"gmp": (0.02, 0.03, 0.04), "lse": (0.04, 0.02, 0.03)}


def test_paired_table_has_holm_p_and_effect_size_and_words_follow_the_adjusted_p(tmp_path: Path) -> None:
    for seed, acc in BASE.items():
        write_run(tmp_path, "gap", seed, acc)
        for head, diffs in DIFFS.items():
            write_run(tmp_path, head, seed, acc + diffs[seed])
    paired = paired_comparison(runs_frame(collect_runs([tmp_path])), "gap").set_index("head")
    raw = {
        head: stats.ttest_rel([BASE[s] + d[s] for s in BASE], list(BASE.values())).pvalue for head, d in DIFFS.items()
    }
    assert raw["gmp"] == pytest.approx(0.0351, abs=1e-4) and raw["lse"] == pytest.approx(0.0351, abs=1e-4)
    for head in DIFFS:
        assert paired.loc[head, "p_value"] == pytest.approx(raw[head])
        assert paired.loc[head, "p_holm"] == pytest.approx(2 * raw[head])  # both p equal: 2p, then monotone
        assert paired.loc[head, "effect_dz"] == pytest.approx(0.03 / 0.01)  # mean 0.03 / sd 0.01
        assert paired.loc[head, "n_tests"] == 2
    text = write_report([tmp_path], tmp_path / "out", figures=False).report_md.read_text()
    assert "p=0.035, Holm p=0.070, d_z=3.0, n=3, not significant at α=0.05 after adjustment" in text
    paired_md = (tmp_path / "out" / "paired.md").read_text()
    assert "p Holm" in paired_md and "0.070" in paired_md and "d_z" in paired_md


def test_published_column_only_where_a_setting_matches(tmp_path: Path) -> None:
    write_run(tmp_path / "f", "gap", 0, 0.88)
    write_report([tmp_path / "f"], tmp_path / "out_f", figures=False)
    assert "published" not in (tmp_path / "out_f" / "summary.md").read_text().lower()
    assert "Published" not in (tmp_path / "out_f" / "summary.tex").read_text()
    write_run(tmp_path / "c", "gap", 0, 0.90, dataset="cifar10", backbone="resnet20")
    write_run(tmp_path / "c", "gem", 0, 0.91, dataset="cifar10", backbone="resnet20")
    write_report([tmp_path / "c"], tmp_path / "out_c", figures=False)
    summary_md = (tmp_path / "out_c" / "summary.md").read_text()
    gap_row = next(line for line in summary_md.splitlines() if line.startswith("| CIFAR-10") and "| GAP " in line)
    gem_row = next(line for line in summary_md.splitlines() if line.startswith("| CIFAR-10") and "| GeM " in line)
    assert "91.25 (0.27M params; 164 epochs, crop+flip augmentation; single run; He et al. 2016)" in gap_row
    assert "91.25" not in gem_row  # the published ResNet-20 uses global average pooling


def test_required_fields_are_every_field_without_a_default() -> None:
    assert required_fields() == ["status", "run_key", "dataset", "backbone", "head", "seed", "epochs"]
    record = RunRecord(status="ok", run_key="k", dataset="d", backbone="b", head="h", seed=0, epochs=1).to_json()
    del record["epochs"], record["seed"]
    with pytest.raises(RecordError, match="missing required field\\(s\\) seed, epochs"):
        RunRecord.from_json(record, origin="x/result.json")


def test_cli_lists_a_record_missing_a_field_and_exits_0(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(root, "gap", seed, 0.8)
    broken = write_run(root, "gem", 0, 0.85) / RESULT_FILE
    data = json.loads(broken.read_text())
    del data["epochs"]
    broken.write_text(json.dumps(data))
    with pytest.raises(RecordError, match="epochs"):
        read_result(broken)
    script = Path(sys.executable).with_name("poolbench-report")  # the installed console script, this checkout first
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "poolbench.report"]
    done = subprocess.run(
        [*command, str(root), "--no-figures"], env=cli_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "TypeError" not in done.stderr and "Traceback" not in done.stderr
    assert "2 record(s) (2 ok), 1 unreadable" in done.stdout
    problems = pd.read_csv(root / "report" / "problems.csv")
    assert list(problems["path"]) == [str(broken)]
    assert "missing required field(s) epochs" in problems.loc[0, "problem"]
    assert (root / "report" / "summary.csv").is_file() and "Unreadable records" in (
        root / "report" / "report.md"
    ).read_text()


def test_timing_note_when_runs_shared_the_machine(tmp_path: Path) -> None:
    write_run(tmp_path / "par", "gap", 0, 0.8, config={"seed": 0, "jobs": 4})
    write_run(tmp_path / "seq", "gap", 0, 0.8, config={"seed": 0, "jobs": 1})
    parallel = write_report([tmp_path / "par"], tmp_path / "o1", figures=False).report_md.read_text()
    sequential = write_report([tmp_path / "seq"], tmp_path / "o2", figures=False).report_md.read_text()
    assert "ran as 4 parallel jobs on one machine" in parallel
    assert "parallel jobs" not in sequential


def test_generalization_gap_is_never_called_just_gap(tmp_path: Path) -> None:
    for seed in (0, 1, 2):
        write_run(tmp_path, "gap", seed, 0.8 + 0.01 * seed)
        write_run(tmp_path, "gem", seed, 0.82 + 0.01 * seed, pool_params={"gem_p": 3.2})
    result = write_report([tmp_path], tmp_path / "out")
    texts = [result.report_md.read_text(), *(p.read_text() for p in result.out_dir.glob("*.md"))]
    texts += [p.read_text() for p in result.out_dir.glob("*.tex")]
    for text in texts:
        lowered = text.lower()
        assert "gap acc" not in lowered and "overfitting gap" not in lowered and "gap loss" not in lowered
    assert "Generalization gap (train − test accuracy, pp)" in result.report_md.read_text()
    assert {f.kind for f in result.figures} >= {"generalization_gap"}


def _set_run_key(run_dir: Path, run_key: str) -> None:
    data = json.loads((run_dir / RESULT_FILE).read_text())
    data["run_key"] = run_key
    (run_dir / RESULT_FILE).write_text(json.dumps(data))
