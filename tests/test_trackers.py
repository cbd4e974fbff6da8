"""Trackers (logger=...): what TensorBoard, MLflow and W&B hold after a run, read back with their own readers;
a tracker's failure never fails a run; a missing package is named with its extra before any work starts."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest

from poolbench.errors import ConfigError
from poolbench.record import CONFIG_FILE, EPOCHS_FILE, RESULT_FILE, compute_run_key, read_epochs
from poolbench.run import run
from poolbench.trackers import registry
from poolbench.trackers.registry import MissingExtra, check_trackers_installed
from tests.conftest import TINY, cli_env, compose_cfg, compose_settings, run_cli


def needs(package: str):
    return pytest.mark.skipif(
        importlib.util.find_spec(package) is None,
        reason=f"{package} is not installed (pip install 'poolbench[{package}]'; CI installs it)",
    )


def tiny_run(tmp_path: Path, *overrides: str):
    settings = compose_settings([*TINY, f"paths.results_dir={tmp_path / 'results'}", *overrides], tmp_path / "run")
    return run(settings), tmp_path / "run"


def test_logger_group_composes_one_or_several_trackers():
    assert compose_settings(TINY).logger.tensorboard is None
    both = compose_settings([*TINY, "logger=[tensorboard,mlflow]"]).logger
    assert both.tensorboard is not None and both.mlflow is not None and both.wandb is None
    assert both.mlflow.experiment == "default" and both.mlflow.tracking_uri is None


def test_tracker_keys_are_checked_and_do_not_change_the_run():
    with pytest.raises(ConfigError, match="logger.wandb.mode='cloud'.*offline, online"):
        compose_settings([*TINY, "logger=wandb", "logger.wandb.mode=cloud"])
    with pytest.raises(ConfigError, match="Unknown config key: logger.tensorboard.flush_sec"):
        compose_settings([*TINY, "logger=tensorboard", "+logger.tensorboard.flush_sec=3"])
    plain = compose_settings(TINY).resolved
    tracked = compose_settings([*TINY, "logger=[tensorboard,wandb]"]).resolved
    assert compute_run_key(plain) == compute_run_key(tracked)


@needs("tensorboard")
def test_tensorboard_event_files_hold_per_epoch_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record, run_dir = tiny_run(tmp_path, "logger=tensorboard")
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    epochs = read_epochs(run_dir)
    val_acc = events.Scalars("val_acc")
    assert [event.step for event in val_acc] == [1, 2]
    assert [event.value for event in val_acc] == pytest.approx([row["val_acc"] for row in epochs], abs=1e-6)
    assert {"train_loss", "test_acc", "lr", "final_test_acc"} <= set(events.Tags()["scalars"])
    assert events.Scalars("final_test_acc")[0].value == pytest.approx(record.test_acc, abs=1e-6)


@needs("mlflow")
def test_mlflow_run_holds_params_per_epoch_metrics_and_the_record_files(tmp_path):
    from mlflow.tracking import MlflowClient

    record, _ = tiny_run(tmp_path, "logger=mlflow", "name=tracked")
    store = tmp_path / "results" / "mlruns"
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.status == "FINISHED" and found.info.run_name == "synthetic/small_cnn/gap/seed0"
    assert found.data.params["trainer.epochs"] == "2" and found.data.params["dataset.train_size"] == "400"
    history = client.get_metric_history(found.info.run_id, "test_acc")
    assert [metric.step for metric in sorted(history, key=lambda m: m.step)] == [1, 2]
    assert found.data.metrics["final_test_acc"] == pytest.approx(record.test_acc)
    artifacts = {item.path for item in client.list_artifacts(found.info.run_id)}
    assert artifacts == {CONFIG_FILE, RESULT_FILE, EPOCHS_FILE}
    assert (store / "artifacts").is_dir()  # beside the database, not in the working directory


@pytest.mark.slow
@needs("wandb")
def test_wandb_offline_run_directory_is_written(tmp_path):
    import wandb

    record, run_dir = tiny_run(tmp_path, "logger=wandb")
    assert record.status == "ok"
    wandb.teardown()  # W&B's service writes the record log after finish() returns; at exit, or here, it is flushed
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (log_file,) = offline.glob("run-*.wandb")
    # W&B's record log (protobuf records; no public reader in wandb 0.31): it holds the run's name, the config,
    # each epoch's history row (key, then the value as JSON) and the final summary.
    content = log_file.read_bytes()
    assert content.startswith(b":W&B") and b"synthetic/small_cnn/gap/seed0" in content and b"trainer" in content
    for row in read_epochs(run_dir):
        assert json.dumps(row["val_acc"]).encode() in content
    assert b"final_test_acc" in content


class Exploding:
    """A tracker whose every call fails (a server gone, a full disk, an API change)."""

    name = "exploding"
    calls = 0

    def __init__(self, options, settings) -> None:
        pass

    def start(self, run_dir, resolved) -> None:
        pass

    def log_epoch(self, row) -> None:
        Exploding.calls += 1
        raise ConnectionError("tracking server unreachable")

    def finish(self, record) -> None:
        raise AssertionError("a failed tracker must not be called again")


def test_a_failing_tracker_is_logged_once_and_never_fails_the_run(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(registry, "build_tracker", lambda name, settings: Exploding(None, settings))
    with caplog.at_level(logging.WARNING, logger="poolbench.trackers"):
        record, run_dir = tiny_run(tmp_path, "logger=tensorboard")
    assert record.status == "ok" and (run_dir / RESULT_FILE).is_file() and len(read_epochs(run_dir)) == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "poolbench.trackers"]
    assert len(warnings) == 1 and "exploding failed in log_epoch" in warnings[0]
    assert "tracking server unreachable" in warnings[0] and Exploding.calls == 1


def test_missing_package_names_the_extra(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real_find_spec(name, *a)
    )
    logger = compose_settings([*TINY, "logger=[tensorboard,mlflow]"]).logger
    expected = r"logger=mlflow needs the mlflow package.*pip install 'poolbench\[mlflow\]'"
    with pytest.raises(MissingExtra, match=expected):
        check_trackers_installed(logger)


def test_missing_extra_stops_the_cli_before_anything_is_written(tmp_path):
    """A sitecustomize hides wandb from the subprocess: the preflight names the extra, exit 1, no run dir."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nclass Hide:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'wandb' or name.startswith('wandb.'):\n            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
    )
    env = cli_env()
    env["PYTHONPATH"] = f"{hide}:{env['PYTHONPATH']}"
    done = run_cli([*TINY, "logger=wandb", f"paths.results_dir={tmp_path / 'results'}"], cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert "pip install 'poolbench[wandb]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_compose_cfg_without_a_logger_node_still_validates():
    from omegaconf import open_dict

    cfg = compose_cfg(TINY)
    with open_dict(cfg):
        del cfg["logger"]
    from poolbench.config.validate import validate

    assert validate(cfg).logger.mlflow is None
