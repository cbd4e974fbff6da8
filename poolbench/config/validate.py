"""Validation of the composed config, in one place, before any work starts.

The rules table is derived from the typed settings (``poolbench.config.typed.RULES``: every key's check and example
fix). ``validate(cfg)`` resolves the config, applies the rules, rejects keys that no rule and no shipped YAML
knows (with a "did you mean"), checks combinations of keys (split sizes, mean/std per channel, the keys a dataset
kind needs), completes an image folder's settings from its files (class count, content key: ``from_the_data``)
and returns the typed ``Settings``. It imports no torch, so a typo costs about a second. Checks that
need a component's code (constructor arguments of a head or backbone ``_target_``) are in
``poolbench.config.components``. Every failure raises ``ConfigError(key, value, allowed, fix)``: one paragraph, exit 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from poolbench.config import CONF_DIR
from poolbench.config.catalog import KIND_KEYS, class_count, split_sizes
from poolbench.config.folder_layout import counted_classes, scan_folder
from poolbench.config.probe_layout import check_probe
from poolbench.config.replaced import REPLACED_KEYS, check_replaced_keys
from poolbench.config.settings import DatasetSettings, Settings
from poolbench.config.typed import RULES, RULES_BY_KEY, settings_from
from poolbench.errors import ConfigError

LOGGER_BLOCKS = tuple(sorted({rule.block for rule in RULES if rule.block and rule.block.startswith("logger.")}))

# Groups whose every key must be known (a rule or a shipped YAML); head/backbone keys are checked by signature.
CLOSED_GROUPS = ("", "paths", "trainer", "dataset", "dataset.augment", "deploy", "logger", *LOGGER_BLOCKS)
CONFIG_GROUPS = ("backbone", "head", "dataset", "trainer")


def resolved_container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data with interpolations resolved; an interpolation that fails names its key.

    ``paths.output_dir`` stays as written where it cannot resolve yet (it needs Hydra's runtime), and a config
    without a ``hydra`` node works.
    """
    data: dict[str, Any] = {}
    for key in cfg:
        if key == "hydra":
            continue
        try:
            data[str(key)] = _resolve_paths(cfg[key]) if key == "paths" else _resolve(cfg, key)
        except OmegaConfBaseException as error:
            full_key = getattr(error, "full_key", None) or str(key)
            _, raw = lookup(OmegaConf.to_container(cfg, resolve=False), full_key)  # type: ignore[arg-type]
            raise ConfigError(
                full_key,
                raw,
                "a value, or an interpolation that resolves",
                f"check the ${{...}} in {full_key} ({str(error).splitlines()[0]})",
            ) from None
    return data


def _resolve_paths(paths: DictConfig) -> dict[str, Any]:
    raw = OmegaConf.to_container(paths, resolve=False)
    assert isinstance(raw, dict)
    resolved: dict[str, Any] = {}
    for key in paths:
        try:
            resolved[str(key)] = _resolve(paths, key)
        except OmegaConfBaseException:
            if key != "output_dir":
                raise
            resolved[str(key)] = raw[key]
    return resolved


def _resolve(node: DictConfig, key: Any) -> Any:
    value = node[key]
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def lookup(data: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """(present, value) of a dotted key in nested dicts."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def flat_keys(data: Mapping[Any, Any], prefix: str = "") -> Iterable[str]:
    """Dotted paths of all leaves and sub-dicts of a nested dict."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            yield from flat_keys(value, f"{path}.")


def shipped_keys(conf_dir: Path | None = None) -> set[str]:
    """Every dotted key that the shipped YAMLs define (top level, paths, trainer/*, dataset/*)."""
    return set(_shipped_keys(conf_dir or CONF_DIR))


@functools.lru_cache(maxsize=4)
def _shipped_keys(conf_dir: Path | None) -> frozenset[str]:
    keys: set[str] = set()
    if conf_dir is None:
        return frozenset()
    main = OmegaConf.to_container(OmegaConf.load(conf_dir / "config.yaml"), resolve=False)
    assert isinstance(main, dict)
    keys.update(k for k in flat_keys(main) if not k.startswith(("defaults", "hydra")))
    for group in ("trainer", "dataset"):
        for path in sorted((conf_dir / group).glob("*.yaml")):
            node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
            if isinstance(node, dict):
                keys.update(f"{group}.{k}" for k in flat_keys(node) if not k.startswith("defaults"))
    return frozenset(keys)


def did_you_mean(key: str, known: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


# ----------------------------------------------------------------------------------------------- checks
def check_rules(data: Mapping[str, Any]) -> None:
    for rule in RULES:
        if rule.block is not None and lookup(data, rule.block)[1] is None:
            continue  # e.g. logger.mlflow.* when the mlflow tracker is off
        present, value = lookup(data, rule.key)
        if not present:
            if rule.required:
                fix = f"set it, e.g. {rule.example}"
                raise ConfigError(rule.key, None, rule.allowed(), fix, problem="Missing config key")
            continue
        if value is None and rule.optional:
            continue
        if not rule.check.accepts(value):
            raise ConfigError(rule.key, value, rule.allowed(), f"e.g. {rule.example}")


def check_unknown_keys(data: Mapping[str, Any], known: set[str]) -> None:
    """Reject keys no rule and no shipped YAML knows in the closed groups: a typo such as ``+trainer.lrr``."""
    for key in flat_keys(data):
        group = key.rpartition(".")[0]
        if group not in CLOSED_GROUPS or key in known or key in CONFIG_GROUPS or key in ("logger", *LOGGER_BLOCKS):
            continue
        suggestion = did_you_mean(key, {k for k in known if k.rpartition(".")[0] == group} or known)
        _, value = lookup(data, key)
        fix = f"did you mean {suggestion}={show_value(value)}?" if suggestion else "remove it"
        choices = {k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == group}
        choices |= set() if group else set(CONFIG_GROUPS)
        allowed = f"the keys of {group or 'the top level'}: {', '.join(sorted(choices))}"
        raise ConfigError(key, value, allowed, fix, problem="Unknown config key")


def show_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value).replace(" ", "")


def check_per_channel_stats(dataset: Mapping[str, Any]) -> None:
    channels = dataset["channels"]
    if (dataset["mean"] is None) != (dataset["std"] is None):
        raise ConfigError(
            "dataset.mean",
            dataset["mean"],
            "both dataset.mean and dataset.std set, or both null (measured on the train split)",
            "set dataset.mean=null dataset.std=null, or give both",
        )
    for key in ("mean", "std"):
        if dataset[key] is not None and len(dataset[key]) not in (1, channels):
            raise ConfigError(
                f"dataset.{key}",
                dataset[key],
                f"one value per channel ({channels}), or one for all",
                f"give {channels} value(s), or one",
            )


def check_dataset_combinations(dataset: DatasetSettings) -> None:
    """Keys that are fine alone but not together: shifts beyond the image, a kind's own keys, split sizes."""
    eval_size = dataset.eval_image_size or dataset.image_size
    too_far = [pixels for pixels in dataset.eval_shifts if pixels >= eval_size]
    if too_far:
        raise ConfigError(
            "dataset.eval_shifts",
            list(dataset.eval_shifts),
            f"pixel shifts below the test image size ({eval_size}); {too_far} would move the whole image out",
            "e.g. dataset.eval_shifts=[2,4,6]",
        )
    check_kind_keys(dataclasses.asdict(dataset))
    known = class_count(dataset.kind, dataset.split)
    if known is not None and dataset.num_classes != known:
        of = f"dataset.kind={dataset.kind}" + (f", dataset.split={dataset.split}" if dataset.kind == "emnist" else "")
        raise ConfigError(
            "dataset.num_classes",
            dataset.num_classes,
            f"{known}: the classes of {of}",
            f"set dataset.num_classes={known}",
        )
    if dataset.kind == "probe":
        check_probe(dataclasses.asdict(dataset))
    check_split_sizes(dataset)


def check_kind_keys(dataset: Mapping[str, Any]) -> None:
    for key in KIND_KEYS.get(dataset["kind"], ()):
        if dataset.get(key) is None:
            raise ConfigError(
                f"dataset.{key}",
                None,
                f"required by dataset.kind={dataset['kind']}",
                f"e.g. {RULES_BY_KEY[f'dataset.{key}'].example}",
                problem="Missing config key",
            )


def from_the_data(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset block completed by what its files say: an image folder's class count where
    ``dataset.num_classes`` is null (else checked) and its content key (``dataset.content_key``: the images'
    identity in the run key, so a changed folder is a new run). Only an image folder may leave the count null."""
    completed = dict(dataset)
    if completed["kind"] != "image_folder":
        if completed["num_classes"] is None:
            fix = "e.g. dataset.num_classes=10 (only dataset=image_folder counts its class folders)"
            raise ConfigError("dataset.num_classes", None, "the number of classes", fix, problem="Missing config key")
        return completed
    check_kind_keys(completed)
    root = Path(completed["root"]).expanduser()
    scan = scan_folder(root, completed["image_size"], completed["channels"])
    completed["num_classes"] = counted_classes(scan.classes, root, completed["num_classes"])
    completed["content_key"] = scan.content_key
    return completed


def check_split_sizes(dataset: DatasetSettings, sizes: tuple[int, int] | None = None) -> None:
    """The validation carve-out and the train/test subsets fit the splits: ``sizes`` (train, test) as loaded,
    or as the catalog knows them before loading."""
    sizes = sizes or split_sizes(dataset.kind, dataset.train_size, dataset.test_size, dataset.split)
    if sizes is None:
        return
    num_train, num_test = sizes
    num_val = round(num_train * dataset.val_fraction)
    available = num_train - num_val
    if available < 1:
        raise ConfigError(
            "dataset.val_fraction",
            dataset.val_fraction,
            f"a fraction that leaves train images (the train split has {num_train})",
            "lower dataset.val_fraction",
        )
    if dataset.train_samples is not None and dataset.train_samples > available:
        raise ConfigError(
            "dataset.train_samples",
            dataset.train_samples,
            f"at most {available} (the {num_train} train images minus {num_val} carved out for validation), or null",
            f"set dataset.train_samples={available} or null for all, or lower dataset.val_fraction",
        )
    if dataset.test_samples is not None and dataset.test_samples > num_test:
        raise ConfigError(
            "dataset.test_samples",
            dataset.test_samples,
            f"at most {num_test} (the test split), or null",
            "set dataset.test_samples=null for the whole test split",
        )


def validate(cfg: DictConfig | Mapping[str, Any], known_keys: set[str] | None = None) -> Settings:
    """Check types, ranges, unknown keys and combinations; raise ConfigError on the first problem.

    Returns the typed settings (``.resolved``: the config as plain data). Imports no torch: the fast first gate.
    """
    data: dict[str, Any] = resolved_container(cfg) if isinstance(cfg, DictConfig) else dict(cfg)
    for group in (*CONFIG_GROUPS, "paths"):
        if not isinstance(data.get(group), Mapping):
            raise ConfigError(group, data.get(group), f"a {group} config", f"pick one with {group}=NAME")
    check_replaced_keys({key: lookup(data, key)[1] for key in REPLACED_KEYS if lookup(data, key)[0]})
    check_rules(data)
    check_unknown_keys(data, (known_keys if known_keys is not None else shipped_keys()) | set(RULES_BY_KEY))
    check_per_channel_stats(data["dataset"])
    data["dataset"] = from_the_data(data["dataset"])
    settings = settings_from(data)
    check_dataset_combinations(settings.dataset)
    check_curves_feed_the_objective(settings.trainer.curves, settings.objective)
    return settings


def check_curves_feed_the_objective(curves: tuple[str, ...], objective: str) -> None:
    """``objective=best_val_acc`` is the best per-epoch validation accuracy: it needs the val curve."""
    if objective == "best_val_acc" and "val" not in curves:
        raise ConfigError(
            "trainer.curves",
            list(curves),
            "a list including val when objective=best_val_acc (the best per-epoch validation accuracy)",
            f"trainer.curves=[{','.join([*curves, 'val'])}] or objective=val_acc",
        )
