"""What poolbench knows about each dataset kind without loading it (no torch: the config check uses it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KINDS = ("fashion_mnist", "cifar10", "synthetic", "mnist", "kmnist", "cifar100", "svhn", "stl10", "image_folder")
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
# Keys (under dataset.) that a kind needs beyond the common ones.
KIND_KEYS = {"synthetic": ("train_size", "test_size", "generator_seed"), "image_folder": ("root",)}
# Kinds that read nothing from data_dir.
GENERATED_KINDS = ("synthetic",)


def split_sizes(dataset: Mapping[str, Any]) -> tuple[int, int] | None:
    """(train, test) sizes of the dataset's splits before the validation carve-out, if known without loading."""
    kind = dataset.get("kind")
    if kind == "synthetic":
        return int(dataset["train_size"]), int(dataset["test_size"])
    return SPLIT_SIZES.get(str(kind))
