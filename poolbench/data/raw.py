"""``RawDataset``: a dataset's whole train and test splits as uint8 tensors on the CPU, before any split."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from poolbench.config.settings import DatasetSettings
from poolbench.errors import DataError


@dataclass
class RawDataset:
    """Whole train and test splits as uint8 images (N, C, H, W) and int64 labels (N,), on the CPU.

    ``val_x``/``val_y``: a validation split the source ships itself (an image folder's ``val/``); None: carved
    from train (``poolbench.data.splits``)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None


def check_matches_config(raw: RawDataset, dataset: DatasetSettings) -> None:
    """The images have the channels and size the config promises (a user's dataset config may not)."""
    channels, height, width = raw.train_x.shape[1:]
    if (channels, height, width) != (dataset.channels, dataset.image_size, dataset.image_size):
        raise DataError(
            f"Dataset {dataset.name} from {raw.source} has images of {channels}x{height}x{width}, but the config "
            f"says channels={dataset.channels}, image_size={dataset.image_size}. Fix the dataset config."
        )
    labels = [y for y in (raw.train_y, raw.test_y, raw.val_y) if y is not None and len(y)]
    low, high = min(int(y.min()) for y in labels), max(int(y.max()) for y in labels)
    if low < 0 or high >= dataset.num_classes:
        raise DataError(
            f"Dataset {dataset.name} from {raw.source} has labels {low}..{high}, but the config says "
            f"num_classes={dataset.num_classes} (labels 0..{dataset.num_classes - 1}). Fix: set "
            f"dataset.num_classes={high + 1}, or check the files."
        )
