"""poolbench's launcher plugin without a cluster: SLURM's answers (real formats), waiting for jobs that die, the
sweep folder lock, submitit's requeue exit, and (through submitit's local executor) skipping before submission.
The same code against a real SLURM: tests/test_slurm.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from poolbench.errors import Abort, Interrupted
from poolbench.record import read_result
from poolbench.sweep import lock as sweeplock
from poolbench.sweep.launch import PlannedRun, WaitLimits, collect
from poolbench.sweep.ledger import SWEEP_ID_ENV, read_ledger
from poolbench.sweep.slurm_state import JobState, expand_task_ids, parse_sacct, parse_scontrol
from tests.conftest import TINY, cli_env, compose_settings, run_cli

# `scontrol -o show job 9` on SLURM 22.05 (trimmed): a cancelled task, a running one, a pending remainder.
SCONTROL = (
    "JobId=10 ArrayJobId=9 ArrayTaskId=0 JobName=poolbench UserId=root(0) JobState=CANCELLED Reason=None "
    "Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:15 RunTime=00:00:12\n"
    "JobId=9 ArrayJobId=9 ArrayTaskId=1 JobName=poolbench UserId=root(0) JobState=RUNNING Reason=None "
    "Restarts=0 ExitCode=0:0\n"
    "JobId=11 ArrayJobId=9 ArrayTaskId=2-4%2 JobName=poolbench JobState=PENDING Reason=JobArrayTaskLimit "
    "ExitCode=0:0\n"
)
SACCT = "9_0|CANCELLED by 0|0:15\n9_1|OUT_OF_MEMORY|0:125\n9_1.batch|OUT_OF_MEMORY|0:125\n9_[2-4%2]|PENDING|0:0\n"


def test_scontrol_lines_give_one_state_per_array_task() -> None:
    states = parse_scontrol(SCONTROL)
    assert {k: v.state for k, v in states.items()} == {
        "9_0": "CANCELLED",
        "9_1": "RUNNING",
        "9_2": "PENDING",
        "9_3": "PENDING",
        "9_4": "PENDING",
    }
    assert not states["9_0"].waiting and states["9_1"].waiting and states["9_3"].waiting
    assert states["9_0"].exit_code == "0:15"
    assert expand_task_ids("0-2,5%4") == ["0", "1", "2", "5"]


def test_sacct_lines_skip_steps_and_ranges() -> None:
    states = parse_sacct(SACCT)
    assert {k: v.state for k, v in states.items()} == {"9_0": "CANCELLED", "9_1": "OUT_OF_MEMORY"}
    assert "out of memory" in states["9_1"].describe() and "mem_gb" in states["9_1"].describe()


# ----------------------------------------------------------------------------------------------- collect
class FakePaths:
    def __init__(self, folder: Path, job_id: str) -> None:
        self.result_pickle = folder / f"{job_id}_result.pkl"


class FakeJob:
    """A submitit job as ``collect`` sees it: an id, a result file, and ``results()``."""

    def __init__(self, folder: Path, job_id: str, result: Any = None) -> None:
        self.job_id = job_id
        self.paths = FakePaths(folder, job_id)
        self.result = result
        if result is not None:
            self.paths.result_pickle.write_text("done")

    def results(self) -> list[Any]:
        return [self.result]


def _planned(tmp_path: Path, num: int, head: str) -> PlannedRun:
    run_dir = tmp_path / "sweep" / head
    settings = compose_settings([*TINY, f"head={head}"], output_dir=run_dir)
    return PlannedRun(num, [f"head={head}"], run_dir, settings)


def test_collect_records_dead_and_lost_jobs_and_waits_for_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SWEEP_ID_ENV, "test-sweep")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    finished = _planned(tmp_path, 0, "gap")
    cancelled = _planned(tmp_path, 1, "gmp")
    lost = _planned(tmp_path, 2, "gem")
    cancelled.run_dir.mkdir(parents=True)
    (cancelled.run_dir / "epochs.csv").write_text("epoch,lr\n0,0.1\n")
    (cancelled.run_dir / "checkpoint.pt").write_bytes(b"x")
    jobs = [
        (finished, FakeJob(tmp_path, "5_0", result=0.75)),
        (cancelled, FakeJob(tmp_path, "5_1")),
        (lost, FakeJob(tmp_path, "5_2")),
    ]
    polls: list[int] = []

    def probe(pending: Any) -> dict[str, JobState]:
        polls.append(len(pending))
        states = {"5_1": JobState("5_1", "CANCELLED", "None", "0:15")}
        if len(polls) == 1:  # the lost job is seen once, then SLURM forgets it (no accounting)
            states["5_2"] = JobState("5_2", "RUNNING")
        return states

    returns = collect(config, jobs, probe, WaitLimits(max_wait_s=60, poll_s=0.01, result_grace_s=0, lost_after_s=0.05))

    assert [r.return_value for r in returns] == [0.75, None, None]
    record = read_result(cancelled.run_dir)
    assert record.status == "failed" and record.epochs_completed == 1
    assert record.checkpoint == str(cancelled.run_dir / "checkpoint.pt")
    assert "CANCELLED" in (record.error or "") and "1/2 epochs completed" in (record.error or "")
    ledger = {Path(e["run_dir"]).name: e for e in read_ledger(tmp_path / "sweep", "test-sweep")}
    assert ledger["gmp"]["status"] == "failed" and "CANCELLED" in ledger["gmp"]["error"]
    assert ledger["gem"]["status"] == "failed" and "no longer knows" in ledger["gem"]["error"]
    assert "last seen RUNNING" in ledger["gem"]["error"]
    assert read_result(lost.run_dir).epochs_completed == 0


def test_collect_gives_up_after_max_wait_and_says_the_jobs_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SWEEP_ID_ENV, "test-sweep")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    planned = _planned(tmp_path, 0, "gap")

    def probe(pending: Any) -> dict[str, JobState]:
        return {"7": JobState("7", "PENDING", "Priority")}

    returns = collect(config, [(planned, FakeJob(tmp_path, "7"))], probe, WaitLimits(max_wait_s=0.05, poll_s=0.01))
    assert [r.return_value for r in returns] == [None]
    (entry,) = read_ledger(tmp_path / "sweep", "test-sweep")
    assert entry["status"] == "failed" and "still PENDING" in entry["error"] and "scancel 7" in entry["error"]


# ----------------------------------------------------------------------------------------------- lock
def test_a_second_sweep_on_the_same_folder_is_refused_naming_the_first(tmp_path: Path) -> None:
    path = sweeplock.acquire(tmp_path, "first")
    holder = json.loads(path.read_text())
    assert holder["pid"] == os.getpid() and holder["sweep_id"] == "first"
    with pytest.raises(sweeplock.SweepLocked, match=r"sweep first \(pid \d+ on .*\).*name=OTHER_NAME"):
        sweeplock.acquire(tmp_path, "second")
    sweeplock.release(tmp_path, "second")  # not its lock: stays
    assert path.exists()
    sweeplock.release(tmp_path, "first")
    assert not path.exists()


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = sweeplock.Holder(sweeplock.socket.gethostname(), dead.pid, "crashed", "then", "poolbench -m")
    sweeplock.lock_path(tmp_path).write_text(json.dumps(stale.__dict__))
    sweeplock.acquire(tmp_path, "next")
    assert json.loads(sweeplock.lock_path(tmp_path).read_text())["sweep_id"] == "next"


def test_a_lock_held_on_another_host_is_not_taken_over(tmp_path: Path) -> None:
    other = sweeplock.Holder("another-host", 1, "remote", "then", "poolbench -m")
    sweeplock.lock_path(tmp_path).write_text(json.dumps(other.__dict__))
    with pytest.raises(sweeplock.SweepLocked, match="another-host.*delete"):
        sweeplock.acquire(tmp_path, "next")


# ----------------------------------------------------------------------------------------------- requeue
def test_submitits_requeue_exit_is_recorded_as_requeued_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """submitit's USR2 handler requeues and calls sys.exit(-1): the job ends as Interrupted, not as a failure."""
    from poolbench.sweep import job as job_module

    notes: list[tuple[str, str | None]] = []
    monkeypatch.setattr(job_module, "note_outcome", lambda run_dir, status, error: notes.append((status, error)))

    def submitit_handler(signum: int, frame: Any) -> None:
        sys.exit(-1)  # what submitit does after `scontrol requeue`

    previous = signal.signal(signal.SIGUSR2, submitit_handler)
    try:
        with (
            pytest.raises(Abort) as stopped,
            job_module.requeue_as_exception(signal.SIGUSR2),
            job_module.sweep_job(tmp_path),
        ):
            os.kill(os.getpid(), signal.SIGUSR2)
            signal.pause()  # not reached: the handler raises first
        assert signal.getsignal(signal.SIGUSR2) is submitit_handler
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert isinstance(stopped.value.error, Interrupted)
    assert stopped.value.error.exit_code == 128 + signal.SIGUSR2
    assert [status for status, _ in notes] == ["requeued"]
    assert "resumes from the checkpoint" in (notes[0][1] or "")


def test_a_refused_requeue_stays_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from poolbench.sweep import job as job_module

    notes: list[str] = []
    monkeypatch.setattr(job_module, "note_outcome", lambda run_dir, status, error: notes.append(status))
    monkeypatch.setattr(job_module.hydra_adapter, "is_multirun", lambda: False)

    class UncompletedJobError(RuntimeError):
        pass

    def submitit_handler(signum: int, frame: Any) -> None:
        raise UncompletedJobError("Job not requeued because: timed-out too many times.")

    previous = signal.signal(signal.SIGUSR2, submitit_handler)
    term_before = signal.getsignal(signal.SIGTERM)
    try:
        with (
            pytest.raises(UncompletedJobError),
            job_module.requeue_as_exception(signal.SIGUSR2),
            job_module.sweep_job(tmp_path),
        ):
            os.kill(os.getpid(), signal.SIGUSR2)
            signal.pause()
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert notes == ["failed"]
    assert signal.getsignal(signal.SIGTERM) == term_before


# ----------------------------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_local_launcher_skips_finished_runs_before_submission_and_honours_the_lock(tmp_path: Path) -> None:
    sweep = [
        "-m",
        "launcher=submitit_local",
        "jobs=2",
        *[o for o in TINY if not o.startswith("trainer.threads")],
        f"paths.results_dir={tmp_path / 'results'}",
        f"data_dir={tmp_path / 'data'}",
        "head=gap,gmp",
    ]
    first = run_cli(sweep, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 ok, 0 failed, 0 skipped" in first.stdout
    submitit_dir = tmp_path / "results" / "default" / ".submitit"
    submitted = sorted(p.name for p in submitit_dir.iterdir())

    again = run_cli(sweep, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 ok, 0 failed, 2 skipped" in again.stdout
    assert "skipped 2 finished runs before submission" in again.stdout + again.stderr
    assert sorted(p.name for p in submitit_dir.iterdir()) == submitted  # no new job

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = sweeplock.Holder(sweeplock.socket.gethostname(), holder.pid, "other-sweep", "now", "poolbench -m x")
        sweeplock.lock_path(tmp_path / "results" / "default").write_text(json.dumps(lock.__dict__))
        locked = run_cli(sweep, cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert locked.returncode == 1
    assert f"sweep other-sweep (pid {holder.pid}" in locked.stderr
    assert "Traceback" not in locked.stderr


@pytest.mark.slow
def test_slurm_launcher_without_slurm_says_what_it_needs(tmp_path: Path) -> None:
    sweep = [
        "-m",
        "launcher=submitit_slurm",
        *TINY,
        f"paths.results_dir={tmp_path / 'results'}",
        f"data_dir={tmp_path / 'data'}",
        "head=gap",
    ]
    env = cli_env(PATH=str(tmp_path / "no-slurm-here"))
    result = run_cli(sweep, cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "needs SLURM's commands (sbatch, srun, scontrol, squeue)" in result.stderr
    assert "launcher=submitit_local" in result.stderr and "Traceback" not in result.stderr
    assert not sweeplock.lock_path(tmp_path / "results" / "default").exists()
