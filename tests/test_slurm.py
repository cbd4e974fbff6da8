"""``launcher=submitit_slurm`` against a real single-node SLURM (``scripts/slurm-local up``; ``make test-slurm``).

Four scenarios, each bounded in time: a small sweep (and its re-run, which submits nothing); a cancelled job;
a job that times out, is requeued by submitit and finishes; a job preempted by a higher-priority partition and
requeued by SLURM. Each checks the records, the summary and the exit code; an interrupted run, once finished,
must equal an uninterrupted run of the same config (the ``reference`` fixture), epoch by epoch.

SLURM holds a requeued job for 120 s (BeginTime) before it may run again; the tests release it at once with
``scontrol update StartTime=now`` to stay short. Without a cluster these tests skip, unless
``POOLBENCH_REQUIRE_SLURM=1`` (``make test-slurm``) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from poolbench.record import read_result
from tests.conftest import TINY as CONFTEST_TINY
from tests.conftest import cli_env, run_cli
from tests.test_sweeps import _comparable, _comparable_epochs

WAIT_S = 240  # the longest any single wait in these tests may take


def _cluster_problem() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "SLURM's commands are not installed (scripts/slurm-local up)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as error:
        return f"scontrol ping failed: {error}"
    return None if ping.returncode == 0 and "UP" in ping.stdout else "no slurmctld answers (scripts/slurm-local up)"


PROBLEM = _cluster_problem()
if PROBLEM and os.environ.get("POOLBENCH_REQUIRE_SLURM", "") not in ("", "0"):
    raise RuntimeError(f"POOLBENCH_REQUIRE_SLURM is set but {PROBLEM}")
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")]

# ~1 s per run: the small sweep (threads come from the job's allocation, not trainer.threads).
TINY = [override for override in CONFTEST_TINY if not override.startswith(("trainer.threads", "report_on_sweep_end"))]
# Long enough to be stopped in the middle on a fast idle core too (about a minute there: the time limit's USR2
# comes about 20 s into the job); the interrupted scenarios use it.
LONG = [
    "dataset=synthetic",
    "dataset.train_size=8000",
    "dataset.test_size=200",
    "dataset.image_size=12",
    "backbone.widths=[8,16]",
    "trainer.epochs=150",
    "trainer.batch_size=32",
    "progress=false",
]
# One core, little memory, SLURM asked every second; the launcher gives up after 9 minutes at most.
SLURM = [
    "launcher=submitit_slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.gpus_per_task=0",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.poll_s=1",
    "hydra.launcher.result_grace_s=10",
    "hydra.launcher.lost_after_s=60",
    "hydra.launcher.max_wait_h=0.15",
    "trainer.threads=1",
]


# ----------------------------------------------------------------------------------------------- helpers
def wait_until(what: str, check: Callable[[], bool], limit: float = WAIT_S, every: float = 0.5) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {limit:.0f}s waiting for {what}")
        time.sleep(every)


def sweep_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["-m", *SLURM, f"paths.results_dir={tmp_path / 'results'}", f"data_dir={tmp_path / 'data'}", *extra]


class Sweep:
    """A ``poolbench -m`` process in the background, its output in a file; the SLURM jobs it submitted."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.log = cwd / f"sweep-{time.monotonic_ns()}.log"
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in finish()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "poolbench", *args],
            cwd=cwd,
            env=cli_env(),
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def output(self) -> str:
        return self.log.read_text()

    def job_ids(self) -> list[str]:
        found = re.search(r"submitted: (.+)", self.output())
        return [j.strip() for j in found.group(1).split(",")] if found else []

    def finish(self, limit: float = WAIT_S) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout=limit)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.handle.close()
        return code, self.output()


@pytest.fixture
def sweeps() -> Iterator[list[Sweep]]:
    """Sweeps started by a test; whatever they left in SLURM is cancelled afterwards."""
    started: list[Sweep] = []
    yield started
    for sweep in started:
        if sweep.process.poll() is None:
            sweep.process.kill()
            sweep.process.wait()
        ids = sweep.job_ids()
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def start(sweeps: list[Sweep], args: list[str], cwd: Path) -> Sweep:
    sweep = Sweep(args, cwd)
    sweeps.append(sweep)
    return sweep


def job_field(job_id: str, key: str) -> str:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30)
    found = re.search(rf"\b{key}=(\S*)", out.stdout)
    return found.group(1) if found else ""


def gap_epochs_done(tmp_path: Path) -> int:
    """Rows in the gap run's epochs.csv (0 before the run directory exists)."""
    paths = list((tmp_path / "results" / "default" / "synthetic" / "small_cnn" / "gap").glob("seed0*/epochs.csv"))
    return max(0, len(paths[0].read_text().splitlines()) - 1) if paths else 0


def release_when_requeued(job_id: str, time_limit_min: int | None = None) -> None:
    """Wait for SLURM to requeue the job (pending again, held until its BeginTime), then let it start now.

    An update made while the job is still being requeued is overwritten by the requeue: retry until SLURM no
    longer holds the job for its BeginTime."""
    wait_until(
        f"job {job_id} to be requeued and pending",
        lambda: int(job_field(job_id, "Restarts") or 0) >= 1 and job_field(job_id, "JobState") == "PENDING",
    )
    update = ["scontrol", "update", f"JobId={job_id}", "StartTime=now"]
    if time_limit_min is not None:
        update.append(f"TimeLimit={time_limit_min}")

    def released() -> bool:
        if job_field(job_id, "JobState") == "PENDING" and job_field(job_id, "Reason") == "BeginTime":
            subprocess.run(update, capture_output=True, timeout=30)
            return False
        return True

    wait_until(f"job {job_id} to be released from its BeginTime", released, limit=60, every=2)


def gap_run_dir(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "results" / "default" / "synthetic" / "small_cnn" / "gap").glob("seed0*")
    return found


def assert_equals_reference(run_dir: Path, reference: Path) -> None:
    resumed, straight = read_result(run_dir), read_result(reference)
    assert resumed.status == straight.status == "ok"
    code_version = {"git_sha"}  # the checkout may gain a commit between the reference and the scenario
    assert {k: v for k, v in _comparable(resumed).items() if k not in code_version} == {
        k: v for k, v in _comparable(straight).items() if k not in code_version
    }
    assert _comparable_epochs(run_dir) == _comparable_epochs(reference)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LONG with head=gap, uninterrupted, outside SLURM: what every interrupted run must end equal to."""
    root = tmp_path_factory.mktemp("reference")
    run_dir = root / "run"
    done = run_cli([*LONG, "trainer.threads=1", f"hydra.run.dir={run_dir}", f"data_dir={root / 'data'}"], cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


# ----------------------------------------------------------------------------------------------- scenarios
def test_small_sweep_then_a_rerun_that_submits_nothing(tmp_path: Path, sweeps: list[Sweep]) -> None:
    args = sweep_args(tmp_path, *TINY, "head=gap,gmp,gem")
    code, out = start(sweeps, args, tmp_path).finish()
    assert code == 0, out[-3000:]
    assert "3 ok, 0 failed, 0 skipped" in out
    assert re.search(r"submitted: \d+_0, \d+_1, \d+_2", out)  # one array, one task per run
    sweep_dir = tmp_path / "results" / "default"
    assert sorted(read_result(d).status for d in sweep_dir.rglob("seed0*")) == ["ok", "ok", "ok"]
    assert (sweep_dir / "report" / "report.md").is_file()
    submitted = sorted(p.name for p in (sweep_dir / ".submitit").iterdir())

    began = time.monotonic()
    code, out = start(sweeps, args, tmp_path).finish(limit=120)
    print(f"re-run of the finished 3-run sweep: {time.monotonic() - began:.1f}s")
    assert code == 0, out[-3000:]
    assert "0 ok, 0 failed, 3 skipped" in out
    assert "skipped 3 finished runs before submission" in out and "submitted:" not in out
    assert sorted(p.name for p in (sweep_dir / ".submitit").iterdir()) == submitted
    assert not (sweep_dir / ".poolbench_sweep.lock").exists()


def test_cancelled_job_is_recorded_failed_and_the_sweep_ends(
    tmp_path: Path, sweeps: list[Sweep], reference: Path
) -> None:
    args = sweep_args(tmp_path, *LONG, "head=gap,gmp")
    sweep = start(sweeps, args, tmp_path)
    wait_until("two submitted jobs", lambda: len(sweep.job_ids()) == 2)
    wait_until("the gap run's second epoch", lambda: gap_epochs_done(tmp_path) >= 2)
    subprocess.run(["scancel", sweep.job_ids()[0]], check=True, timeout=30)

    code, out = sweep.finish()
    assert code == 1, out[-3000:]
    assert "1 ok, 1 failed, 0 skipped" in out
    assert re.search(r"failed: .*/gap/seed0\S*: SLURM job \d+_0 CANCELLED", out)
    assert "Traceback" not in out and "UncompletedJobError" not in out
    record = read_result(gap_run_dir(tmp_path))
    assert record.status == "failed" and "CANCELLED" in (record.error or "")
    assert record.epochs_completed >= 2 and record.checkpoint and Path(record.checkpoint).is_file()
    sweep_dir = tmp_path / "results" / "default"
    assert (sweep_dir / "report" / "report.md").is_file()
    assert not (sweep_dir / ".poolbench_sweeps").exists() and not (sweep_dir / ".poolbench_sweep.lock").exists()

    code, out = start(sweeps, args, tmp_path).finish()  # the rerun resumes the cancelled run
    assert code == 0, out[-3000:]
    assert "1 ok, 0 failed, 1 skipped" in out
    assert f"resuming from {gap_run_dir(tmp_path)}/checkpoint.pt at epoch" in _job_logs(tmp_path)
    assert_equals_reference(gap_run_dir(tmp_path), reference)


def test_timed_out_job_is_requeued_by_submitit_and_finishes(
    tmp_path: Path, sweeps: list[Sweep], reference: Path
) -> None:
    # USR2 comes 40 s before a 1-minute limit: about 20 s into the job, mid-training. The requeued attempt gets
    # a longer limit (scontrol update), so it finishes instead of timing out again.
    args = sweep_args(tmp_path, *LONG, "head=gap", "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=40")
    sweep = start(sweeps, args, tmp_path)
    wait_until("the submitted job", lambda: len(sweep.job_ids()) == 1)
    (job_id,) = sweep.job_ids()
    release_when_requeued(job_id, time_limit_min=10)

    code, out = sweep.finish()
    assert code == 0, out[-3000:]
    assert "1 ok, 0 failed, 0 skipped" in out
    logs = _job_logs(tmp_path)
    assert "Caught signal SIGUSR2" in logs and f"Requeued job {job_id}" in logs
    assert "requeued by the scheduler" in logs
    assert re.search(r"resuming from \S+checkpoint.pt at epoch [1-9]\d*/150", logs)
    assert_equals_reference(gap_run_dir(tmp_path), reference)


def test_preempted_job_is_requeued_by_slurm_and_finishes(tmp_path: Path, sweeps: list[Sweep], reference: Path) -> None:
    sweep = start(sweeps, sweep_args(tmp_path, *LONG, "head=gap"), tmp_path)
    wait_until("the submitted job", lambda: len(sweep.job_ids()) == 1)
    (job_id,) = sweep.job_ids()
    wait_until("the run's second epoch", lambda: gap_epochs_done(tmp_path) >= 2)
    cores = os.cpu_count() or 1
    preempting = ["sbatch", "--parsable", "-p", "urgent", "-c", str(cores), "--mem=100M", "-t", "2"]
    output = ["-o", str(tmp_path / "urgent.out"), "--wrap", "sleep 3"]
    urgent = subprocess.run(
        [*preempting, *output], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    try:
        release_when_requeued(job_id)
        code, out = sweep.finish()
    finally:
        subprocess.run(["scancel", urgent], capture_output=True, timeout=30)
    assert code == 0, out[-3000:]
    assert "1 ok, 0 failed, 0 skipped" in out
    logs = _job_logs(tmp_path)
    assert "interrupted by SIGTERM" in logs
    assert re.search(r"resuming from \S+checkpoint.pt at epoch [1-9]\d*/150", logs)
    assert_equals_reference(gap_run_dir(tmp_path), reference)


def _job_logs(tmp_path: Path) -> str:
    logs = sorted((tmp_path / "results" / "default" / ".submitit").rglob("*.out"))
    return "\n".join(path.read_text(errors="replace") for path in logs)
