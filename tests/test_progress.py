"""What a user watching a terminal sees: a live bar over batches, log lines that never tear it, and the per-epoch
lines always in poolbench.log. Runs the real CLI on a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.conftest import cli_env

# ~200 steps per epoch: long enough for tqdm (10 redraws a second at most) to draw the bar mid-epoch.
LONGER = [
    "dataset=synthetic",
    "dataset.train_size=8000",
    "dataset.test_size=200",
    "dataset.image_size=16",
    "backbone.widths=[16,32]",
    "trainer.batch_size=32",
    "trainer.threads=1",
    "report_on_sweep_end=false",
]
STEPS_PER_EPOCH = 7200 // 32  # 8000 minus the 10 % validation carve-out, ragged batch dropped


def run_on_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """``python -m poolbench ARGS`` with stdout and stderr on a pseudo-terminal; (exit code, everything shown)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    process = subprocess.Popen(
        [sys.executable, "-m", "poolbench", *args],
        cwd=cwd,
        env=cli_env(COLUMNS="120"),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=300), b"".join(chunks).decode(errors="replace")


def frames(shown: str) -> list[str]:
    """Every redraw of every line (a terminal line is rewritten after each carriage return)."""
    return [frame for line in shown.replace("\r\n", "\n").split("\n") for frame in line.split("\r")]


@pytest.mark.slow
def test_bar_counts_batches_within_an_epoch_and_the_log_file_keeps_every_epoch(tmp_path: Path) -> None:
    code, shown = run_on_terminal([*LONGER, "trainer.epochs=2", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert code == 0, shown[-3000:]
    steps = [
        int(match.group(1))
        for frame in frames(shown)
        if (match := re.search(rf"epoch 1/2.*?\|\s*(\d+)/{2 * STEPS_PER_EPOCH}\b", frame))
    ]
    assert any(0 < done < STEPS_PER_EPOCH for done in steps), f"no mid-epoch frame of the bar: {shown[-2000:]}"
    assert any("ETA" in frame or "<" in frame for frame in frames(shown) if "epoch 1/2" in frame)
    log = (tmp_path / "run" / "poolbench.log").read_text()
    assert "gap seed0: epoch 1/2" in log and "gap seed0: epoch 2/2" in log  # with the bar on, and naming the run


@pytest.mark.slow
def test_a_warning_is_printed_on_its_own_line_without_tearing_the_bar(tmp_path: Path) -> None:
    overrides = [*LONGER, "trainer.epochs=2", "trainer.lr=1e12", "trainer.schedule=constant"]
    code, shown = run_on_terminal([*overrides, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert code == 1, shown[-3000:]  # the run diverged
    warnings = [frame for frame in frames(shown) if "diverged:" in frame and "WARNING" in frame]
    assert warnings, shown[-3000:]
    for frame in warnings:  # the whole log record, and nothing of the bar in the same frame
        assert frame.lstrip().startswith("[") and "lower trainer.lr" in frame, frame
        assert "step/s" not in frame and "%|" not in frame and "it/s" not in frame, frame
