"""One prepare step per run: a run through the real CLI validates its config once, computes its run key once and
builds its model once (the preflight's model is the one trained)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, cli_env

# Counts calls by code object (sys.setprofile), so a function imported under another name is still counted.
COUNTING_RUN = """
import collections, json, sys
from poolbench.config.validate import validate
from poolbench.models.classifier import build_classifier
from poolbench.record import compute_run_key
watched = {validate.__code__: "validate", compute_run_key.__code__: "run_key", build_classifier.__code__: "build"}
counts = collections.Counter()
def profile(frame, event, arg):
    if event == "call" and frame.f_code in watched:
        counts[watched[frame.f_code]] += 1
sys.setprofile(profile)
sys.argv = ["poolbench", *json.loads(sys.argv[1])]
from poolbench.cli import main
try:
    main()
finally:
    sys.setprofile(None)
    print("COUNTS " + json.dumps(counts))
"""


def counted_run(arguments: list[str], cwd: Path) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", COUNTING_RUN, json.dumps(arguments)],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("COUNTS ")]
    return json.loads(line.removeprefix("COUNTS "))


def test_one_run_validates_keys_and_builds_once(tmp_path: Path) -> None:
    arguments = [*TINY, "trainer.epochs=1", f"paths.results_dir={tmp_path / 'results'}", f"data_dir={tmp_path}"]
    assert counted_run(arguments, tmp_path) == {"validate": 1, "run_key": 1, "build": 1}
    assert list((tmp_path / "results").rglob("result.json"))


@pytest.mark.slow
def test_a_sweep_prepares_each_job_once(tmp_path: Path) -> None:
    """Two heads x one seed in one process (Hydra's basic launcher): each job validated and keyed once; each
    model built once (the preflight builds one per architecture and hands it to that job)."""
    arguments = ["-m", *TINY, "trainer.epochs=1", "head=gap,gmp", f"paths.results_dir={tmp_path / 'r'}"]
    assert counted_run([*arguments, f"data_dir={tmp_path}"], tmp_path) == {"validate": 2, "run_key": 2, "build": 2}
