"""Typed settings: one home for types and defaults, built from the composed config after validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from poolbench.config import CONF_DIR
from poolbench.config.settings import AugmentSettings, DatasetSettings, PathSettings, Settings, TrainerSettings
from poolbench.config.typed import RULES_BY_KEY
from poolbench.config.validate import lookup, validate
from poolbench.errors import ConfigError
from tests.conftest import TINY, compose_cfg, compose_settings, run_cli, tiny_image_folder

CONF = CONF_DIR
assert CONF is not None
GROUP_OPTIONS = [
    (group, path.stem) for group in ("dataset", "trainer") for path in sorted((CONF / group).glob("*.y*ml"))
]
# Options that cannot compose alone: a user's own images need their folder.
NEEDS = {("dataset", "image_folder"): [f"dataset.root={tiny_image_folder()}"]}
SECTIONS: dict[str, type] = {
    "": Settings,
    "paths.": PathSettings,
    "trainer.": TrainerSettings,
    "dataset.": DatasetSettings,
    "dataset.augment.": AugmentSettings,
}


def code_defaults() -> dict[str, Any]:
    """Every typed field that has a default value in code, by dotted key (None stands for "not given": a key
    only some dataset kinds need, which those kinds' YAMLs set)."""
    found = {}
    for prefix, cls in SECTIONS.items():
        for item in dataclasses.fields(cls):
            if item.default not in (dataclasses.MISSING, None) and "check" in item.metadata:
                found[f"{prefix}{item.name}"] = item.default
    return found


def same(code: Any, composed: Any) -> bool:
    if isinstance(code, tuple):
        return list(code) == list(composed)
    return code == composed and type(code) is type(composed)


@pytest.mark.parametrize("group, option", GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_no_code_default_differs_from_a_shipped_yaml(group: str, option: str) -> None:
    """A default in settings.py may only stand for a key a shipped YAML leaves out, or sets to the same value."""
    resolved = dict(compose_settings([f"{group}={option}", *NEEDS.get((group, option), [])]).resolved)
    differing = {}
    for key, default in code_defaults().items():
        present, value = lookup(resolved, key)
        if present and not same(default, value):
            differing[key] = (default, value)
    assert not differing, f"code default vs {group}={option}: {differing}"


def test_keys_every_shipped_yaml_sets_have_no_code_default() -> None:
    """One home for each default: a key every option of its group sets is required in code."""
    defaults = code_defaults()
    for group in ("trainer", "dataset"):
        options = [
            dict(compose_settings([f"{group}={o}", *NEEDS.get((g, o), [])]).resolved)
            for g, o in GROUP_OPTIONS
            if g == group
        ]
        everywhere = [key for key in RULES_BY_KEY if key.startswith(f"{group}.")]
        for key in everywhere:
            if all(lookup(option, key)[0] for option in options):
                assert key not in defaults, f"{key} is set by every shipped {group} YAML and defaulted in code"


def test_settings_are_typed_and_frozen() -> None:
    settings = compose_settings([*TINY, "trainer.betas=[0.8,0.9]", "dataset.eval_shifts=[2]"])
    assert isinstance(settings.trainer, TrainerSettings) and isinstance(settings.dataset.augment, AugmentSettings)
    assert settings.trainer.betas == (0.8, 0.9) and settings.dataset.eval_shifts == (2,)
    assert isinstance(settings.trainer.lr, float) and isinstance(settings.trainer.batch_size, int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.trainer.lr = 1.0  # type: ignore[misc]
    assert settings.resolved["trainer"]["lr"] == settings.trainer.lr


def test_a_single_mean_and_std_serve_every_channel() -> None:
    settings = compose_settings(["dataset=synthetic", "dataset.channels=3"])
    assert settings.dataset.mean == (0.5, 0.5, 0.5) and settings.dataset.std == (0.25, 0.25, 0.25)


def test_synthetic_three_channel_run_needs_no_mean_or_std_override(tmp_path: Path) -> None:
    """The defect: dataset=synthetic dataset.channels=3 failed until mean/std were given per channel."""
    out = run_cli([*TINY, "dataset.channels=3", f"paths.results_dir={tmp_path / 'r'}"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert list((tmp_path / "r").rglob("result.json"))


def test_rules_come_from_the_typed_fields() -> None:
    """Every typed field has a rule, and a required field's rule says so."""
    for prefix, cls in SECTIONS.items():
        for item in dataclasses.fields(cls):
            if "check" not in item.metadata:
                continue
            rule = RULES_BY_KEY[f"{prefix}{item.name}"]
            assert rule.required == (item.default is dataclasses.MISSING)


def test_validate_returns_settings_for_a_composed_config() -> None:
    assert isinstance(validate(compose_cfg(TINY)), Settings)


@pytest.mark.parametrize(
    "key, good, bad",
    [
        ("trainer.precision", ["auto", "fp32", "bf16"], ["fp16", True, "AUTO"]),  # amp's old true/false: no
        ("trainer.curves", [["val"], ["train"], [], ["train", "val", "test"]], [["val", "val"], ["tets"], "val"]),
        ("deploy.timing", [True, False], ["no"]),
    ],
)
def test_the_speed_keys_have_rules(key: str, good: list[Any], bad: list[Any]) -> None:
    rule = RULES_BY_KEY[key]
    assert rule.required and all(rule.check.accepts(v) for v in good) and not any(rule.check.accepts(v) for v in bad)


def test_a_config_still_setting_trainer_amp_is_told_the_new_key() -> None:
    with pytest.raises(ConfigError, match=r"Replaced config key: trainer\.amp=True.*trainer\.precision"):
        compose_settings([*TINY, "+trainer.amp=true"])
