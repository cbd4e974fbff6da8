"""What poolbench knows about each dataset kind without loading it (no torch: the config check uses it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KINDS = ("fashion_mnist", "cifar10", "synthetic", "probe")
# (train, test) split sizes of the real datasets, known without loading them.
SPLIT_SIZES = {"fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000)}
# Keys (under dataset.) that a kind needs beyond the common ones.
KIND_KEYS = {
    "synthetic": ("train_size", "test_size", "generator_seed"),
    "probe": ("train_size", "test_size", "generator_seed", "task", "motif_size"),
}
# Kinds that read nothing from data_dir.
GENERATED_KINDS = ("synthetic", "probe")


def split_sizes(dataset: Mapping[str, Any]) -> tuple[int, int] | None:
    """(train, test) sizes of the dataset's splits before the validation carve-out, if known without loading."""
    kind = dataset.get("kind")
    if kind in GENERATED_KINDS:
        return int(dataset["train_size"]), int(dataset["test_size"])
    return SPLIT_SIZES.get(str(kind))
