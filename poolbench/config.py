"""Validation of the composed config, in one place, before any work starts.

One table, ``RULES``, says for every key what it may hold; ``validate(cfg)`` walks it, then rejects keys that no
rule and no shipped YAML knows (with a "did you mean"), then checks combinations of keys (dataset sizes, mean/std
per channel). It imports no torch, so a typo costs about a second. Checks that need the code of a component
(constructor arguments of a head or backbone ``_target_``) are in ``validate_components``.

Why explicit rules rather than structured-config dataclasses: heads and backbones are open (a user's own
``_target_`` brings its own arguments), ``dataset`` holds kind-specific keys, and a rule gives each key its own
"allowed" text and example fix. Every failure raises ``ConfigError(key, value, allowed, fix)``: one paragraph,
exit code 2.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from poolbench.errors import ConfigError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
DATASET_KINDS = ("fashion_mnist", "cifar10", "synthetic")
# (train, test) split sizes of the real datasets, known without loading them.
DATASET_SIZES = {"fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000)}
# Keys of a head/backbone config that are for poolbench itself, not constructor arguments (see models.classifier).
COMPONENT_META_KEYS = ("name", "_target_")
# Constructor arguments poolbench passes itself: a config must not set them.
COMPONENT_PROVIDED = {"backbone": ("in_channels",), "head": ("in_channels", "num_classes", "feature_size")}


def find_conf_dir() -> Path | None:
    """The shipped configs: inside the package (wheel) or at the top of the source tree (editable/dev)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "conf", package_dir.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    return None


# ----------------------------------------------------------------------------------------------- value checks
class Check(Protocol):
    def accepts(self, value: Any) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Number:
    """A real number (or an integer) within optional bounds; booleans and strings are not numbers."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.integer and not isinstance(value, numbers.Integral):
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{kind} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{kind} {'<' if self.high_open else '<='} {self.high:g}"
        return kind


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return any(value == option and type(value) is type(option) for option in self.options)

    def describe(self) -> str:
        return "one of " + ", ".join(str(o).lower() if isinstance(o, bool) else str(o) for o in self.options)


@dataclass(frozen=True)
class Boolean:
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Text:
    pattern: str = r".+"
    description: str = "a non-empty string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class NumberList:
    item: Number
    length: int | None = None
    min_length: int = 1

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or len(value) < self.min_length:
            return False
        return (self.length is None or len(value) == self.length) and all(self.item.accepts(v) for v in value)

    def describe(self) -> str:
        size = f"{self.length} " if self.length is not None else ""
        return f"a list of {size}values, each {self.item.describe()}"


@dataclass(frozen=True)
class Rule:
    """What one config key may hold. ``optional``: null allowed. ``required``: the key must be present."""

    key: str
    check: Check
    example: str
    optional: bool = False
    required: bool = False

    def allowed(self) -> str:
        return self.check.describe() + (", or null" if self.optional else "")


POSITIVE = Number(0, low_open=True)
NON_NEGATIVE = Number(0)
FRACTION = Number(0, 1, high_open=True)  # [0, 1)
OPEN_FRACTION = Number(0, 1, low_open=True, high_open=True)  # (0, 1)
COUNT = Number(1, integer=True)
SIZE = Number(0, integer=True)
AUTO_OR_BOOL = Choice(("auto", True, False))
FOLDER_NAME = Text(r"[^/\\]+", "a folder name (no slashes)")
DEVICE = Text(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N or mps")

RULES: tuple[Rule, ...] = (
    # top level
    Rule("name", FOLDER_NAME, "name=my_experiment", required=True),
    Rule("seed", Number(0, integer=True), "seed=0", required=True),
    Rule("data_dir", Text(), "data_dir=data", required=True),
    Rule("progress", Boolean(), "progress=false"),
    Rule("force", Boolean(), "force=true (rerun even if done)"),
    Rule("jobs", COUNT, "jobs=2 (runs sharing this machine)"),
    Rule("report_on_sweep_end", Boolean(), "report_on_sweep_end=false"),
    Rule("paths.results_dir", Text(), "paths.results_dir=results", required=True),
    Rule("paths.output_dir", Text(), "leave paths.output_dir to Hydra", optional=True),
    # trainer
    Rule("trainer.optimizer", Choice(OPTIMIZERS), "trainer.optimizer=sgd", required=True),
    Rule("trainer.lr", POSITIVE, "trainer.lr=0.05", required=True),
    Rule("trainer.momentum", FRACTION, "trainer.momentum=0.9"),
    Rule("trainer.nesterov", Boolean(), "trainer.nesterov=true"),
    Rule("trainer.betas", NumberList(FRACTION, length=2), "trainer.betas=[0.9,0.999]"),
    Rule("trainer.weight_decay", NON_NEGATIVE, "trainer.weight_decay=5e-4"),
    Rule("trainer.schedule", Choice(SCHEDULES), "trainer.schedule=cosine", required=True),
    Rule("trainer.warmup_epochs", NON_NEGATIVE, "trainer.warmup_epochs=0"),
    Rule("trainer.pct_start", OPEN_FRACTION, "trainer.pct_start=0.25"),
    Rule("trainer.div_factor", Number(1), "trainer.div_factor=10"),
    Rule("trainer.milestones", NumberList(OPEN_FRACTION, min_length=0), "trainer.milestones=[0.5,0.75]"),
    Rule("trainer.gamma", Number(0, 1, low_open=True), "trainer.gamma=0.1"),
    Rule("trainer.label_smoothing", FRACTION, "trainer.label_smoothing=0.1"),
    Rule("trainer.grad_clip", POSITIVE, "trainer.grad_clip=null", optional=True),
    Rule("trainer.batch_size", COUNT, "trainer.batch_size=128", required=True),
    Rule("trainer.eval_batch_size", COUNT, "trainer.eval_batch_size=256"),
    Rule("trainer.epochs", SIZE, "trainer.epochs=10", required=True),
    Rule("trainer.train_eval_samples", COUNT, "trainer.train_eval_samples=null", optional=True),
    Rule("trainer.device", DEVICE, "trainer.device=auto"),
    Rule("trainer.threads", COUNT, "trainer.threads=null (all cores)", optional=True),
    Rule("trainer.channels_last", AUTO_OR_BOOL, "trainer.channels_last=auto"),
    Rule("trainer.amp", AUTO_OR_BOOL, "trainer.amp=auto"),
    Rule("trainer.compile", Boolean(), "trainer.compile=false"),
    Rule("trainer.deterministic", Boolean(), "trainer.deterministic=false"),
    Rule("trainer.checkpoint", Boolean(), "trainer.checkpoint=true"),
    # dataset
    Rule("dataset.name", FOLDER_NAME, "dataset=fashion_mnist", required=True),
    Rule("dataset.kind", Choice(DATASET_KINDS), "dataset=fashion_mnist"),
    Rule("dataset.channels", COUNT, "dataset.channels=1", required=True),
    Rule("dataset.image_size", COUNT, "dataset.image_size=28", required=True),
    Rule("dataset.eval_image_size", COUNT, "dataset.eval_image_size=null", optional=True),
    Rule("dataset.eval_shifts", NumberList(SIZE, min_length=0), "dataset.eval_shifts=[2,4,6]"),
    Rule("dataset.num_classes", Number(2, integer=True), "dataset.num_classes=10", required=True),
    Rule("dataset.mean", NumberList(Number(0, 1)), "dataset.mean=[0.5]", required=True),
    Rule("dataset.std", NumberList(Number(0, low_open=True)), "dataset.std=[0.25]", required=True),
    Rule("dataset.val_fraction", FRACTION, "dataset.val_fraction=0.1"),
    Rule("dataset.split_seed", Number(0, integer=True), "dataset.split_seed=0"),
    Rule("dataset.train_samples", COUNT, "dataset.train_samples=null (all)", optional=True),
    Rule("dataset.test_samples", COUNT, "dataset.test_samples=null (all)", optional=True),
    Rule("dataset.download", Boolean(), "dataset.download=false"),
    Rule("dataset.verify_checksums", Boolean(), "dataset.verify_checksums=true"),
    Rule("dataset.augment.crop_padding", SIZE, "dataset.augment.crop_padding=2"),
    Rule("dataset.augment.flip", Boolean(), "dataset.augment.flip=false"),
    Rule("dataset.train_size", COUNT, "dataset.train_size=2000"),
    Rule("dataset.test_size", COUNT, "dataset.test_size=500"),
    Rule("dataset.generator_seed", Number(0, integer=True), "dataset.generator_seed=0"),
    Rule("dataset.noise", NON_NEGATIVE, "dataset.noise=0.25"),
    # components: the keys poolbench's own heads and backbones take (unknown ones are checked by signature)
    Rule("backbone.name", FOLDER_NAME, "backbone=small_cnn", required=True),
    Rule("backbone._target_", Text(r"[\w.]+\.\w+", "the import path of a class"), "backbone=small_cnn", required=True),
    Rule("backbone.widths", NumberList(COUNT), "backbone.widths=[32,64,128]"),
    Rule("backbone.depth", COUNT, "backbone.depth=1"),
    Rule("backbone.pool_early", Boolean(), "backbone.pool_early=true"),
    Rule("backbone.base_width", COUNT, "backbone.base_width=16"),
    Rule("head.name", FOLDER_NAME, "head=gap", required=True),
    Rule("head._target_", Text(r"[\w.]+\.\w+", "the import path of a class"), "head=gap", required=True),
    Rule("head.p", POSITIVE, "head.p=3"),
    Rule("head.r", POSITIVE, "head.r=10"),
    Rule("head.eps", POSITIVE, "head.eps=1e-6"),
    Rule("head.learn_p", Boolean(), "head.learn_p=true"),
    Rule("head.per_channel", Boolean(), "head.per_channel=false"),
    Rule("head.hidden", SIZE, "head.hidden=0"),
    Rule("head.dropout", FRACTION, "head.dropout=0.0"),
)
RULES_BY_KEY = {rule.key: rule for rule in RULES}
SYNTHETIC_KEYS = ("dataset.train_size", "dataset.test_size", "dataset.generator_seed")
# Groups whose every key must be known (a rule or a shipped YAML); head/backbone keys are checked by signature.
CLOSED_GROUPS = ("", "paths", "trainer", "dataset", "dataset.augment")
CONFIG_GROUPS = ("backbone", "head", "dataset", "trainer")


# ----------------------------------------------------------------------------------------------- helpers
def resolved_container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data with interpolations resolved; an interpolation that fails names its key.

    ``paths.output_dir`` is left as written (it needs Hydra's runtime), and a config without ``hydra`` node works.
    """
    data: dict[str, Any] = {}
    for key in cfg.keys():
        if key == "hydra":
            continue
        try:
            if key == "paths":  # output_dir stays as written: it needs Hydra's runtime
                paths, raw = cfg[key], OmegaConf.to_container(cfg[key], resolve=False)
                data[key] = {k: raw[k] if k == "output_dir" else _resolve(paths, k) for k in paths}  # type: ignore[index]
            else:
                data[str(key)] = _resolve(cfg, key)
        except OmegaConfBaseException as error:
            full_key = getattr(error, "full_key", None) or str(key)
            _, raw = lookup(OmegaConf.to_container(cfg, resolve=False), full_key)  # type: ignore[arg-type]
            raise ConfigError(
                full_key, raw, "a value, or an interpolation that resolves",
                f"check the ${{...}} in {full_key} ({str(error).splitlines()[0]})",
            ) from None  # fmt: skip
    return data


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


def flat_keys(data: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    """Dotted paths of all leaves and sub-dicts of a nested dict."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            yield from flat_keys(value, f"{path}.")


def shipped_keys(conf_dir: Path | None = None) -> set[str]:
    """Every dotted key that the shipped YAMLs define (top level, paths, trainer/*, dataset/*)."""
    return set(_shipped_keys(conf_dir or find_conf_dir()))


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
        if group not in CLOSED_GROUPS or key in known or key in CONFIG_GROUPS:
            continue
        suggestion = did_you_mean(key, {k for k in known if k.rpartition(".")[0] == group} or known)
        _, value = lookup(data, key)
        fix = f"did you mean {suggestion}={_show(value)}?" if suggestion else "remove it"
        choices = {k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == group}
        choices |= set() if group else set(CONFIG_GROUPS)
        allowed = f"the keys of {group or 'the top level'}: {', '.join(sorted(choices))}"
        raise ConfigError(key, value, allowed, fix, problem="Unknown config key")


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value).replace(" ", "")


def split_sizes(dataset: Mapping[str, Any]) -> tuple[int, int] | None:
    """(train, test) sizes of the dataset's splits before the validation carve-out, if known without loading."""
    kind = dataset.get("kind", dataset.get("name"))
    if kind == "synthetic":
        return int(dataset["train_size"]), int(dataset["test_size"])
    return DATASET_SIZES.get(str(kind))


def check_dataset_combinations(dataset: Mapping[str, Any]) -> None:
    channels = dataset["channels"]
    for key in ("mean", "std"):
        if len(dataset[key]) != channels:
            raise ConfigError(
                f"dataset.{key}", dataset[key], f"one value per channel ({channels})", f"give {channels} value(s)"
            )
    eval_size = dataset.get("eval_image_size") or dataset["image_size"]
    too_far = [pixels for pixels in dataset.get("eval_shifts") or () if pixels >= eval_size]
    if too_far:
        raise ConfigError("dataset.eval_shifts", dataset["eval_shifts"],
                          f"pixel shifts below the test image size ({eval_size}); {too_far} would move the whole image out",
                          "e.g. dataset.eval_shifts=[2,4,6]")  # fmt: skip
    kind = dataset.get("kind", dataset.get("name"))
    if kind == "synthetic":
        for key in SYNTHETIC_KEYS:
            if not lookup({"dataset": dataset}, key)[0]:
                raise ConfigError(key, None, "required by dataset.kind=synthetic", f"e.g. {RULES_BY_KEY[key].example}",
                                  problem="Missing config key")  # fmt: skip
    elif kind not in DATASET_SIZES:
        raise ConfigError("dataset.kind", kind, Choice(DATASET_KINDS).describe(), "pick dataset=fashion_mnist")
    sizes = split_sizes(dataset)
    if sizes is None:
        return
    num_train, num_test = sizes
    num_val = int(round(num_train * float(dataset.get("val_fraction", 0.1))))
    available = num_train - num_val
    if available < 1:
        raise ConfigError("dataset.val_fraction", dataset.get("val_fraction"), f"a fraction that leaves train images "
                          f"(the train split has {num_train})", "lower dataset.val_fraction")  # fmt: skip
    train_samples = dataset.get("train_samples")
    if train_samples is not None and train_samples > available:
        raise ConfigError(
            "dataset.train_samples", train_samples,
            f"at most {available} (the {num_train} train images minus {num_val} carved out for validation), or null",
            f"set dataset.train_samples={available} or null for all, or lower dataset.val_fraction",
        )  # fmt: skip
    test_samples = dataset.get("test_samples")
    if test_samples is not None and test_samples > num_test:
        raise ConfigError("dataset.test_samples", test_samples, f"at most {num_test} (the test split), or null",
                          "set dataset.test_samples=null for the whole test split")  # fmt: skip


def validate(cfg: DictConfig | Mapping[str, Any], known_keys: set[str] | None = None) -> dict[str, Any]:
    """Check types, ranges, unknown keys and combinations; raise ConfigError on the first problem.

    Returns the resolved config as plain data. Imports no torch: this is the fast first gate.
    """
    data = resolved_container(cfg) if isinstance(cfg, DictConfig) else dict(cfg)
    for group in (*CONFIG_GROUPS, "paths"):
        if not isinstance(data.get(group), Mapping):
            raise ConfigError(group, data.get(group), f"a {group} config", f"pick one with {group}=NAME")
    check_rules(data)
    check_unknown_keys(data, (known_keys if known_keys is not None else shipped_keys()) | set(RULES_BY_KEY))
    check_dataset_combinations(data["dataset"])
    return data


def validate_components(data: Mapping[str, Any]) -> None:
    """Head and backbone keys must be arguments of their ``_target_`` class (imports it; it may import torch)."""
    from hydra.utils import get_class

    for group in ("backbone", "head"):
        component = data[group]
        target = component["_target_"]
        try:
            cls = get_class(target)
        except Exception as error:
            reason = str(error).splitlines()[0]
            fix = f"check the spelling, or pick a shipped {group} with {group}=NAME ({reason})"
            raise ConfigError(f"{group}._target_", target, "the import path of an existing class", fix) from None
        check_constructor_arguments(group, cls, component)


def constructor_arguments(cls: type) -> list[str] | None:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the base classes; None if open-ended."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters
        plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names += [name for name, p in parameters.items() if name != "self" and p.kind in plain]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return list(dict.fromkeys(names))
        if klass.__module__.startswith("torch."):
            break
    return None


def check_constructor_arguments(group: str, cls: type, component: Mapping[str, Any]) -> None:
    accepted_all = constructor_arguments(cls)
    if accepted_all is None:
        return
    provided = COMPONENT_PROVIDED[group]
    accepted = [name for name in accepted_all if name not in provided]
    for key, value in component.items():
        if key in COMPONENT_META_KEYS or key in accepted:
            continue
        if key in provided:
            raise ConfigError(f"{group}.{key}", value, f"not set by hand: poolbench passes {key} to {cls.__name__}",
                              f"remove {group}.{key}")  # fmt: skip
        suggestion = did_you_mean(key, accepted)
        raise ConfigError(
            f"{group}.{key}", value, f"the arguments of {cls.__name__}: {', '.join(accepted) or 'none'}",
            f"did you mean {group}.{suggestion}={_show(value)}?" if suggestion else f"remove {group}.{key}",
            problem="Unknown config key",
        )  # fmt: skip
