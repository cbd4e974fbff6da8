"""Rough edges a new user hit: a launcher preset on a single run, a --plan file that is not there, the citation
file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from poolbench.sweep.plugins import keep_threads_without_sweep
from tests.conftest import CONF_DIR, REPO_ROOT


def hydra_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_a_launcher_preset_on_a_single_run_warns_once_and_keeps_the_threads(capsys) -> None:
    config = hydra_config(["launcher=joblib"])
    assert config.jobs == 2
    keep_threads_without_sweep(config)
    warned = capsys.readouterr().err.strip().splitlines()
    assert config.jobs == 1
    assert len(warned) == 1 and "launcher=joblib only launches -m sweeps" in warned[0] and "jobs=1" in warned[0]


@pytest.mark.parametrize("overrides", [["launcher=joblib", "jobs=3"], []], ids=["jobs_set_by_hand", "no_launcher"])
def test_jobs_set_on_purpose_stay(overrides: list[str], capsys) -> None:
    config = hydra_config(overrides)
    before = config.jobs
    keep_threads_without_sweep(config)
    assert config.jobs == before and capsys.readouterr().err == ""


def test_the_citation_file_validates() -> None:
    """CITATION.cff against the Citation File Format schema (cffconvert, in the dev extra)."""
    pytest.importorskip("cffconvert")
    command = [str(Path(sys.executable).with_name("cffconvert")), "--validate", "-i", str(REPO_ROOT / "CITATION.cff")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout
