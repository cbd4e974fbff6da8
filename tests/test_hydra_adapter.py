"""The Hydra internals poolbench relies on, pinned to the supported Hydra version (pyproject: hydra-core 1.3).

When Hydra moves, these tests say which of ``poolbench.sweep.hydra_adapter``'s few calls broke."""

from __future__ import annotations

import hydra
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from poolbench.sweep import hydra_adapter
from poolbench.sweep.rundir import register_resolvers
from tests.conftest import CONF_DIR


def test_supported_hydra_version() -> None:
    major, minor = (int(part) for part in hydra.__version__.split(".")[:2])
    assert (major, minor) == (1, 3), f"hydra_adapter is written for Hydra 1.3, found {hydra.__version__}"


def test_basic_sweep_is_composed_job_by_job_as_the_launcher_numbers_them() -> None:
    register_resolvers()
    overrides = ["head=gap,gmp", "seed=0,1", "trainer.lr=0.1"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose(config_name="config", return_hydra_config=True)
        with_sweep = OmegaConf.merge(config, {"hydra": {"overrides": {"task": overrides}}})
        assert hydra_adapter.uses_basic_sweeper(with_sweep)
        assert hydra_adapter.sweep_arguments(with_sweep) == overrides
        jobs = hydra_adapter.sweep_job_configs(with_sweep)
    combos = [(job.head.name, job.seed, job.hydra.job.num) for job in jobs]
    assert combos == [("gap", 0, 0), ("gap", 1, 1), ("gmp", 0, 2), ("gmp", 1, 3)]
    assert all(job.trainer.lr == 0.1 for job in jobs)


def test_hydra_values_resolve_before_the_run_and_the_singleton_is_restored() -> None:
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose(config_name="config", overrides=["head=gem"], return_hydra_config=True)
    before = HydraConfig.instance().cfg
    run_dir = hydra_adapter.select_with_hydra(config, "hydra.run.dir")
    assert run_dir.endswith("default/fashion_mnist/small_cnn/gem/seed0")
    assert HydraConfig.instance().cfg is before


def test_outside_a_hydra_app_nothing_is_running() -> None:
    if HydraConfig.initialized():
        pytest.skip("a Hydra app is running in this process")
    assert hydra_adapter.runtime() is None
    assert hydra_adapter.is_multirun() is False and hydra_adapter.verbose() is False
