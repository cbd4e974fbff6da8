"""One writer per run folder (poolbench/sweep/runlock.py): the lock's rules, and real processes beside each other.

The live-process tests start the first command in a subprocess, wait (by polling the run folder's files, never a
clock) until it trains, stop it with SIGSTOP so that it writes nothing meanwhile, and start the second command:
that one must exit 2 with one line naming the first process and leave every file as it was."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolbench.sweep import lock as sweeplock
from poolbench.sweep import runlock
from tests.conftest import TINY, cli_env, run_cli
from tests.test_bad_input import snapshot


def holder(pid: int, host: str | None = None, job: str = "") -> sweeplock.Holder:
    return sweeplock.Holder(host or socket.gethostname(), pid, "", "then", "poolbench head=gap", job)


def write_lock(run_dir: Path, who: sweeplock.Holder) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    runlock.lock_path(run_dir).write_text(json.dumps(who.__dict__))


def dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(finished.stdout)


def test_the_lock_is_taken_once_per_process_and_let_go_without_a_trace(tmp_path: Path) -> None:
    run_dir = tmp_path / "results" / "x" / "seed0"
    runlock.acquire(run_dir)
    runlock.acquire(run_dir)  # the same process again (the preflight, then the task function): fine
    held = json.loads(runlock.lock_path(run_dir).read_text())
    assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
    runlock.release(run_dir)
    assert not (tmp_path / "results").exists()  # the folders made only to hold the lock are gone too


def test_a_live_holder_refuses_with_one_line_naming_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "seed0"
    write_lock(run_dir, holder(os.getppid()))  # alive: the process that started this test
    before = snapshot(tmp_path)
    with pytest.raises(runlock.RunLocked) as refused:
        runlock.acquire(run_dir)
    message = str(refused.value)
    assert f"pid {os.getppid()} on {socket.gethostname()}" in message and "poolbench head=gap" in message
    assert "writes nothing there" in message and str(runlock.lock_path(run_dir)) in message
    assert "\n" not in message and refused.value.exit_code == 2
    assert snapshot(tmp_path) == before
    runlock.release(run_dir)  # not its lock: it stays
    assert runlock.lock_path(run_dir).exists()


def test_a_dead_holder_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_dir = tmp_path / "seed0"
    gone = dead_pid()
    write_lock(run_dir, holder(gone))
    (run_dir / "epochs.csv").write_text("epoch\n1\n")  # it had started: the takeover is worth a warning
    runlock.acquire(run_dir)
    assert json.loads(runlock.lock_path(run_dir).read_text())["pid"] == os.getpid()
    assert f"pid {gone}" in caplog.text and "process is gone" in caplog.text
    runlock.release(run_dir)
    assert not runlock.lock_path(run_dir).exists() and run_dir.is_dir()  # the folder existed before: kept


def test_the_lock_of_a_run_a_stopped_sweep_never_started_is_taken_over_quietly(tmp_path, caplog) -> None:
    run_dir = tmp_path / "seed1"
    write_lock(run_dir, holder(dead_pid()))
    runlock.acquire(run_dir)
    assert "process is gone" not in caplog.text
    runlock.release(run_dir)


def test_a_sweeps_worker_takes_over_the_lock_of_its_launching_process(tmp_path, monkeypatch) -> None:
    run_dir = tmp_path / "seed0"
    launcher = holder(os.getppid())
    write_lock(run_dir, launcher)
    monkeypatch.setenv(runlock.OWNER_ENV, f"{launcher.host}:{launcher.pid}")
    runlock.acquire(run_dir)
    assert json.loads(runlock.lock_path(run_dir).read_text())["pid"] == os.getpid()
    runlock.release(run_dir)


def test_another_hosts_holder_is_stale_only_once_slurm_says_its_job_ended(tmp_path, monkeypatch) -> None:
    from poolbench.sweep import slurm_state
    from poolbench.sweep.slurm_state import JobState

    run_dir = tmp_path / "seed0"
    write_lock(run_dir, holder(1, host="node7", job="41_2"))
    states = {"41_2": JobState("41_2", "RUNNING")}
    monkeypatch.setattr(slurm_state, "query_states", lambda ids: {i: states[i] for i in ids if i in states})
    with pytest.raises(runlock.RunLocked, match=r"pid 1 on node7, SLURM job 41_2"):
        runlock.acquire(run_dir)
    states["41_2"] = JobState("41_2", "CANCELLED")
    runlock.acquire(run_dir)
    assert json.loads(runlock.lock_path(run_dir).read_text())["host"] == socket.gethostname()
    runlock.release(run_dir)
    write_lock(run_dir, holder(1, host="node7"))  # no job to ask about: cannot be checked, so alive
    with pytest.raises(runlock.RunLocked, match="node7"):
        runlock.acquire(run_dir)


# ----------------------------------------------------------------------------------------------- live processes
LONG = [*(o for o in TINY if not o.startswith("trainer.epochs=")), "trainer.epochs=100000"]  # the test stops it


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "poolbench", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_training(process: subprocess.Popen[str], results: Path) -> Path:
    """The run folder, once the process holds its lock and has written its first epoch."""
    while process.poll() is None:
        for curve in results.rglob("epochs.csv"):
            if runlock.lock_path(curve.parent).exists():
                return curve.parent
        time.sleep(0.05)  # a poll interval, not a deadline
    raise AssertionError(f"the first command ended early: {process.stderr.read() if process.stderr else ''}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "first, second",
    [("-m", ""), ("", ""), ("", "-m")],
    ids=["single_beside_a_sweep", "two_single_runs", "sweep_beside_a_single_run"],
)
def test_a_second_writer_exits_2_with_one_line_and_writes_nothing(first: str, second: str, tmp_path: Path) -> None:
    args = [*LONG, f"paths.results_dir={tmp_path / 'results'}", f"data_dir={tmp_path / 'data'}"]
    writer = start([first, *args] if first else args, tmp_path)
    try:
        run_dir = wait_until_training(writer, tmp_path / "results")
        writer.send_signal(signal.SIGSTOP)  # it writes nothing while the second command runs
        before = snapshot(tmp_path / "results")
        other = run_cli([second, *args] if second else args, cwd=tmp_path, timeout=120)
        after = snapshot(tmp_path / "results")
    finally:
        writer.kill()
        writer.wait()
    lines = other.stderr.strip().splitlines()
    assert other.returncode == 2, other.stderr[-3000:]
    assert len(lines) == 1, other.stderr
    assert f"{run_dir} is being written by another poolbench process (pid {writer.pid} on" in lines[0]
    assert ("python -m poolbench -m dataset=synthetic" in lines[0]) == (first == "-m")  # the holder's command
    assert after == before
    assert "resuming" not in other.stdout + other.stderr
