"""The sweep objective: the task function returns a validation metric (never test), always a float."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from poolbench import cli
from poolbench.errors import Abort, ConfigError
from poolbench.objective import DIRECTIONS, direction, objective_value
from poolbench.record import RESULT_FILE, RunRecord, compute_run_key
from poolbench.sweep import hydra_adapter
from poolbench.sweep.rundir import register_resolvers
from tests.conftest import CONF_DIR, TINY, compose_cfg, compose_settings


def record(**fields: object) -> RunRecord:
    base: dict[str, object] = dict(status="ok", run_key="k", dataset="d", backbone="b", head="h", seed=0, epochs=1)
    return RunRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_every_objective_is_a_validation_metric_with_its_direction():
    assert DIRECTIONS == {"val_acc": "maximize", "best_val_acc": "maximize", "val_loss": "minimize"}
    assert all(name.startswith(("val_", "best_val_")) for name in DIRECTIONS)
    assert direction("val_loss") == "minimize"
    with pytest.raises(ValueError, match="test_acc"):
        direction("test_acc")


def test_objective_value_reads_the_validation_field_not_the_test_one():
    done = record(val_acc=0.61, best_val_acc=0.66, val_loss=0.9, test_acc=0.93, test_loss=0.1)
    assert objective_value(done, "val_acc") == 0.61
    assert objective_value(done, "best_val_acc") == 0.66
    assert objective_value(done, "val_loss") == 0.9


@pytest.mark.parametrize(
    "failed",
    [
        record(status="diverged", val_acc=0.1, best_val_acc=0.5),  # a diverged run's last numbers are no result
        record(status="failed"),
        record(val_acc=None),
        record(val_acc=float("nan")),
    ],
)
def test_a_run_without_an_objective_gives_nan_a_float(failed):
    value = objective_value(failed, "val_acc")
    assert isinstance(value, float) and math.isnan(value)
    assert math.isnan(objective_value(None, "val_acc"))


def test_objective_is_a_typed_key_and_test_metrics_are_refused():
    assert compose_settings(TINY).objective == "val_acc"
    assert compose_settings([*TINY, "objective=val_loss"]).objective == "val_loss"
    with pytest.raises(ConfigError, match="objective"):
        compose_settings([*TINY, "objective=test_acc"])


def test_objective_does_not_change_the_run_key():
    one = OmegaConf.to_container(compose_cfg([*TINY, "objective=val_acc"], Path("/x")), resolve=True)
    two = OmegaConf.to_container(compose_cfg([*TINY, "objective=val_loss"], Path("/x")), resolve=True)
    assert compute_run_key(one) == compute_run_key(two)  # type: ignore[arg-type]


@pytest.mark.parametrize("objective, expected", [("val_acc", "maximize"), ("val_loss", "minimize")])
def test_the_optuna_preset_takes_its_direction_from_the_objective(objective, expected):
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", [*TINY, "hydra/sweeper=tune", f"objective={objective}"], return_hydra_config=True)
    assert hydra_adapter.select_with_hydra(cfg, "hydra.sweeper.direction") == expected
    assert cfg.hydra.sweeper.sampler.seed is not None  # a reproducible search
    assert set(cfg.hydra.sweeper.params) == {"trainer.lr", "trainer.weight_decay"}


def test_the_task_function_returns_val_acc_of_the_run_and_of_the_skipped_rerun(tmp_path):
    cfg = compose_cfg([*TINY, f"paths.results_dir={tmp_path}"], output_dir=tmp_path / "run")
    value = cli.app(cfg)
    result = json.loads((tmp_path / "run" / RESULT_FILE).read_text())
    assert value == result["val_acc"] and value != result["test_acc"]
    assert cli.app(cfg) == value  # skipped: the objective comes from its record


def test_the_task_function_returns_val_loss_when_asked(tmp_path):
    cfg = compose_cfg([*TINY, "objective=val_loss"], output_dir=tmp_path / "run")
    value = cli.app(cfg)
    assert value == json.loads((tmp_path / "run" / RESULT_FILE).read_text())["val_loss"]


def test_in_a_sweep_a_diverged_run_returns_nan(tmp_path, monkeypatch):
    monkeypatch.setattr(hydra_adapter, "is_multirun", lambda: True)
    overrides = [*TINY, "trainer.lr=1e12", "trainer.schedule=constant", "trainer.epochs=3"]
    value = cli.app(compose_cfg(overrides, output_dir=tmp_path / "run"))
    assert isinstance(value, float) and math.isnan(value)
    assert json.loads((tmp_path / "run" / RESULT_FILE).read_text())["status"] == "diverged"


def test_in_a_sweep_a_run_that_raised_returns_nan(tmp_path, monkeypatch):
    import poolbench.run

    def broken(settings: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hydra_adapter, "is_multirun", lambda: True)
    monkeypatch.setattr(poolbench.run, "run", broken)
    value = cli.app(compose_cfg(TINY, output_dir=tmp_path / "run"))
    assert isinstance(value, float) and math.isnan(value)


def test_outside_a_sweep_a_diverged_run_still_fails_the_command(tmp_path):
    overrides = [*TINY, "trainer.lr=1e12", "trainer.schedule=constant", "trainer.epochs=3"]
    with pytest.raises(Abort) as stop:
        cli.app(compose_cfg(overrides, output_dir=tmp_path / "run"))
    assert stop.value.error.exit_code == 1 and "diverged" in str(stop.value.error)
