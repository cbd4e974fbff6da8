"""Validation of the composed config, in one place, before any work starts.

Each check raises ``ConfigError(key, value, allowed, fix)``; the CLI prints it as one paragraph, exit code 2.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Mapping

from omegaconf import DictConfig, OmegaConf

from poolbench.errors import ConfigError
from poolbench.train import OPTIMIZERS, SCHEDULES


def _number(cfg: Mapping[str, Any], key: str, path: str, check: Callable[[float], bool], allowed: str, fix: str) -> None:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not check(float(value)):
        raise ConfigError(path, value, allowed, fix)


def _integer(cfg: Mapping[str, Any], key: str, path: str, minimum: int, fix: str) -> None:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(path, value, f"an integer >= {minimum}", fix)


def validate_trainer(trainer: Mapping[str, Any]) -> None:
    _number(trainer, "lr", "trainer.lr", lambda v: v > 0, "a number > 0", "e.g. trainer.lr=0.05")
    _integer(trainer, "batch_size", "trainer.batch_size", 1, "e.g. trainer.batch_size=128")
    _integer(trainer, "epochs", "trainer.epochs", 0, "e.g. trainer.epochs=10")
    _number(trainer, "weight_decay", "trainer.weight_decay", lambda v: v >= 0, "a number >= 0", "e.g. trainer.weight_decay=5e-4")
    _number(trainer, "label_smoothing", "trainer.label_smoothing", lambda v: 0 <= v < 1, "a number in [0, 1)", "e.g. trainer.label_smoothing=0.1")
    if str(trainer.get("optimizer")).lower() not in OPTIMIZERS:
        raise ConfigError("trainer.optimizer", trainer.get("optimizer"), ", ".join(OPTIMIZERS), "set trainer.optimizer=sgd")
    if str(trainer.get("schedule")).lower() not in SCHEDULES:
        raise ConfigError("trainer.schedule", trainer.get("schedule"), ", ".join(SCHEDULES), "set trainer.schedule=cosine")
    threads = trainer.get("threads")
    if threads is not None:
        _integer(trainer, "threads", "trainer.threads", 1, "set trainer.threads=null to use all cores")


def validate_dataset(dataset: Mapping[str, Any]) -> None:
    _number(dataset, "val_fraction", "dataset.val_fraction", lambda v: 0 <= v < 1, "a number in [0, 1)", "e.g. dataset.val_fraction=0.1")
    if dataset.get("train_samples") is not None:
        _integer(dataset, "train_samples", "dataset.train_samples", 1, "a positive int, or null for the whole train split")


def validate_head(head: Mapping[str, Any]) -> None:
    if "p" in head:
        _number(head, "p", "head.p", lambda v: v > 0, "a number > 0 (GeM exponent)", "e.g. head.p=3")
    if "r" in head:
        _number(head, "r", "head.r", lambda v: v > 0, "a number > 0 (LSE temperature)", "e.g. head.r=10")
    if "dropout" in head:
        _number(head, "dropout", "head.dropout", lambda v: 0 <= v < 1, "a number in [0, 1)", "e.g. head.dropout=0.0")


def validate(cfg: DictConfig) -> None:
    """Check types, ranges and combinations of the composed config; raise ConfigError on the first problem."""
    resolved = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(resolved, dict)
    for group in ("backbone", "head", "dataset", "trainer"):
        if not isinstance(resolved.get(group), dict):
            raise ConfigError(group, resolved.get(group), f"a {group} config group", f"pick one with {group}=NAME")
        if group in ("backbone", "head") and "_target_" not in resolved[group]:
            raise ConfigError(f"{group}._target_", None, "the import path of a class", f"add _target_ to your {group} YAML")
    _integer(resolved, "seed", "seed", 0, "e.g. seed=0")
    validate_trainer(resolved["trainer"])
    validate_dataset(resolved["dataset"])
    validate_head(resolved["head"])
