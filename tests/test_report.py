"""Report: exact aggregation numbers from hand-written run records, bad records, partial sweeps, outputs, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO_ROOT, TINY, cli_env, run_cli
from omegaconf import OmegaConf
from scipy import stats

from poolbench.atomic import atomic_write_text
from poolbench.record import RESULT_FILE, SCHEMA_VERSION, RunRecord, write_config, write_epochs, write_result
from poolbench.report.aggregate import mean_std_ci, runs_frame
from poolbench.report.build import write_report
from poolbench.report.callback import ReportOnSweepEnd
from poolbench.report.collect import ReportInputError, collect_runs
from poolbench.report.command import main as report_main
from poolbench.report.curves import curve_band, curves_frame
from poolbench.report.paired import paired_comparison
from poolbench.report.references import attach_references, load_references
from poolbench.report.summary import summary_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"
PARAMS = {"gap": (1272, 68), "gem": (1272, 69), "flatten": (1272, 4100), "lse": (1272, 68)}
# Test accuracies chosen so that means, stds and paired differences are easy to check by hand.
GAP_ACC = {0: 0.80, 1: 0.82, 2: 0.84}
GEM_ACC = {0: 0.83, 1: 0.86, 2: 0.86}
GEM_P = {0: 2.5, 1: 3.0, 2: 3.5}


def write_run(
    root: Path,
    head: str,
    seed: int,
    test_acc: float | None,
    *,
    status: str = "ok",
    error: str | None = None,
    dataset: str = "fashion_mnist",
    backbone: str = "small_cnn",
    train_acc: float | None = None,
    pool_params: dict | None = None,
    epochs: int = 2,
    config: dict | None = None,
    finished_at: str | None = None,
    shift_acc: dict | None = None,
) -> Path:
    """A run record as poolbench writes it, under root/DATASET/BACKBONE/HEAD/seedK."""
    run_dir = root / dataset / backbone / head / f"seed{seed}"
    params_backbone, params_head = PARAMS.get(head, (1000, 10))
    train_acc = train_acc if train_acc is not None else (None if test_acc is None else test_acc + 0.05)
    record = RunRecord(
        status=status,
        error=error,
        run_key=f"{head}{seed}",
        dataset=dataset,
        backbone=backbone,
        head=head,
        seed=seed,
        epochs=epochs,
        test_acc=test_acc,
        train_acc=train_acc,
        test_loss=0.5,
        train_loss=0.3,
        overfit_acc=None if test_acc is None else train_acc - test_acc,
        overfit_loss=0.2,
        params_backbone=params_backbone,
        params_head=params_head,
        params_total=params_backbone + params_head,
        flops_per_image=1_000_000,
        train_seconds=10.0,
        images_per_second=5000.0,
        pool_params=pool_params or {},
        epochs_completed=epochs if status == "ok" else 1,
        finished_at=finished_at,
        shift_acc=shift_acc or {},
    )
    rows = []
    for epoch in range(1, epochs + 1):
        acc = (test_acc or 0.5) * epoch / epochs
        row = {
            "epoch": epoch,
            "lr": 0.1,
            "train_loss": 1.0 / epoch,
            "train_acc": acc + 0.05,
            "val_loss": 1.0,
            "val_acc": acc,
            "test_loss": 1.0 / epoch,
            "test_acc": acc,
            "seconds": 1.0,
            "train_batch_loss": 1.1 / epoch,
        }
        if pool_params and "gem_p" in pool_params:
            row["gem_p"] = 3.0 + (pool_params["gem_p"] - 3.0) * epoch / epochs
        rows.append(row)
    write_config(run_dir, OmegaConf.to_yaml(config or {"seed": seed}))
    write_epochs(run_dir, rows)
    write_result(run_dir, record)
    return run_dir


def write_sweep(root: Path) -> Path:
    """gap and gem on seeds 0-2 (gem with a learned p), lse on two seeds, one failed and one diverged run."""
    for seed, accuracy in GAP_ACC.items():
        write_run(root, "gap", seed, accuracy)
        write_run(root, "gem", seed, GEM_ACC[seed], pool_params={"gem_p": GEM_P[seed]})
    write_run(root, "lse", 0, 0.81)
    write_run(root, "lse", 1, 0.85)
    write_run(root, "gem", 3, 0.10, status="diverged", error="non-finite loss at epoch 1")
    write_run(root, "flatten", 0, None, status="failed", error="RuntimeError: shapes | do not match")
    return root


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return write_sweep(tmp_path / "sweep")


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory):
    """The sweep's complete report, figures included, written once for the tests that only read it."""
    root = write_sweep(tmp_path_factory.mktemp("full") / "sweep")
    return write_report([root], root.parent / "out")


def frames(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = runs_frame(collect_runs([root]))
    return runs, summary_table(runs).set_index("head")


def test_summary_means_and_sample_stds(sweep: Path) -> None:
    _, summary = frames(sweep)
    assert summary.loc["gap", "n_seeds"] == 3
    assert summary.loc["gap", "test_acc_mean"] == pytest.approx(0.82)
    assert summary.loc["gap", "test_acc_std"] == pytest.approx(0.02)  # ddof=1
    assert summary.loc["gem", "test_acc_mean"] == pytest.approx(0.85)
    assert summary.loc["gem", "test_acc_std"] == pytest.approx(math.sqrt(0.0003))
    half = stats.t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert summary.loc["gap", "test_acc_ci_low"] == pytest.approx(0.82 - half)
    assert summary.loc["gap", "test_acc_ci_high"] == pytest.approx(0.82 + half)
    assert summary.loc["gem", "overfit_acc_mean"] == pytest.approx(0.05)
    assert summary.loc["gem", "gem_p_mean"] == pytest.approx(3.0)
    assert summary.loc["gem", "gem_p_std"] == pytest.approx(0.5)
    assert math.isnan(summary.loc["gap", "gem_p_mean"])


def test_failed_and_diverged_runs_are_not_averaged(sweep: Path) -> None:
    _, summary = frames(sweep)
    assert summary.loc["gem", "n_seeds"] == 3  # the diverged seed 3 (test_acc 0.10) is left out
    assert "flatten" not in summary.index  # its only run failed


def test_head_share_of_parameters(sweep: Path) -> None:
    _, summary = frames(sweep)
    assert summary.loc["gap", "params_total"] == 1340
    assert summary.loc["gap", "params_head"] == 68
    assert summary.loc["gap", "head_share"] == pytest.approx(68 / 1340)
    assert summary.loc["gem", "head_share"] == pytest.approx(69 / 1341)


def test_paired_difference_and_p_value_match_scipy(sweep: Path) -> None:
    runs, _ = frames(sweep)
    paired = paired_comparison(runs, "gap").set_index("head")
    gem = paired.loc["gem"]
    assert gem["n_pairs"] == 3
    assert gem["diff_mean"] == pytest.approx(0.03)
    assert gem["diff_std"] == pytest.approx(0.01)
    expected = stats.ttest_rel(list(GEM_ACC.values()), list(GAP_ACC.values()))
    assert gem["p_value"] == pytest.approx(expected.pvalue)
    assert gem["t_statistic"] == pytest.approx(0.03 / (0.01 / math.sqrt(3)))
    half = stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert (gem["diff_ci_low"], gem["diff_ci_high"]) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))


def test_paired_comparison_says_not_enough_seeds_below_three(sweep: Path) -> None:
    runs, _ = frames(sweep)
    lse = paired_comparison(runs, "gap").set_index("head").loc["lse"]
    assert lse["n_pairs"] == 2
    assert lse["diff_mean"] == pytest.approx(((0.81 - 0.80) + (0.85 - 0.82)) / 2)
    assert lse["test"] == "not enough seeds"
    assert math.isnan(lse["p_value"])


def test_mean_std_ci_single_value_has_no_spread() -> None:
    mean, std, low, high = mean_std_ci([0.7])
    assert mean == 0.7 and math.isnan(std) and math.isnan(low) and math.isnan(high)


def test_report_writes_failed_table_and_all_outputs(full_report) -> None:
    result, out = full_report, full_report.out_dir
    failed = pd.read_csv(out / "failed.csv").set_index("head")
    assert set(failed.index) == {"gem", "flatten"}
    assert failed.loc["gem", "status"] == "diverged" and failed.loc["gem", "seed"] == 3
    assert failed.loc["flatten", "error"] == "RuntimeError: shapes | do not match"
    report = result.report_md.read_text()
    assert "RuntimeError: shapes \\| do not match" in report  # escaped so the markdown table stays intact
    assert "not enough seeds" in report
    for stem in ("summary", "paired", "failed"):
        for suffix in ("csv", "md", "tex"):
            assert (out / f"{stem}.{suffix}").is_file()
    assert (out / "main.tex").is_file() and (out / "cost.tex").is_file()
    tex = (out / "summary.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "Small CNN" in tex and "small\\_cnn" not in tex and "Fashion-MNIST" in tex  # display names
    assert "82.00\\,$\\pm$\\,2.00" in tex  # thin spaces around the ±
    assert "[57.59, 100.00]" in tex  # lse's CI (n=2, t=12.7) clipped at 100 %
    summary_md = (out / "summary.md").read_text()
    assert "| 82.00 ± 2.00" in summary_md and "| 5.1 " in summary_md  # 68/1340 head share in percent


def test_figures_are_valid_png_and_pdf(full_report) -> None:
    result = full_report
    kinds = {figure.kind for figure in result.figures}
    assert kinds == {"accuracy_per_head", "generalization_gap", "learning_curves", "gem_p", "accuracy_vs_params"}
    for figure in result.figures:
        assert figure.png.read_bytes().startswith(PNG_MAGIC)
        assert figure.pdf.read_bytes().startswith(PDF_MAGIC)
        assert f"({figure.png.relative_to(result.out_dir)})" in result.report_md.read_text()
    assert not list(result.out_dir.rglob("*.tmp"))


def test_corrupt_and_unknown_schema_records_are_listed_and_do_not_stop_the_report(sweep: Path, tmp_path: Path) -> None:
    corrupt = sweep / "fashion_mnist" / "small_cnn" / "gmp" / "seed0" / RESULT_FILE
    atomic_write_text(corrupt, '{"status": "ok", "head": ')
    future = write_run(sweep, "avgmax", 0, 0.9) / RESULT_FILE
    atomic_write_text(future, future.read_text().replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 99'))
    result = write_report([sweep], tmp_path / "out", figures=False)
    assert result.n_records == 10  # the sweep fixture's records; the two bad ones are problems
    problems = pd.read_csv(tmp_path / "out" / "problems.csv")
    assert set(problems["path"]) == {str(corrupt), str(future)}
    messages = " ".join(problems["problem"])
    assert "unreadable run record" in messages and "unknown schema_version 99" in messages
    report = result.report_md.read_text()
    assert "Unreadable records" in report and str(corrupt) in report and str(future) in report
    assert "gem" in pd.read_csv(tmp_path / "out" / "summary.csv")["head"].tolist()


def test_partial_sweep_reports_missing_runs_from_multirun_yaml(tmp_path: Path) -> None:
    root = tmp_path / "partial"
    overrides = {"task": ["seed=0,1,2", "dataset=fashion_mnist"]}
    sweeper = {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": {"head": "gap,gmp"}}
    atomic_write_text(
        root / "multirun.yaml", OmegaConf.to_yaml({"hydra": {"sweeper": sweeper, "overrides": overrides}})
    )
    write_run(root, "gap", 0, 0.8)
    write_run(root, "gap", 1, 0.8)
    write_run(root, "gmp", 0, 0.7)
    started = root / "fashion_mnist" / "small_cnn" / "gmp" / "seed1"
    write_config(started, "seed: 1\n")  # started, no result.json yet
    result = write_report([root], tmp_path / "out", figures=False)
    missing = pd.read_csv(tmp_path / "out" / "missing.csv")
    no_record = missing[missing["reason"] == "no run record"]
    assert sorted(zip(no_record["head"], no_record["seed"].astype(int))) == [("gap", 2), ("gmp", 2)]
    started_rows = missing[missing["reason"].str.startswith("started, not finished")]
    assert list(zip(started_rows["head"], started_rows["seed"], started_rows["where"])) == [("gmp", 1, str(started))]
    assert result.n_missing == 3  # each run once: the started one is not also "no run record"
    assert "Missing runs (partial sweep)" in result.report_md.read_text()


def test_no_grid_is_guessed_without_a_sweep_record(tmp_path: Path) -> None:
    """Heads x seeds seen is not a grid (the claims grid has seeds 5-9 for two heads only): nothing is expected."""
    write_run(tmp_path / "runs", "gap", 0, 0.8)
    write_run(tmp_path / "runs", "gap", 1, 0.8)
    write_run(tmp_path / "runs", "gem", 0, 0.8)
    assert pd.read_csv(write_report([tmp_path / "runs"], figures=False).out_dir / "missing.csv").empty


def test_group_by_config_key_splits_rows(tmp_path: Path) -> None:
    for lr in (0.1, 0.01):
        for seed in (0, 1):
            write_run(tmp_path / f"lr{lr}", "gap", seed, 0.8 + lr, config={"seed": seed, "trainer": {"lr": lr}})
    assert report_main(["--group-by", "trainer.lr", str(tmp_path), "--out", str(tmp_path / "out"), "--no-figures"]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["trainer.lr"]) == [0.01, 0.1]
    assert sorted(summary["test_acc_mean"]) == [pytest.approx(0.81), pytest.approx(0.9)]


def two_learning_rates(root: Path) -> Path:
    for lr in (0.1, 0.01):
        for seed in (0, 1):
            config = {"seed": seed, "trainer": {"lr": lr, "epochs": 2}}
            write_run(root / f"lr{lr}", "gap", seed, 0.8 + lr, config=config)
            write_run(root / f"lr{lr}", "gmp", seed, 0.7 + lr, config=config)
    return root


@pytest.mark.parametrize(
    "args, says",
    [
        (["--group-by", "seed"], "--group-by seed: each row is the mean ± std over its seeds"),
        (["--group-by", "test_acc"], "--group-by test_acc: test_acc is a metric"),
        (["--baseline", "gapp"], "--baseline gapp: no run of that head here (did you mean gap?). Fix: --baseline"),
    ],
)
def test_report_options_that_cannot_work_are_one_line_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    """Through the console entry: no traceback, one line, exit 2, and nothing written."""
    done = report_cli(str(two_learning_rates(tmp_path / "runs")), *args, "--no-figures")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"poolbench-report: {says}") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs" / "report").exists()


def test_every_group_by_key_works_or_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = two_learning_rates(tmp_path / "runs")
    refused = {
        "train_acc": "train_acc is a metric (what the runs measured), not a grouping key",
        "gem_p": "gem_p is a metric",
        "trainer.lrr": "trainer.lrr: no record or config.yaml of these runs has this key (did you mean trainer.lr?)",
        "trainer": "trainer: a group of config keys, not one. Fix: name one of trainer.epochs, trainer.lr.",
    }
    write_run(root, "gem", 0, 0.8, pool_params={"gem_p": 3.0}, config={"seed": 0, "trainer": {"lr": 0.1}})
    for key, says in refused.items():
        assert report_main([str(root), "--group-by", key, "--no-figures"]) == 2
        error = capsys.readouterr().err
        assert says in error and len(error.strip().splitlines()) == 1, error
        assert key == "trainer" or "(one that differs here: trainer.lr) or a field that says how a run" in error
    for keys in ("trainer.lr", "epochs,device", "run_key", "head", "trainer.epochs,git_sha"):
        assert report_main([str(root), "--group-by", keys, "--out", str(tmp_path / keys), "--no-figures"]) == 0
    assert sorted(pd.read_csv(tmp_path / "epochs,device" / "summary.csv")["epochs"]) == [2, 2, 2, 2, 2]


def test_published_reference_sits_beside_matching_rows() -> None:
    summary = pd.DataFrame(
        {
            "dataset": ["cifar10", "cifar10", "fashion_mnist"],
            "backbone": ["resnet20", "resnet20", "small_cnn"],
            "head": ["gap", "gem", "gap"],
        }
    )
    attached = attach_references(summary, load_references())
    assert attached.loc[0, "reference_acc"] == pytest.approx(1 - 0.0875)
    assert "He et al. 2016" in attached.loc[0, "reference_source"]
    assert math.isnan(attached.loc[1, "reference_acc"])  # the published ResNet-20 uses global average pooling
    assert math.isnan(attached.loc[2, "reference_acc"])  # dataset-level context is not put beside a model


def test_report_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="no such path"):
        write_report([tmp_path / "nope"])
    with pytest.raises(ReportInputError, match="no run records"):
        write_report([tmp_path])


def report_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench.report", *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_committed_reference_report_is_not_replaced_without_out_or_force(tmp_path: Path) -> None:
    """Refused in one line (exit 2) before anything is read or written; --out writes elsewhere."""
    reference = tmp_path / "results" / "reference" / "demo"
    write_run(reference, "gap", 0, 0.8)
    done = report_cli(str(reference), "--no-figures")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"poolbench-report: {reference / 'report'} is a committed reference report: write elsewhere with --out DIR, "
        "or replace it with --force."
    )
    assert not (reference / "report").exists()
    assert report_main([str(reference), "--no-figures", "--out", str(tmp_path / "elsewhere")]) == 0
    assert report_main([str(reference), "--no-figures", "--force"]) == 0
    assert (reference / "report" / "report.md").is_file()


def test_cli_end_to_end(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = report_cli(str(sweep), "--baseline", "gem", "--no-figures")
    assert done.returncode == 0, done.stderr
    assert (sweep / "report" / "report.md").is_file()
    assert "10 record(s) (8 ok)" in done.stdout
    paired = pd.read_csv(sweep / "report" / "paired.csv")
    assert set(paired["baseline"]) == {"gem"} and set(paired["head"]) == {"gap", "lse"}
    assert report_main([str(sweep), "--no-figures"]) == 0  # the report dir under the sweep is not taken for runs
    assert "10 record(s)" in capsys.readouterr().out


def test_cli_usage_error_in_a_subprocess_is_one_line_exit_2(tmp_path: Path) -> None:
    done = report_cli(str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stderr.startswith("poolbench-report: no such path") and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["empty dir", "two paths without --out"])
def test_cli_usage_errors_exit_2(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(tmp_path)] if case == "empty dir" else [str(tmp_path), str(tmp_path)]
    assert report_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("poolbench-report: ") and len(err.strip().splitlines()) == 1


def test_callback_switched_off_or_failing_never_raises(tmp_path: Path) -> None:
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "empty")}}})
    ReportOnSweepEnd(enabled=False).on_multirun_end(config)
    ReportOnSweepEnd(enabled=True).on_multirun_end(config)  # no such dir: logged, not raised
    assert not (tmp_path / "empty").exists()


@pytest.mark.slow
def test_sweep_end_callback_writes_the_report(tmp_path: Path) -> None:
    overrides = [
        *TINY,
        "trainer.epochs=1",
        "seed=0",
        "head=gap,gem",
        f"paths.results_dir={tmp_path / 'results'}",
        f"data_dir={tmp_path / 'data'}",
        "name=sweep",
        "report_on_sweep_end=true",
    ]
    done = run_cli(["-m", *overrides], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report_dir = tmp_path / "results" / "sweep" / "report"
    summary = pd.read_csv(report_dir / "summary.csv")
    assert sorted(summary["head"]) == ["gap", "gem"] and set(summary["n_seeds"]) == {1}
    assert (report_dir / "report.md").is_file()
    assert pd.read_csv(report_dir / "missing.csv").empty


def test_duplicate_records_of_one_seed_are_counted_once_and_listed(tmp_path: Path) -> None:
    write_run(tmp_path / "a", "gap", 0, 0.80)
    write_run(tmp_path / "a", "gap", 1, 0.90, finished_at="2026-01-01T10:00:00+00:00")
    # found first (path order) but finished later: the record of seed 1 that counts
    rerun = write_run(tmp_path / "0", "gap", 1, 0.70, finished_at="2026-01-02T10:00:00+00:00")
    result = write_report([tmp_path], tmp_path / "out", figures=False)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary.loc[0, "n_seeds"] == 2 and summary.loc[0, "test_acc_mean"] == pytest.approx(0.75)
    duplicates = pd.read_csv(tmp_path / "out" / "duplicates.csv")
    assert list(duplicates["run_dir"]) == [str(tmp_path / "a" / "fashion_mnist" / "small_cnn" / "gap" / "seed1")]
    assert "rerun" in duplicates.loc[0, "reason"] and str(rerun) not in set(duplicates["run_dir"])
    assert "Duplicate records" in result.report_md.read_text()


def test_single_seed_paragraph_says_no_conclusion(tmp_path: Path) -> None:
    write_run(tmp_path, "gap", 0, 0.80)
    write_run(tmp_path, "gem", 0, 0.85)
    text = write_report([tmp_path], figures=False).report_md.read_text()
    assert "1 seed(s) each (one seed: no spread, so no conclusion)." in text
    assert "Highest mean test accuracy: GeM 85.00 %" in text
    assert "GeM +5.00 pp (n=1, not enough seeds for a test)" in text


def test_learning_curve_band_over_seeds(sweep: Path) -> None:
    collection = collect_runs([sweep])
    runs = runs_frame(collection)
    curves = curves_frame(collection, runs)
    assert "train_batch_loss" in curves.columns and "gem_p" in curves.columns  # extra epochs.csv columns kept
    band = curve_band(curves[curves["head"] == "gap"], "test_acc").set_index("epoch")
    assert band.loc[2, "mean"] == pytest.approx(0.82) and band.loc[2, "std"] == pytest.approx(0.02)
    assert band.loc[1, "mean"] == pytest.approx(0.41) and band.loc[2, "n"] == 3
    gem_p = curve_band(curves[curves["head"] == "gem"], "gem_p").set_index("epoch")
    assert gem_p.loc[2, "mean"] == pytest.approx(3.0) and gem_p.loc[2, "std"] == pytest.approx(0.5)
    assert set(curves["seed"]) == {0, 1, 2}  # the diverged gem seed 3 is not in the curves


def test_translation_test_table_figure_and_paragraph(tmp_path: Path) -> None:
    """Accuracy at every shift (mean, sample std over seeds) and the per-seed drop, from hand-written records."""
    from poolbench.report.shift import shift_table

    root = tmp_path / "sweep"
    shifted = {
        "gap": {0: (0.80, 0.78), 1: (0.82, 0.80), 2: (0.84, 0.79)},  # test_acc, acc at 4 px
        "flatten": {0: (0.86, 0.50), 1: (0.88, 0.56), 2: (0.87, 0.53)},
    }
    for head, seeds in shifted.items():
        for seed, (test_acc, at4) in seeds.items():
            write_run(root, head, seed, test_acc, shift_acc={"0": test_acc, "4": at4})
    write_run(root, "lse", 0, 0.81)  # no translation test: left out of the table
    table = shift_table(runs_frame(collect_runs([root]))).set_index("head")
    assert list(table.index) == ["flatten", "gap"]
    gap, flatten = table.loc["gap"], table.loc["flatten"]
    assert gap["acc_4_mean"] == pytest.approx(0.79) and gap["acc_4_std"] == pytest.approx(0.01)
    assert gap["drop_4_mean"] == pytest.approx((0.02 + 0.02 + 0.05) / 3)
    assert gap["drop_4_std"] == pytest.approx(pd.Series([0.02, 0.02, 0.05]).std())
    assert flatten["acc_0_mean"] == pytest.approx(0.87) and flatten["drop_4_mean"] == pytest.approx(0.34)
    assert flatten["n_seeds"] == 3

    result = write_report([root], tmp_path / "out")
    shift_md = (tmp_path / "out" / "shift.md").read_text()
    assert "drop at 4 px pp" in shift_md and "79.00 ± 1.00" in shift_md and "34.00 ± 2.00" in shift_md
    report = result.report_md.read_text()
    assert "accuracy lost at 4 px, smallest first: GAP 3.00 ± 1.73 pp, Flatten + FC 34.00 ± 2.00 pp" in report
    kinds = [figure.kind for figure in result.figures]
    assert "accuracy_vs_shift" in kinds
    assert next(f for f in result.figures if f.kind == "accuracy_vs_shift").png.read_bytes().startswith(PNG_MAGIC)


def test_no_translation_test_means_no_shift_table(sweep: Path, tmp_path: Path) -> None:
    result = write_report([sweep], tmp_path / "out", figures=False)
    assert not (tmp_path / "out" / "shift.md").exists()
    assert "Translation test" not in result.report_md.read_text()


def test_a_demo_report_has_no_claims_md_and_says_why(tmp_path: Path) -> None:
    """make demo's records (the committed reference) touch no claim's primary endpoint: no page of "not measured"
    claims, one line in report.md instead."""
    result = write_report([REPO_ROOT / "results" / "reference" / "demo"], tmp_path / "out", figures=False)
    assert result.claims_md is None and not (tmp_path / "out" / "claims.md").exists()
    lines = [line for line in result.report_md.read_text().splitlines() if "claims.md" in line]
    assert lines == [
        "No claims.md: no claim of the analysis plan `claims.yaml` has a primary endpoint measured in these records "
        "(`make claims` runs the grid that measures them; docs/claims-grid.md)."
    ]


def test_a_report_whose_records_judge_a_claim_links_claims_md(tmp_path: Path) -> None:
    from tests.claims_records import write_plan
    from tests.test_claims import FOUR_VERDICTS, write_records

    plan = write_plan(tmp_path / "plan.yaml", FOUR_VERDICTS)
    result = write_report([write_records(tmp_path / "runs")], tmp_path / "out", figures=False, plan=plan)
    assert result.claims_md == tmp_path / "out" / "claims.md" and result.claims_md.is_file()
    assert "The verdict on the seed's claims, by the analysis plan `plan.yaml`: [claims.md](claims.md)." in (
        result.report_md.read_text()
    )


def test_the_tests_a_model_takes_never_split_rows_but_name_another_run():
    """dataset.eval_shifts, dataset.shift_fills and deploy.eval_sizes choose a trained model's extra tests:
    another run key (its records hold other fields), but never a grouping key (the same training)."""
    from poolbench.record import compute_run_key
    from poolbench.report.variants import semantic_flat_config

    config = {"dataset": {"name": "d", "eval_shifts": [4], "shift_fills": ["zero"]}, "deploy": {"eval_sizes": [24]}}
    config |= {"trainer": {"lr": 0.1}}
    assert semantic_flat_config(config) == {"dataset.name": "d", "trainer.lr": 0.1}
    other = {**config, "dataset": {**config["dataset"], "eval_shifts": [4, 8]}}
    assert compute_run_key(other) != compute_run_key(config)
