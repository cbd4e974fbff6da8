"""What poolbench knows about each dataset kind without loading it (no torch: the config check uses it)."""

from __future__ import annotations

KINDS = (
    "fashion_mnist",
    "cifar10",
    "synthetic",
    "mnist",
    "kmnist",
    "emnist",
    "cifar100",
    "svhn",
    "stl10",
    "image_folder",
    "probe",
)
# EMNIST's splits: (train, test) sizes and classes (letters: 26, its labels 1..26 read as 0..25).
EMNIST_SPLITS = {
    "byclass": ((697_932, 116_323), 62),
    "bymerge": ((697_932, 116_323), 47),
    "balanced": ((112_800, 18_800), 47),
    "letters": ((124_800, 20_800), 26),
    "digits": ((240_000, 40_000), 10),
    "mnist": ((60_000, 10_000), 10),
}
# (train, test) split sizes of the real datasets, known without loading them.
SPLIT_SIZES = {
    "fashion_mnist": (60_000, 10_000),
    "cifar10": (50_000, 10_000),
    "mnist": (60_000, 10_000),
    "kmnist": (60_000, 10_000),
    "cifar100": (50_000, 10_000),
    "svhn": (73_257, 26_032),
    "stl10": (5_000, 8_000),
}
# Classes of the real datasets (EMNIST: per split, above).
CLASS_COUNTS = {"fashion_mnist": 10, "cifar10": 10, "mnist": 10, "kmnist": 10, "cifar100": 100, "svhn": 10, "stl10": 10}
# Keys (under dataset.) that a kind needs beyond the common ones.
KIND_KEYS = {
    "synthetic": ("train_size", "test_size", "generator_seed", "noise"),
    "image_folder": ("root",),
    "emnist": ("split",),
    "probe": ("train_size", "test_size", "generator_seed", "noise", "task", "motif_size", "distractors"),
}
# Kinds that read nothing from data_dir.
GENERATED_KINDS = ("synthetic", "probe")


def split_sizes(
    kind: str, train_size: int | None = None, test_size: int | None = None, split: str | None = None
) -> tuple[int, int] | None:
    """(train, test) sizes of a dataset's splits before the validation carve-out, if known without loading
    (a generated kind's sizes are its ``train_size`` and ``test_size``; EMNIST's depend on its ``split``)."""
    if kind in GENERATED_KINDS and train_size is not None and test_size is not None:
        return train_size, test_size
    if kind == "emnist" and split in EMNIST_SPLITS:
        return EMNIST_SPLITS[split][0]
    return SPLIT_SIZES.get(kind)


def class_count(kind: str, split: str | None = None) -> int | None:
    """How many classes the dataset has, if known without loading it."""
    if kind == "emnist" and split in EMNIST_SPLITS:
        return EMNIST_SPLITS[split][1]
    return CLASS_COUNTS.get(kind)
