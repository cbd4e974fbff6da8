"""The real command line: help, config introspection, bad group names, and a tiny -m sweep."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import TINY, cli_env, run_cli


def test_help_lists_the_config_groups(tmp_path):
    out = run_cli(["--help"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "poolbench" in out.stdout
    for line in ("backbone:", "head:", "dataset:", "trainer:"):
        assert line in out.stdout
    assert "gem" in out.stdout and "resnet20" in out.stdout and "fashion_mnist" in out.stdout


def test_cfg_job_prints_the_composed_config_without_training(tmp_path):
    out = run_cli(["--cfg", "job", "head=gem", "backbone=resnet20"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "GeMPoolHead" in out.stdout and "CifarResNet" in out.stdout
    assert not (tmp_path / "results").exists()


def test_info_runs(tmp_path):
    out = run_cli(["--info"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Config search path" in out.stdout


def test_bad_group_option_lists_the_available_options(tmp_path):
    out = run_cli(["head=gapp"], cwd=tmp_path)
    assert out.returncode != 0
    assert "gapp" in out.stderr and "Available options" in out.stderr and "gem" in out.stderr


@pytest.mark.slow
def test_tiny_multirun_over_heads_writes_one_record_per_head(tmp_path):
    heads = ["gap", "gmp", "gem", "flatten", "avgmax", "catavgmax", "lse"]
    out = run_cli(
        ["-m", f"head={','.join(heads)}", *TINY, "trainer.epochs=1", "name=sweep", "paths.results_dir=results"],
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (out.stdout + out.stderr).count("poolbench sweep: 7 ok, 0 failed, 0 skipped") == 1  # printed once
    records = sorted((tmp_path / "results" / "sweep").rglob("result.json"))
    assert len(records) == len(heads)
    found = {json.loads(p.read_text())["head"]: p for p in records}
    assert set(found) == set(heads)
    for head, path in found.items():
        # overrides beyond the preset add a hash of them to the seed folder: seed0-<8 hex>
        assert path.parent.parent == tmp_path / "results" / "sweep" / "synthetic" / "small_cnn" / head
        assert path.parent.name.startswith("seed0")
        assert json.loads(path.read_text())["status"] == "ok"


def test_demo_experiment_composes_to_four_heads_on_fashion_mnist():
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=demo"], return_hydra_config=True)
    assert cfg.name == "demo" and cfg.dataset.name == "fashion_mnist" and cfg.backbone.name == "small_cnn"
    assert cfg.hydra.sweeper.params.head == "gap,gmp,gem,flatten"


def test_ctrl_c_while_starting_a_sweep_is_one_line_and_exit_130(tmp_path):
    """SIGINT a second into ``poolbench -m ...``: in the imports or the preflight of 200 jobs (a job's own
    handler would say the same): one line on stderr, no traceback, exit code 128 + 2."""
    process = subprocess.Popen(
        [sys.executable, "-m", "poolbench", "-m", *TINY, "seed=range(0,200)", "paths.results_dir=results"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, stderr[-3000:]
    assert "Traceback" not in stderr and stderr.startswith("poolbench: interrupted by SIGINT"), stderr[-3000:]
    assert len(stderr.strip().splitlines()) == 1, stderr
