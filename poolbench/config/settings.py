"""Typed settings: one place for the type, the allowed values and (where any) the default of every key.

``Settings`` (the run-level keys), ``PathSettings``, ``TrainerSettings``, ``DatasetSettings``,
``AugmentSettings`` and ``DeploySettings`` are frozen dataclasses. Every field carries its check
(``poolbench.config.checks``) and an example fix; ``poolbench.config.typed`` turns the fields into the rules table that
``poolbench.config.validate`` applies to the composed config, then builds these objects; the code reads only them.

Defaults: the shipped YAMLs under ``conf/`` are the defaults a user sees (``poolbench --cfg job``), so a key that
every shipped YAML of its group sets has no default here (it is required). A field has a default only where
some shipped YAML leaves the key out (kind-specific dataset keys, say); ``tests/test_settings.py`` checks that
no such default differs from a shipped YAML's value.

Why not Hydra's ConfigStore schemas: OmegaConf would type-check while composing and answer a typo or a bad
value with its own message, before poolbench can name the key, what is allowed and the fix; heads and
backbones are open (a user's own ``_target_`` brings its own arguments) and stay plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any

from poolbench.config.catalog import EMNIST_SPLITS
from poolbench.config.catalog import KINDS as DATASET_KINDS
from poolbench.config.checks import (
    AUTO_OR_BOOL,
    COUNT,
    DEVICE,
    FOLDER_NAME,
    FRACTION,
    NON_NEGATIVE,
    OPEN_FRACTION,
    POSITIVE,
    SIZE,
    Boolean,
    Check,
    Choice,
    ChoiceList,
    Number,
    NumberList,
    Rule,
    Text,
)
from poolbench.config.probe_layout import TASKS as PROBE_TASKS
from poolbench.objective import OBJECTIVES

OPTIMIZERS = ("sgd", "adamw")
# Convolution padding of poolbench's backbones: circular makes a global pool exactly invariant to circular shifts
# by multiples of the total stride (no border tells where a feature is; Islam et al., ICLR 2020).
PADDING_MODES = ("zeros", "circular")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
# What the step computes in (poolbench/runtime.py resolve_precision): auto is bf16 autocast on CUDA and on CPUs
# that compute bf16 natively (AVX512-BF16 or AMX), fp32 elsewhere; the run record keeps the resolved value.
PRECISIONS = ("auto", "fp32", "bf16")
# The splits evaluated after every epoch (the learning curves): train (the eval-mode train subset), val and test,
# each only where a curve is wanted; best_val_acc (and objective=best_val_acc) needs the val curve. Final metrics
# (whole train, val and test splits) are always computed.
CURVE_SPLITS = ("train", "val", "test")
# How the translation test fills the border a shift uncovers: "zero" (content leaves the frame, zeros come in)
# or "circular" (content leaving one side comes back on the other, torch.roll). A circular shift loses nothing,
# so a model that is exactly shift-invariant keeps every prediction; zero fill also tests the border.
SHIFT_MODES = ("zero", "circular")
TARGET = Text(r"[\w.]+\.\w+", "the import path of a class")


def setting(check: Check, example: str, *, default: Any = MISSING, optional: bool = False) -> Any:
    """A typed field with its check and example fix; no default means every config must set it."""
    metadata = {"check": check, "example": example, "optional": optional}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple (immutable) default")
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class PathSettings:
    results_dir: str = setting(Text(), "paths.results_dir=results")
    output_dir: str | None = setting(Text(), "leave paths.output_dir to Hydra", optional=True)


@dataclass(frozen=True, kw_only=True)
class TrainerSettings:
    optimizer: str = setting(Choice(OPTIMIZERS), "trainer.optimizer=sgd")
    lr: float = setting(POSITIVE, "trainer.lr=0.05")
    momentum: float = setting(FRACTION, "trainer.momentum=0.9")
    nesterov: bool = setting(Boolean(), "trainer.nesterov=true")
    betas: tuple[float, float] = setting(NumberList(FRACTION, length=2), "trainer.betas=[0.9,0.999]")
    weight_decay: float = setting(NON_NEGATIVE, "trainer.weight_decay=5e-4")
    schedule: str = setting(Choice(SCHEDULES), "trainer.schedule=cosine")
    warmup_epochs: float = setting(NON_NEGATIVE, "trainer.warmup_epochs=0")
    pct_start: float = setting(OPEN_FRACTION, "trainer.pct_start=0.25")
    div_factor: float = setting(Number(1), "trainer.div_factor=10")
    milestones: tuple[float, ...] = setting(NumberList(OPEN_FRACTION, min_length=0), "trainer.milestones=[0.5,0.75]")
    gamma: float = setting(Number(0, 1, low_open=True), "trainer.gamma=0.1")
    label_smoothing: float = setting(FRACTION, "trainer.label_smoothing=0.1")
    grad_clip: float | None = setting(POSITIVE, "trainer.grad_clip=null", optional=True)
    batch_size: int = setting(COUNT, "trainer.batch_size=128")
    eval_batch_size: int = setting(COUNT, "trainer.eval_batch_size=256")
    epochs: int = setting(COUNT, "trainer.epochs=10")  # 0 would record an untrained model as ok
    train_eval_samples: int | None = setting(COUNT, "trainer.train_eval_samples=null", optional=True)
    curves: tuple[str, ...] = setting(ChoiceList(CURVE_SPLITS), "trainer.curves=[train,val,test]")
    device: str = setting(DEVICE, "trainer.device=auto")
    threads: int | None = setting(COUNT, "trainer.threads=null (all cores)", optional=True)
    channels_last: str | bool = setting(AUTO_OR_BOOL, "trainer.channels_last=auto")
    precision: str = setting(Choice(PRECISIONS), "trainer.precision=auto")
    compile: bool = setting(Boolean(), "trainer.compile=false")
    deterministic: bool = setting(Boolean(), "trainer.deterministic=false")
    checkpoint: bool = setting(Boolean(), "trainer.checkpoint=true")
    # Seconds between two epoch-end checkpoints (0: after every epoch); the last epoch's is always written (the
    # weights poolbench-deploy reads). Absent from the shipped YAMLs; the claims presets, whose runs take seconds,
    # save at most every 60 s. Not part of the run key (poolbench.record.NON_SEMANTIC_KEYS).
    checkpoint_interval: float = setting(NON_NEGATIVE, "trainer.checkpoint_interval=60", default=0.0)


@dataclass(frozen=True, kw_only=True)
class AugmentSettings:
    crop_padding: int = setting(SIZE, "dataset.augment.crop_padding=2")
    flip: bool = setting(Boolean(), "dataset.augment.flip=false")


@dataclass(frozen=True, kw_only=True)
class DatasetSettings:
    name: str = setting(FOLDER_NAME, "dataset=fashion_mnist")
    kind: str = setting(Choice(DATASET_KINDS), "dataset=fashion_mnist")
    channels: int = setting(COUNT, "dataset.channels=1")
    image_size: int = setting(COUNT, "dataset.image_size=28")
    # null only for dataset.kind=image_folder, where validation counts the class folders (as torchvision's
    # ImageFolder does) and puts the count in its place: the typed value is always set.
    num_classes: int = setting(Number(2, integer=True), "dataset.num_classes=10", optional=True)
    # One value per channel, or one value for all channels (broadcast); null: measured on the train split.
    mean: tuple[float, ...] | None = setting(NumberList(Number(0, 1)), "dataset.mean=[0.5]", optional=True)
    std: tuple[float, ...] | None = setting(NumberList(Number(0, low_open=True)), "dataset.std=[0.25]", optional=True)
    augment: AugmentSettings
    eval_image_size: int | None = setting(COUNT, "dataset.eval_image_size=null", optional=True)
    eval_shifts: tuple[int, ...] = setting(NumberList(SIZE, min_length=0), "dataset.eval_shifts=[2,4,6]")
    # The fills the translation test uses at each shift (one test pass each). Absent from the shipped dataset
    # YAMLs (their run keys stay): both; the claims cells name only the fills the analysis plan reads.
    shift_fills: tuple[str, ...] = setting(
        ChoiceList(SHIFT_MODES), "dataset.shift_fills=[zero,circular]", default=SHIFT_MODES
    )
    val_fraction: float = setting(FRACTION, "dataset.val_fraction=0.1")
    split_seed: int = setting(Number(0, integer=True), "dataset.split_seed=0")
    # Each seed draws its own training data (split, subset, probe train images); the test split stays fixed.
    # Absent from the shipped dataset YAMLs (their run keys stay), on in the claims grid (poolbench/data/draws.py).
    redraw_per_seed: bool = setting(Boolean(), "dataset.redraw_per_seed=true", default=False)
    train_samples: int | None = setting(COUNT, "dataset.train_samples=null (all)", optional=True)
    # Symmetric label noise: this fraction of the TRAINING labels is moved to another class (poolbench/data/draws.py);
    # validation and test labels stay clean. Absent from the shipped YAMLs (their run keys stay); claims_robust sets it.
    label_noise: float | None = setting(FRACTION, "dataset.label_noise=0.2", default=None, optional=True)
    test_samples: int | None = setting(COUNT, "dataset.test_samples=null (all)", optional=True)
    download: bool = setting(Boolean(), "dataset.download=false", default=True)
    verify_checksums: bool = setting(Boolean(), "dataset.verify_checksums=true", default=True)
    # dataset.kind=synthetic
    train_size: int | None = setting(COUNT, "dataset.train_size=2000", default=None)
    test_size: int | None = setting(COUNT, "dataset.test_size=500", default=None)
    generator_seed: int | None = setting(Number(0, integer=True), "dataset.generator_seed=0", default=None)
    noise: float | None = setting(NON_NEGATIVE, "dataset.noise=0.25", default=None)
    # dataset.kind=image_folder (poolbench/data/image_folder.py)
    root: str | None = setting(Text(), "dataset.root=/path/to/images", default=None, optional=True)
    test_fraction: float = setting(OPEN_FRACTION, "dataset.test_fraction=0.2", default=0.2)
    # Not a key to set: validation puts the image folder's content key here (poolbench/config/folder_layout.py),
    # so the run key, config.yaml and the record say which images a run saw. None for the other kinds.
    content_key: str | None = None
    # dataset.kind=emnist: which of EMNIST's splits (poolbench/config/catalog.py)
    split: str | None = setting(Choice(tuple(EMNIST_SPLITS)), "dataset.split=balanced", default=None, optional=True)
    # dataset.kind=probe (poolbench/data/probes.py); also train_size, test_size, generator_seed, noise
    task: str | None = setting(Choice(PROBE_TASKS), "dataset=probe_presence", default=None, optional=True)
    motif_size: int | None = setting(COUNT, "dataset.motif_size=5", default=None, optional=True)
    distractors: int | None = setting(SIZE, "dataset.distractors=6", default=None)
    majority: tuple[int, int] = setting(NumberList(COUNT, length=2), "dataset.majority=[6,7]", default=(6, 7))
    minority: tuple[int, int] = setting(NumberList(COUNT, length=2), "dataset.minority=[4,5]", default=(4, 5))


@dataclass(frozen=True, kw_only=True)
class TensorBoardSettings:
    flush_secs: int = setting(COUNT, "logger.tensorboard.flush_secs=30")


@dataclass(frozen=True, kw_only=True)
class MlflowSettings:
    # null: a local SQLite store in RESULTS_DIR/mlruns (poolbench/trackers/mlflow_tracker.py)
    tracking_uri: str | None = setting(Text(), "logger.mlflow.tracking_uri=http://localhost:5000", optional=True)
    experiment: str = setting(Text(), "logger.mlflow.experiment=poolbench")
    artifacts: bool = setting(Boolean(), "logger.mlflow.artifacts=true")


@dataclass(frozen=True, kw_only=True)
class WandbSettings:
    project: str = setting(Text(), "logger.wandb.project=poolbench")
    entity: str | None = setting(Text(), "logger.wandb.entity=my-team", optional=True)
    mode: str = setting(Choice(("offline", "online")), "logger.wandb.mode=offline")


@dataclass(frozen=True, kw_only=True)
class LoggerSettings:
    """The trackers a run reports to (``logger=[tensorboard,mlflow]``): a block per tracker, absent when off."""

    tensorboard: TensorBoardSettings | None = None
    mlflow: MlflowSettings | None = None
    wandb: WandbSettings | None = None


@dataclass(frozen=True, kw_only=True)
class DeploySettings:
    """The deployment cost measured after training (``poolbench.deploy``): CPU latency and throughput, model
    size, and accuracy at other input sizes. Timing keys change no result but the timings (non-semantic)."""

    measure: bool = setting(Boolean(), "deploy.measure=false (skip the timing and the other input sizes)")
    # Off in the claims grid: poolbench-deploy times each cell's heads together, interleaved (deploy_timing.py).
    timing: bool = setting(Boolean(), "deploy.timing=false (size and other input sizes only; no latency timing)")
    repeats: int = setting(COUNT, "deploy.repeats=20 (timed batch-1 calls; the median is recorded)")
    batch_repeats: int = setting(COUNT, "deploy.batch_repeats=5 (timed calls at deploy.batch_size)")
    batch_size: int = setting(COUNT, "deploy.batch_size=256")
    threads: int | None = setting(COUNT, "deploy.threads=1 (null: the run's CPU threads)", optional=True)
    eval_sizes: tuple[int, ...] = setting(NumberList(COUNT, min_length=0), "deploy.eval_sizes=[24,32,36]")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The whole validated config of one run. ``backbone`` and ``head`` stay mappings (open components)."""

    name: str = setting(FOLDER_NAME, "name=my_experiment")
    seed: int = setting(Number(0, integer=True), "seed=0")
    data_dir: str = setting(Text(), "data_dir=data")
    progress: bool = setting(Boolean(), "progress=false")
    force: bool = setting(Boolean(), "force=true (rerun even if done)")
    jobs: int = setting(COUNT, "jobs=2 (runs sharing this machine)")
    report_on_sweep_end: bool = setting(Boolean(), "report_on_sweep_end=false")
    # What a sweep's task function returns (poolbench/objective.py): a validation metric, never a test one.
    objective: str = setting(Choice(OBJECTIVES), "objective=val_acc")
    paths: PathSettings
    trainer: TrainerSettings
    dataset: DatasetSettings
    deploy: DeploySettings
    backbone: Mapping[str, Any]
    head: Mapping[str, Any]
    logger: LoggerSettings = field(default_factory=LoggerSettings)  # no tracker where a config has no logger
    resolved: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The resolved config as plain data (what ``config.yaml`` holds and the run key hashes)."""
    run_key: str = field(default="", compare=False)
    """``record.compute_run_key(resolved)``, computed once here: every later step reads this one."""


# Keys of poolbench's own heads and backbones (a user's component is checked against its constructor instead).
COMPONENT_RULES: tuple[Rule, ...] = (
    Rule("backbone.name", FOLDER_NAME, "backbone=small_cnn", required=True),
    Rule("backbone._target_", TARGET, "backbone=small_cnn", required=True),
    Rule("backbone.widths", NumberList(COUNT), "backbone.widths=[32,64,128]"),
    Rule("backbone.depth", COUNT, "backbone.depth=1"),
    Rule("backbone.pool_early", Boolean(), "backbone.pool_early=true"),
    Rule("backbone.base_width", COUNT, "backbone.base_width=16"),
    Rule("backbone.padding_mode", Choice(PADDING_MODES), "backbone.padding_mode=circular"),
    Rule("head.name", FOLDER_NAME, "head=gap", required=True),
    Rule("head._target_", TARGET, "head=gap", required=True),
    Rule("head.p", POSITIVE, "head.p=3"),
    Rule("head.r", POSITIVE, "head.r=10"),
    Rule("head.eps", POSITIVE, "head.eps=1e-6"),
    Rule("head.learn_p", Boolean(), "head.learn_p=true"),
    Rule("head.p_lr_mult", POSITIVE, "head.p_lr_mult=1"),
    Rule("head.per_channel", Boolean(), "head.per_channel=false"),
    Rule("head.hidden", SIZE, "head.hidden=0"),
    Rule("head.dropout", FRACTION, "head.dropout=0.0"),
)
# Keys of a head/backbone config that are for poolbench itself: its label, and the class Hydra instantiates.
COMPONENT_LABEL_KEYS = ("name",)
COMPONENT_META_KEYS = (*COMPONENT_LABEL_KEYS, "_target_")
# Constructor arguments poolbench passes itself: a config must not set them.
COMPONENT_PROVIDED = {"backbone": ("in_channels",), "head": ("in_channels", "num_classes", "feature_size")}
