"""The Optuna preset (hydra/sweeper=tune), the missing-plugin message, and the tuned-per-head protocol."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra.core.utils import JobReturn, JobStatus

from poolbench.record import RunRecord, write_config, write_result
from poolbench.report.collect import collect_runs
from poolbench.report.tuned import choose_settings, stage_two_runs, write_tuned_report
from poolbench.sweep.optuna_sweeper import FailedRunsAsFailedTrials, TrialFailed
from poolbench.sweep.plugins import JOBLIB, OPTUNA, SUBMITIT, required_plugins
from tests.conftest import CONF_DIR, TINY, cli_env, run_cli

SYNTHETIC = [item for item in TINY if item != "report_on_sweep_end=false"]


def needs_optuna() -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the tune extra: pip install 'poolbench[tune]'")


def trial_results(sweep_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(sweep_dir.rglob("result.json"))]


@pytest.mark.slow
def test_optuna_best_value_is_one_trials_val_acc(tmp_path):
    needs_optuna()
    overrides = [*SYNTHETIC, "report_on_sweep_end=false", f"paths.results_dir={tmp_path}", f"data_dir={tmp_path}/data"]
    done = run_cli(["-m", "hydra/sweeper=tune", "hydra.sweeper.n_trials=4", "name=lr", *overrides], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    best = yaml.safe_load((tmp_path / "lr" / "optimization_results.yaml").read_text())
    trials = trial_results(tmp_path / "lr")
    assert len(trials) == 4 and all(trial["status"] == "ok" for trial in trials)
    assert best["best_value"] == max(trial["val_acc"] for trial in trials)  # maximised, on validation
    assert best["best_value"] in [trial["val_acc"] for trial in trials]
    assert "Directions: ['maximize']" in done.stdout + done.stderr


@pytest.mark.slow
def test_a_sweep_whose_every_trial_diverges_exits_non_zero_with_one_line(tmp_path):
    needs_optuna()
    overrides = [
        *SYNTHETIC,
        "trainer.lr=tag(log, interval(1e10, 1e12))",
        "trainer.schedule=constant",
        f"paths.results_dir={tmp_path}",
        f"data_dir={tmp_path}/data",
    ]
    done = run_cli(["-m", "hydra/sweeper=tune", "hydra.sweeper.n_trials=4", "name=diverge", *overrides], tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert "poolbench sweep: 0 ok, 4 failed (4 diverged), 0 skipped" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("poolbench: 4 of 4 runs failed or diverged")
    assert "none of the 4 trials has a validation objective" in done.stdout + done.stderr
    assert not (tmp_path / "diverge" / ".poolbench_sweeps").exists()
    assert not (tmp_path / "diverge" / "optimization_results.yaml").exists()
    assert [trial["status"] for trial in trial_results(tmp_path / "diverge")] == ["diverged"] * 4


def test_presets_name_the_plugins_they_need():
    def extras(*arguments: str) -> list[str]:
        return [plugin.name for _, plugin in required_plugins(arguments, CONF_DIR)]

    assert extras("-m", "hydra/sweeper=tune") == [OPTUNA.name]
    assert extras("experiment=tuned", "head=gem") == [OPTUNA.name]  # through tuned -> tuned_search -> tune
    assert extras("launcher=joblib") == [JOBLIB.name]
    assert set(extras("+launcher=submitit_local,submitit_slurm")) == {SUBMITIT.name}
    assert extras("hydra/launcher=joblib") == [JOBLIB.name]
    assert extras("experiment=demo", "head=gap,gem", "trainer.lr=0.1") == []
    assert {OPTUNA.extra, JOBLIB.extra, SUBMITIT.extra} == {"tune", "launchers"}


MISSING_PLUGIN = """
import sys
import poolbench.sweep.plugins as plugins
from poolbench.sweep.optuna_sweeper import FailedRunsAsFailedTrials, TrialFailed
from poolbench.sweep.plugins import Plugin
absent = Plugin("hydra-joblib-launcher", "hydra_plugins.not_installed", "launchers")
plugins.PLUGIN_OPTIONS[("hydra/launcher", "joblib")] = absent
sys.argv = ["poolbench", "-m", "launcher=joblib", "dataset=synthetic"]
from poolbench.cli import main
main()
"""


def test_a_missing_plugin_names_the_extra_to_install(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", MISSING_PLUGIN], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "poolbench: launcher=joblib needs the Hydra plugin hydra-joblib-launcher, which is not installed. "
        "Fix: pip install 'poolbench[launchers]' (or pip install hydra-joblib-launcher)."
    )
    assert not any(tmp_path.iterdir())  # nothing written


# ------------------------------------------------------------------------------------------------ tuned report
def fake_run(root: Path, head: str, seed: int, lr: float, wd: float, val: float, test: float, status: str = "ok"):
    run_dir = root / head / f"seed{seed}-lr{lr}"
    config = {"objective": "val_acc", "seed": seed, "head": {"name": head}, "trainer": {"lr": lr, "weight_decay": wd}}
    write_config(run_dir, yaml.safe_dump(config))
    done = RunRecord(
        status=status,
        run_key=f"{head}{lr}{wd}",
        dataset="fashion_mnist",
        backbone="small_cnn",
        head=head,
        seed=seed,
        epochs=1,
        val_acc=val if status == "ok" else None,
        test_acc=test if status == "ok" else None,
        train_acc=0.9,
        overfit_acc=0.9 - test,
        train_loss=0.3,
        test_loss=0.4,
        overfit_loss=0.1,
        params_total=100,
        params_backbone=90,
        params_head=10,
    )
    write_result(run_dir, done)
    return run_dir


def test_validation_chooses_each_heads_setting_never_test(tmp_path):
    search = tmp_path / "search"
    fake_run(search, "gap", 0, 0.1, 1e-4, val=0.90, test=0.50)  # best on validation
    fake_run(search, "gap", 0, 0.01, 1e-3, val=0.80, test=0.99)  # best on test: must not be chosen
    fake_run(search, "gap", 0, 1.0, 1e-3, val=0.0, test=0.0, status="diverged")
    fake_run(search, "gem", 0, 0.03, 1e-5, val=0.70, test=0.70)
    chosen = choose_settings(collect_runs([search]).runs)
    assert chosen["gap"].setting == (0.1, 1e-4) and chosen["gap"].value == 0.90
    assert (chosen["gap"].trials, chosen["gap"].finished) == (3, 2)
    assert chosen["gem"].setting == (0.03, 1e-5)


def test_the_tuned_report_states_the_choice_and_leaves_other_settings_out(tmp_path):
    search, test = tmp_path / "search", tmp_path / "test"
    fake_run(search, "gap", 0, 0.1, 1e-4, val=0.90, test=0.50)
    fake_run(search, "gap", 0, 0.01, 1e-3, val=0.80, test=0.99)
    fake_run(search, "gem", 0, 0.03, 1e-5, val=0.70, test=0.70)
    for seed, (gap, gem) in enumerate([(0.80, 0.84), (0.81, 0.86), (0.79, 0.85)]):
        fake_run(test, "gap", seed, 0.1, 1e-4, val=0.8, test=gap)
        fake_run(test, "gem", seed, 0.03, 1e-5, val=0.8, test=gem)
    stray = fake_run(test, "gap", 0, 0.01, 1e-3, val=0.8, test=0.99)  # a setting validation did not choose
    kept, other = stage_two_runs(collect_runs([test]).runs, choose_settings(collect_runs([search]).runs))
    assert len(kept) == 6 and other == [stray]
    paths = write_tuned_report(search, test, tmp_path / "out", wall="3.0 min")
    text = paths[0].read_text()
    assert "validation split" in text and "The test split was not used to choose" in text
    assert "| GAP " in text and "0.1 " in text and "80.00 ± 1.00" in text and "85.00 ± 1.00" in text
    assert "Wall time (both stages): 3.0 min" in text and str(stray) in text
    paired = (tmp_path / "out" / "tuned_paired.csv").read_text()
    assert "gem" in paired and "p_holm" in paired


@pytest.mark.slow
def test_the_tuned_protocol_runs_both_stages_and_reports(tmp_path):
    needs_optuna()
    overrides = [*SYNTHETIC, "dataset.train_samples=null", f"paths.results_dir={tmp_path}", f"data_dir={tmp_path}/d"]
    done = subprocess.run(
        [sys.executable, "-m", "poolbench.sweep.tuned_protocol", "--heads", "gap,gem", "--trials", "2", *overrides],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    chosen = choose_settings(collect_runs([tmp_path / "tuned_search"]).runs)
    for head in ("gap", "gem"):
        trials = trial_results(tmp_path / "tuned_search" / head)
        assert len(trials) == 2 and chosen[head].value == max(trial["val_acc"] for trial in trials)
        tested = trial_results(tmp_path / "tuned_test" / "synthetic" / "small_cnn" / head)
        assert sorted(trial["seed"] for trial in tested) == [0, 1, 2]
        for run_dir in (tmp_path / "tuned_test" / "synthetic" / "small_cnn" / head).iterdir():
            trainer = yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]
            assert math.isclose(trainer["lr"], chosen[head].setting[0])
            assert math.isclose(trainer["weight_decay"], chosen[head].setting[1])
    assert (tmp_path / "tuned_test" / "report_tuned" / "tuned.md").is_file()


# ------------------------------------------------------------------------------------- failed trials for Optuna
class FakeLauncher:
    def __init__(self, values: list[object]) -> None:
        self.values = values

    def launch(self, job_overrides, initial_job_idx):
        return [
            JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=v)
            for o, v in zip(job_overrides, self.values)
        ]


def test_a_trial_without_objective_becomes_a_failure_optuna_can_record():
    wrapper = FailedRunsAsFailedTrials(FakeLauncher([0.8, math.nan, None]), max_failure_rate=1.0)
    returns = wrapper.launch([["trainer.lr=0.1"], ["trainer.lr=9"], ["trainer.lr=8"]], initial_job_idx=0)
    assert float(returns[0].return_value) == 0.8
    for failed in returns[1:]:
        with pytest.raises(TrialFailed, match="failed or diverged"):
            float(failed.return_value)  # what the plugin does; it records a FAIL trial and goes on
    assert (wrapper.launched, wrapper.with_value) == (3, 1)


def test_more_failures_than_max_failure_rate_stop_the_search():
    wrapper = FailedRunsAsFailedTrials(FakeLauncher([math.nan, 0.5]), max_failure_rate=0.0)
    with pytest.raises(TrialFailed, match="1 of 2 trials"):
        wrapper.launch([["a=1"], ["a=2"]], initial_job_idx=0)


def test_a_nan_becomes_a_failed_trial_only_under_hydras_own_optuna_sweeper():
    from poolbench.sweep.optuna_sweeper import HYDRA_OPTUNA_SWEEPER, NoObjective, for_the_sweeper

    assert isinstance(for_the_sweeper(math.nan, HYDRA_OPTUNA_SWEEPER), NoObjective)
    assert for_the_sweeper(0.75, HYDRA_OPTUNA_SWEEPER) == 0.75
    basic = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
    assert math.isnan(for_the_sweeper(math.nan, basic))
    with pytest.raises(TrialFailed):
        float(for_the_sweeper(math.nan, HYDRA_OPTUNA_SWEEPER))


@pytest.mark.slow
def test_hydras_own_optuna_sweeper_goes_on_past_a_diverged_trial(tmp_path):
    """The standard plugin (hydra/sweeper=optuna), not poolbench's preset: a diverged trial is a FAIL trial, the
    other trial is chosen, no traceback."""
    needs_optuna()
    overrides = [*SYNTHETIC, "trainer.schedule=constant", f"paths.results_dir={tmp_path}", f"data_dir={tmp_path}/data"]
    sweep = ["-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0"]
    sweep += ["hydra.sweeper.n_trials=4", "hydra.sweeper.direction=maximize", "name=std"]
    done = run_cli([*sweep, "trainer.lr=choice(1e12,0.05)", *overrides], tmp_path)
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "Values cannot be specified" not in output
    assert done.returncode == 1  # the sweep ends; its summary counts the diverged run as failed
    assert "poolbench sweep: 1 ok, 1 failed (1 diverged), 2 skipped" in done.stdout
    trials = trial_results(tmp_path / "std")
    assert sorted(trial["status"] for trial in trials) == ["diverged", "ok"]
    best = yaml.safe_load((tmp_path / "std" / "optimization_results.yaml").read_text())
    (ok,) = [trial for trial in trials if trial["status"] == "ok"]
    assert best["best_value"] == ok["val_acc"] and best["best_params"] == {"trainer.lr": 0.05}
    assert "Failed experiment" in output


@pytest.mark.slow
def test_hydras_own_optuna_sweeper_with_every_trial_diverged_ends_in_one_line(tmp_path):
    """The standard plugin (hydra/sweeper=optuna): its study.best_trial raises "No trials are completed yet."
    when no trial completed; poolbench ends the search with one line, the summary exits 1, no traceback."""
    needs_optuna()
    overrides = [*SYNTHETIC, "trainer.schedule=constant", f"paths.results_dir={tmp_path}", f"data_dir={tmp_path}/data"]
    sweep = ["-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0"]
    sweep += [
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.direction=maximize",
        "name=alldiv",
        "report_on_sweep_end=false",
    ]
    done = run_cli([*sweep, "trainer.lr=choice(1e12,1e13)", *overrides], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-2000:]
    assert "Traceback" not in output and "ValueError" not in output
    assert "optuna: none of the trials has a validation objective (every run failed or diverged)" in output
    assert "poolbench sweep: 0 ok, 2 failed (2 diverged), 0 skipped" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("poolbench: 2 of 2 runs failed or diverged")
    assert [trial["status"] for trial in trial_results(tmp_path / "alldiv")] == ["diverged"] * 2


@pytest.mark.slow
def test_a_tuning_sweep_is_reported_as_one_trials_table_with_the_selected_trial_marked(tmp_path):
    """A 3-trial hydra/sweeper=tune sweep's own report (written when the sweep ends): one table of the trials
    sorted by val_acc, the best marked as selected, test accuracy for that trial only, no per-trial panels or
    figures, values to 3 significant digits."""
    needs_optuna()
    overrides = [*SYNTHETIC, f"paths.results_dir={tmp_path}", f"data_dir={tmp_path}/data"]
    done = run_cli(["-m", "hydra/sweeper=tune", "hydra.sweeper.n_trials=3", "name=search", *overrides], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report_dir = tmp_path / "search" / "report"
    text = (report_dir / "report.md").read_text()
    assert text.startswith("# poolbench report: a tuning sweep")
    assert text.count("| rank ") == 1 and text.count("\n## ") == 2  # one table: Trials, then Files
    assert text.count("✓ selected") == 1  # the selected trial's row
    assert not (report_dir / "figures").exists() and not list(report_dir.rglob("*.png"))
    assert not re.search(r"\d\.\d{7,}", text)  # no full floats ("learning rate = 0.02110721108616644")
    trials = pd.read_csv(report_dir / "trials.csv")
    assert len(trials) == 3 and trials["selected"].sum() == 1
    assert list(trials["value"]) == sorted(trials["value"], reverse=True) and bool(trials["selected"].iloc[0])
    assert trials["test_acc_of_selected"].notna().tolist() == [True, False, False]
    records = {str(path.parent): json.loads(path.read_text()) for path in (tmp_path / "search").rglob("result.json")}
    best = records[trials["run_dir"].iloc[0]]
    assert best["val_acc"] == max(record["val_acc"] for record in records.values())
    assert trials["test_acc_of_selected"].iloc[0] == best["test_acc"]


@pytest.mark.slow
def test_a_search_rerun_under_submitit_feeds_the_sampler_validation_never_test(tmp_path):
    """Run an Optuna search under launcher=submitit_local, then again into the same folder: the second time every
    run is skipped before submission, and what the sampler is told is each run's val_acc (never its test_acc)."""
    needs_optuna()
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the launchers extra")
    overrides = [*SYNTHETIC, "trainer.epochs=1", f"paths.results_dir={tmp_path}", f"data_dir={tmp_path}/data"]
    sweep = ["-m", "hydra/sweeper=tune", "hydra.sweeper.n_trials=2", "launcher=submitit_local", "name=again"]
    search = [*sweep, "trainer.lr=choice(0.01,0.05)"]
    for _attempt in range(2):
        done = run_cli([*search, *overrides], tmp_path, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert "poolbench sweep: 0 ok, 0 failed, 2 skipped" in done.stdout  # skipped before submission, one per batch
    assert "finished runs before submission" in done.stdout + done.stderr
    trials = trial_results(tmp_path / "again")
    best = yaml.safe_load((tmp_path / "again" / "optimization_results.yaml").read_text())
    assert best["best_value"] in [trial["val_acc"] for trial in trials]
    assert all(trial["val_acc"] != trial["test_acc"] for trial in trials)  # else the check would prove nothing
