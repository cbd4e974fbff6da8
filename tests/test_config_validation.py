"""The validation table in-process (fast): every shipped config passes, each bad value names its key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from poolbench.config import CONF_DIR
from poolbench.config.checks import Number
from poolbench.config.components import validate_components
from poolbench.config.typed import RULES_BY_KEY
from poolbench.config.validate import shipped_keys, validate
from poolbench.data.splits import prepare_data
from poolbench.errors import ConfigError
from poolbench.sweep.preflight import check_config
from tests.conftest import TINY, compose_cfg, tiny_image_folder

CONF = CONF_DIR
assert CONF is not None


def test_every_shipped_key_has_a_rule() -> None:
    """The table is complete: a key added to a shipped YAML needs a typed field in poolbench/config/settings.py."""
    missing = sorted(
        key for key in shipped_keys() if key not in RULES_BY_KEY and key not in ("paths", "dataset.augment", "deploy")
    )
    assert not missing, f"add rules for: {missing}"


@pytest.mark.parametrize("dataset", sorted(p.stem for p in (CONF / "dataset").glob("*.yaml")))
@pytest.mark.parametrize("trainer", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_shipped_datasets_and_trainers_validate(dataset: str, trainer: str) -> None:
    user_given = [f"dataset.root={tiny_image_folder()}"] if dataset == "image_folder" else []  # must be set
    validate(compose_cfg([f"dataset={dataset}", f"trainer={trainer}", *user_given]))


@pytest.mark.parametrize("group", ["head", "backbone"])
def test_shipped_components_validate(group: str) -> None:
    for path in sorted((CONF / group).glob("*.yaml")):
        data = validate(compose_cfg([f"{group}={path.stem}"]))
        validate_components(data.resolved)


@pytest.fixture(scope="module")
def base_cfg() -> DictConfig:
    return compose_cfg(["head=gem"])


@pytest.mark.parametrize(
    "key, value, reported",
    [
        ("trainer.lr", -0.1, None),
        ("trainer.lr", True, None),
        ("trainer.momentum", 1.5, None),
        ("trainer.betas", [0.9], None),
        ("trainer.pct_start", 0, None),
        ("trainer.grad_clip", 0, None),
        ("trainer.channels_last", "maybe", None),
        ("dataset.val_fraction", -0.5, None),
        ("dataset.std", [0], None),
        ("dataset.num_classes", 1, None),
        ("dataset.train_samples", 54001, None),
        ("dataset.kind", "imagenet", None),
        ("dataset.augment.flipp", True, None),
        ("sed", 1, None),
        ("name", "a/b", None),
        ("head.eps", 0, None),
        ("dataset.val_fraction", 0.99999999, "dataset.val_fraction"),
        ("dataset.image_size", "${dataset.nowhere}", "dataset.image_size"),
    ],
)
def test_bad_value_names_its_key(base_cfg: DictConfig, key: str, value: object, reported: str | None) -> None:
    cfg = copy.deepcopy(base_cfg)
    with open_dict(cfg):
        OmegaConf.update(cfg, key, value, force_add=True)
    with pytest.raises(ConfigError) as caught:
        validate(cfg)
    assert caught.value.key == (reported or key)
    assert caught.value.exit_code == 2


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"did you mean trainer\.batch_size=64\?"):
        validate(compose_cfg(["+trainer.batchsize=64"]))
    with pytest.raises(ConfigError, match=r"did you mean head\.r=3\?"):
        validate_components(validate(compose_cfg(["head=lse", "+head.rr=3"])).resolved)


def test_poolbench_provided_arguments_cannot_be_set() -> None:
    with pytest.raises(ConfigError, match="poolbench passes num_classes"):
        validate_components(validate(compose_cfg(["+head.num_classes=3"])).resolved)


def test_a_validation_split_too_small_to_select_on_is_refused() -> None:
    """Every run selects on validation: no validation images (val_acc NaN recorded as ok) or fewer than one per
    class is refused, stating the minimum; the smallest fraction it names passes."""
    with pytest.raises(ConfigError, match=r"dataset.val_fraction=0.0.*at least 10 validation images.*>= 0.001;"):
        validate(compose_cfg(["dataset.val_fraction=0"]))
    with pytest.raises(ConfigError, match=r"at least 4 validation images .* of the 30 train images, i.e. >= 0.134"):
        validate(compose_cfg(["dataset=synthetic", "dataset.train_size=30"]))
    validate(compose_cfg(["dataset=synthetic", "dataset.train_size=30", "dataset.val_fraction=0.134"]))


def test_zero_epochs_are_refused() -> None:
    """An untrained model would be recorded as an ok run."""
    with pytest.raises(ConfigError, match=r"trainer.epochs=0. Allowed: an integer >= 1"):
        validate(compose_cfg(["trainer.epochs=0"]))


@pytest.mark.parametrize(
    "check, text",
    [
        (Number(0, low_open=True), "a number > 0"),
        (Number(0, 1, high_open=True), "a number in [0, 1)"),
        (Number(1, integer=True), "an integer >= 1"),
    ],
)
def test_allowed_text(check: Number, text: str) -> None:
    assert check.describe() == text


def test_preflight_passes_a_tiny_run_and_writes_nothing(tmp_path: Path) -> None:
    cfg = compose_cfg([*TINY, "head=gap", "dataset.eval_image_size=16"], output_dir=tmp_path / "run")
    check_config(cfg)
    assert not (tmp_path / "run").exists()


def test_flatten_at_another_size_is_refused_before_running(tmp_path: Path) -> None:
    cfg = compose_cfg([*TINY, "head=flatten", "dataset.eval_image_size=16"], output_dir=tmp_path / "run")
    with pytest.raises(ConfigError) as caught:
        check_config(cfg)
    assert caught.value.key == "dataset.eval_image_size"


def test_eval_image_size_resizes_the_test_split_only() -> None:
    cfg = validate(compose_cfg([*TINY, "dataset.eval_image_size=16"]))
    data = prepare_data(cfg.dataset, "unused", torch.device("cpu"))
    assert data.test.x.shape[2:] == (16, 16) and data.train.x.shape[2:] == (12, 12)
    assert data.test.x.dtype == torch.uint8
