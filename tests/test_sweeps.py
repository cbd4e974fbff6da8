"""Sweeps that survive: run directories, skip what is done, resume after SIGKILL/SIGTERM, failures as results,
and the parallel launchers (joblib, submitit_local)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolbench.record import (
    WALL_CLOCK_FIELDS,
    RunRecord,
    compute_run_key,
    read_epochs,
    read_result,
    write_config,
    write_result,
)
from poolbench.sweep.ledger import summary_line
from poolbench.sweep.rundir import RunDirConflict, done_record, read_folder, variant_suffix
from tests.conftest import TINY, cli_env, compose_cfg, run_cli

HEAD_CLASS = "poolbench.models.heads.GlobalAvgPoolHead"
EXPLODING_HEAD = "tests.sweep_helpers.ExplodingHead"
# Not compared between a resumed and an uninterrupted run: wall-clock time by nature.
TIMING_FIELDS = {"seconds", *WALL_CLOCK_FIELDS}


def run_dirs(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.rglob("result.json"))


# ----------------------------------------------------------------------------------------------- run dirs
def test_variant_suffix_is_empty_for_path_and_bookkeeping_overrides() -> None:
    plain = [
        "head=gem",
        "seed=3",
        "dataset=synthetic",
        "backbone=resnet20",
        "name=x",
        "experiment=demo",
        "launcher=joblib",
        "paths.results_dir=/tmp/r",
        "data_dir=d",
        "progress=false",
        "force=true",
        "jobs=2",
        "trainer.threads=1",
        "+hydra.job.chdir=false",
    ]
    assert variant_suffix(plain) == ""
    assert variant_suffix(None) == ""


def test_variant_suffix_separates_configs_and_ignores_order() -> None:
    lr1 = variant_suffix(["head=gap", "trainer.lr=0.1", "trainer.epochs=3"])
    assert lr1.startswith("-") and len(lr1) == 9
    assert lr1 == variant_suffix(["trainer.epochs=3", "trainer.lr=0.1", "head=gem"])  # head is in the path
    assert lr1 != variant_suffix(["trainer.lr=0.2", "trainer.epochs=3"])
    assert variant_suffix(["+head.hidden=64"]) != variant_suffix(["head.hidden=64", "head.dropout=0.5"])


def test_run_key_ignores_threads_and_jobs_but_not_lr() -> None:
    base = {"seed": 0, "trainer": {"lr": 0.1, "threads": None}, "jobs": 1}
    assert compute_run_key(base) == compute_run_key({**base, "trainer": {"lr": 0.1, "threads": 4}, "jobs": 2})
    assert compute_run_key(base) != compute_run_key({**base, "trainer": {"lr": 0.2, "threads": None}})


def _record_for(run_key: str, status: str = "ok") -> RunRecord:
    return RunRecord(
        status=status,
        run_key=run_key,
        dataset="synthetic",
        backbone="small_cnn",
        head="gap",
        seed=0,
        epochs=2,
        test_acc=0.5,
    )


def test_done_run_is_skipped_other_config_refused_force_clears(tmp_path: Path, tiny_overrides: list[str]) -> None:
    from omegaconf import OmegaConf

    cfg = compose_cfg(tiny_overrides, output_dir=tmp_path / "run")
    run_dir, resolved = tmp_path / "run", OmegaConf.to_container(cfg, resolve=True)
    run_key = compute_run_key(resolved)

    def done(force: bool = False) -> RunRecord | None:
        return done_record(run_dir, run_key, read_folder(run_dir, run_key), force)

    assert read_folder(run_dir, run_key).kind == "new" and done() is None  # empty dir: run it
    write_config(run_dir, OmegaConf.to_yaml(cfg, resolve=True))
    assert read_folder(run_dir, run_key).kind == "resume" and done() is None  # this config, no result: resume
    write_result(run_dir, _record_for(run_key, "failed"))
    assert read_folder(run_dir, run_key).kind == "retry" and done() is None  # failed: retry
    write_result(run_dir, _record_for(run_key))
    assert done().test_acc == 0.5  # type: ignore[union-attr]

    write_result(run_dir, _record_for("0123456789abcdef"))
    assert read_folder(run_dir, run_key).kind == "other"
    with pytest.raises(RunDirConflict, match="force=true"):
        done()
    assert done(force=True) is None
    assert not (run_dir / "result.json").exists()


def test_summary_line_counts_diverged_as_failed() -> None:
    entries = [{"status": s} for s in ("ok", "ok", "diverged", "failed", "skipped")]
    assert summary_line(entries) == "2 ok, 2 failed (1 diverged), 1 skipped"


# ----------------------------------------------------------------------------------------------- sweeps (CLI)
@pytest.mark.slow
def test_failures_are_recorded_sweep_goes_on_and_rerun_skips_done(tmp_path: Path, tiny_overrides: list[str]) -> None:
    """One run ok, one diverges (huge lr), two raise inside training; two configs never share a directory;
    a rerun skips the finished run without training and retries the failed ones."""
    sweep = ["-m", *tiny_overrides, f"head._target_={HEAD_CLASS},{EXPLODING_HEAD}", "trainer.lr=0.05,1e6"]
    first = run_cli(sweep, cwd=tmp_path)
    assert first.returncode != 0, first.stderr
    assert "1 ok, 3 failed (1 diverged), 0 skipped" in first.stdout
    dirs = run_dirs(tmp_path / "results")
    assert len(dirs) == 4  # every config got its own directory
    records = {d: read_result(d) for d in dirs}
    statuses = sorted(record.status for record in records.values())
    assert statuses == ["diverged", "failed", "failed", "ok"]
    assert all("exploding head" in r.error for r in records.values() if r.status == "failed")
    assert all("non-finite" in r.error for r in records.values() if r.status == "diverged")

    ok_dir = next(d for d in dirs if read_result(d).status == "ok")
    stamps = {name: (ok_dir / name).stat().st_mtime_ns for name in ("result.json", "checkpoint.pt", "epochs.csv")}
    began = time.perf_counter()
    second = run_cli(sweep, cwd=tmp_path)
    assert second.returncode != 0
    assert "1 ok" not in second.stdout and "0 ok, 3 failed (1 diverged), 1 skipped" in second.stdout
    assert {name: (ok_dir / name).stat().st_mtime_ns for name in stamps} == stamps  # nothing retrained
    assert f"skipped: {ok_dir} is done" in second.stderr + second.stdout
    print(f"rerun of a 4-job sweep (1 skipped, 3 retried): {time.perf_counter() - began:.1f}s")


@pytest.mark.slow
def test_rerun_of_finished_sweep_trains_nothing_and_is_fast(tmp_path: Path, tiny_overrides: list[str]) -> None:
    sweep = ["-m", *tiny_overrides, "head=gap,gmp"]
    assert run_cli(sweep, cwd=tmp_path).returncode == 0
    dirs = run_dirs(tmp_path / "results")
    stamps = {d: (d / "checkpoint.pt").stat().st_mtime_ns for d in dirs}
    began = time.perf_counter()
    again = run_cli(sweep, cwd=tmp_path)
    seconds = time.perf_counter() - began
    assert again.returncode == 0, again.stderr
    assert "0 ok, 0 failed, 2 skipped" in again.stdout
    log = again.stdout + again.stderr
    assert "epoch 1/" not in log and log.count("skipped: ") == 2
    assert {d: (d / "checkpoint.pt").stat().st_mtime_ns for d in dirs} == stamps
    print(f"rerun of a finished 2-job sweep: {seconds:.1f}s")  # fast because nothing imports torch to skip


def test_skipping_does_not_import_torch() -> None:
    """Importing torch takes seconds; the CLI and the skip check must not need it."""
    modules = (
        "poolbench.cli, poolbench.sweep.rundir, poolbench.sweep.ledger, poolbench.sweep.job, poolbench.config.validate"
    )
    code = f"import sys, {modules}; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------------------------- resume
RESUME = [
    "dataset=synthetic",
    "dataset.train_size=3000",
    "dataset.test_size=300",
    "dataset.image_size=16",
    "backbone.widths=[16,32]",
    "trainer.epochs=3",
    "trainer.batch_size=32",
    "trainer.threads=1",
    "trainer.deterministic=true",
    "progress=false",
]


def _start(run_dir: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "poolbench", *RESUME, f"hydra.run.dir={run_dir}", f"data_dir={cwd / 'data'}"],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_epoch(run_dir: Path, process: subprocess.Popen[str], epoch: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "epochs.csv").is_file() and len(read_epochs(run_dir)) >= epoch:
            return
        assert process.poll() is None, f"run ended before epoch {epoch}: {process.communicate()[0][-2000:]}"
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"no epoch {epoch} within {timeout}s")


def _comparable(record: RunRecord) -> dict:
    return {k: v for k, v in record.to_json().items() if k not in TIMING_FIELDS}


def _comparable_epochs(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_FIELDS} for row in read_epochs(run_dir)]


@pytest.mark.slow
def test_sigkill_and_sigterm_then_rerun_equals_uninterrupted_run(tmp_path: Path) -> None:
    straight_dir, cut_dir = tmp_path / "straight", tmp_path / "cut"
    straight = _start(straight_dir, tmp_path)  # runs alongside the interrupted one (1 thread each)

    killed = _start(cut_dir, tmp_path)
    _wait_for_epoch(cut_dir, killed, 1)
    killed.send_signal(signal.SIGKILL)  # mid-epoch 2: no handler runs, only the epoch-1 checkpoint survives
    killed.wait(timeout=30)
    assert not (cut_dir / "result.json").exists()

    terminated = _start(cut_dir, tmp_path)  # resumes at epoch 1, then is preempted during epoch 3
    _wait_for_epoch(cut_dir, terminated, 2)
    terminated.send_signal(signal.SIGTERM)
    output = terminated.communicate(timeout=60)[0]
    assert "resuming from" in output and "at epoch 1/3" in output, output[-3000:]
    assert terminated.returncode == 128 + signal.SIGTERM, output[-3000:]
    interrupted = read_result(cut_dir)
    assert interrupted.status == "failed" and "SIGTERM" in interrupted.error
    assert (cut_dir / "checkpoint.pt").is_file()

    finished = run_cli([*RESUME, f"hydra.run.dir={cut_dir}", f"data_dir={tmp_path / 'data'}"], cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "at epoch 2/3" in finished.stdout + finished.stderr
    assert straight.wait(timeout=180) == 0, straight.communicate()[0][-3000:]

    resumed, reference = read_result(cut_dir), read_result(straight_dir)
    assert resumed.status == reference.status == "ok" and resumed.epochs_completed == 3
    a, b = _comparable(resumed), _comparable(reference)
    assert a == b, {key: (a.get(key), b.get(key)) for key in set(a) | set(b) if a.get(key) != b.get(key)}
    assert _comparable_epochs(cut_dir) == _comparable_epochs(straight_dir)
    assert len(_comparable_epochs(cut_dir)) == 3


# ----------------------------------------------------------------------------------------------- launchers
@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_tiny_sweep_completes_with_parallel_launchers(tmp_path: Path, launcher: str) -> None:
    overrides = [o for o in TINY if not o.startswith("trainer.threads")]  # threads come from cores / jobs
    sweep = [
        "-m",
        f"launcher={launcher}",
        "jobs=2",
        *overrides,
        f"paths.results_dir={tmp_path / 'results'}",
        f"data_dir={tmp_path / 'data'}",
        f"head._target_={HEAD_CLASS},{EXPLODING_HEAD}",
    ]
    result = run_cli(sweep, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 ok, 1 failed, 0 skipped" in result.stdout
    statuses = sorted(read_result(d).status for d in run_dirs(tmp_path / "results"))
    assert statuses == ["failed", "ok"]


def test_rng_states_survive_a_weights_only_checkpoint(tmp_path: Path) -> None:
    import random

    import numpy as np
    import torch

    from poolbench.training.rng import capture_rng, restore_rng

    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    torch.save(capture_rng(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert [random.random() for _ in range(3)] == expected[2]


@pytest.mark.parametrize("checkpointed", [False, True])
def test_an_interrupted_run_says_whether_a_rerun_resumes(tmp_path: Path, checkpointed: bool, caplog) -> None:
    """SIGTERM in epoch 1 leaves no checkpoint: the message says the rerun starts again (not "resume from the
    last checkpoint"), logged as the run's (poolbench.run), not the sweep's."""
    from poolbench.errors import Abort
    from poolbench.sweep.job import RunInterrupted, sweep_job

    if checkpointed:
        (tmp_path / "checkpoint.pt").write_bytes(b"epoch 1")
    with pytest.raises(Abort) as stop, sweep_job(tmp_path):
        raise RunInterrupted(signal.SIGTERM)
    message = str(stop.value.error)
    assert stop.value.code == 128 + signal.SIGTERM and message.startswith("interrupted by SIGTERM")
    says = "resume from the last epoch-end checkpoint" if checkpointed else "before any checkpoint was written"
    assert says in message and ("start the run again" in message) != checkpointed
    assert [record.name for record in caplog.records if "interrupted" in record.getMessage()] == ["poolbench.run"]
