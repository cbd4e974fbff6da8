"""A sweep you can watch (poolbench/sweep/watch.py): the "[k/N] ... · ETA" lines come from the sweep ledger,
the same under every launcher."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from poolbench.sweep.ledger import ledger_entries, write_entry
from poolbench.sweep.watch import SweepWatch, clock_text, eta_text, run_label
from tests.conftest import run_cli


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_count_the_runs_the_failures_and_the_time_left(tmp_path: Path) -> None:
    clock = Clock()
    watch = SweepWatch(lambda: ledger_entries(tmp_path, "s1"), total=6, clock=clock, bar=False)

    def finish(num: int, status: str, head: str, seed: int, minute: float) -> list[str]:
        clock.now = minute * 60
        run_dir = tmp_path / "fmnist" / "small_cnn" / head / f"seed{seed}-1a2b3c4d"
        write_entry(tmp_path, "s1", num, status, run_dir, None)
        return watch.poll()

    assert watch.poll() == []
    assert finish(0, "skipped", "gap", 0, 0.1) + finish(1, "skipped", "gap", 1, 0.1) == [
        "[1/6] skipped 1 finished run · 0 failed · elapsed 0:06",
        "[2/6] skipped 1 finished run · 0 failed · elapsed 0:06",
    ]
    assert finish(2, "ok", "gmp", 0, 4) == ["[3/6] ok gmp seed 0 · 0 failed · elapsed 4:00 · ETA 12 min"]
    assert finish(3, "failed", "gmp", 1, 8) == ["[4/6] failed gmp seed 1 · 1 failed · elapsed 8:00 · ETA 8 min"]
    assert finish(3, "requeued", "gmp", 1, 9) == ["[3/6] requeued gmp seed 1 · 0 failed · elapsed 9:00 · ETA 27 min"]
    assert watch.poll() == []  # nothing new, nothing shown
    assert finish(3, "ok", "gmp", 1, 12) + finish(4, "diverged", "gem", 0, 16) + finish(5, "ok", "gem", 1, 20) == [
        "[4/6] ok gmp seed 1 · 0 failed · elapsed 12:00 · ETA 12 min",
        "[5/6] diverged gem seed 0 · 1 failed · elapsed 16:00 · ETA 5 min",
        "[6/6] ok gem seed 1 · 1 failed · elapsed 20:00",
    ]


def test_finished_runs_skipped_together_are_one_line_and_an_unknown_total_is_a_question_mark(tmp_path) -> None:
    for num in range(3):
        write_entry(tmp_path, "s2", num, "skipped", tmp_path / "gap" / f"seed{num}", None)
    watch = SweepWatch(lambda: ledger_entries(tmp_path, "s2"), total=None, clock=Clock(), bar=False)
    assert watch.poll() == ["[3/?] skipped 3 finished runs · 0 failed · elapsed 0:00"]


def test_words() -> None:
    assert run_label("/r/claims/fmnist/small_cnn/gap/seed3-b3f9d85f") == "gap seed 3"
    assert run_label("/r/claims/fmnist/small_cnn/gap/seed12") == "gap seed 12"
    assert run_label("/r/custom_layout/job7") == "job7"
    assert [clock_text(s) for s in (5, 724, 3723)] == ["0:05", "12:04", "1:02:03"]
    assert [eta_text(s) for s in (20, 1080, 7500)] == ["<1 min", "18 min", "2 h 05 min"]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["launcher=joblib", "jobs=2"]], ids=["basic", "joblib"])
def test_a_sweep_prints_a_line_per_run_from_the_ledger(launcher: list[str], tmp_path, tiny_overrides) -> None:
    done = run_cli(["-m", "head=gap,gmp", *launcher, *tiny_overrides], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if re.match(r"\[\d+/", line)]
    assert len(lines) == 2, done.stdout
    assert re.fullmatch(r"\[1/2\] ok (gap|gmp) seed 0 · 0 failed · elapsed \d+:\d\d · ETA (<1|\d+) min", lines[0])
    assert re.fullmatch(r"\[2/2\] ok (gap|gmp) seed 0 · 0 failed · elapsed \d+:\d\d", lines[1])
    assert {lines[0].split()[2], lines[1].split()[2]} == {"gap", "gmp"}
    assert done.stdout.index(lines[1]) < done.stdout.index("poolbench sweep: 2 ok")
