"""What poolbench knows about each dataset kind without loading it (no torch: the config check uses it)."""

from __future__ import annotations

KINDS = ("fashion_mnist", "cifar10", "synthetic")
# (train, test) split sizes of the real datasets, known without loading them.
SPLIT_SIZES = {"fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000)}
# Keys (under dataset.) that a kind needs beyond the common ones.
KIND_KEYS = {"synthetic": ("train_size", "test_size", "generator_seed")}
# Kinds that read nothing from data_dir.
GENERATED_KINDS = ("synthetic",)


def split_sizes(kind: str, train_size: int | None = None, test_size: int | None = None) -> tuple[int, int] | None:
    """(train, test) sizes of a dataset's splits before the validation carve-out, if known without loading
    (a generated kind's sizes are its ``train_size`` and ``test_size``)."""
    if kind in GENERATED_KINDS and train_size is not None and test_size is not None:
        return train_size, test_size
    return SPLIT_SIZES.get(kind)
