"""A user's own images in torchvision's ImageFolder layout (``dataset=image_folder dataset.root=PATH``).

Two layouts, one class per sub-folder (class indices follow the sorted folder names, as in torchvision):

- ``ROOT/train/CLASS/*`` with optional ``ROOT/val/CLASS/*`` and ``ROOT/test/CLASS/*``;
- ``ROOT/CLASS/*``: one pool of images.

A split that is not on disk is carved out with a fixed seed: the test split (``dataset.test_fraction`` of the
train images, by a permutation seeded with ``dataset.split_seed``), then the validation split as for every
dataset (``dataset.val_fraction``, ``poolbench.data.splits``). Every image is decoded once with Pillow,
converted to ``dataset.channels`` (1: greyscale, 3: RGB) and resized to ``dataset.image_size`` square
(bilinear, antialiased; the aspect ratio is not kept), then cached as uint8 tensors (``poolbench.data.cache``)
under the folder's content key (``poolbench.config.folder_layout``, which lists the folder without decoding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from poolbench.config.folder_layout import counted_classes, scan_folder
from poolbench.config.settings import DatasetSettings
from poolbench.data.cache import cache_path, load_cached, save_cached
from poolbench.data.raw import RawDataset
from poolbench.errors import DataError

TEST_CARVE_SALT = 0x7E57  # the test carve-out's seed is split_seed + this: a stream of its own


def decode_image(path: Path, channels: int, size: int) -> np.ndarray:
    """One image as uint8 (channels, size, size); an unreadable file raises a DataError naming it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            converted = image.convert("L" if channels == 1 else "RGB")
            if converted.size != (size, size):
                converted = converted.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
            pixels = np.asarray(converted, dtype=np.uint8)
    except Exception as error:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ... for bad files
        raise DataError(
            f"Cannot read the image {path} ({type(error).__name__}: {error}). Fix: replace or remove the file."
        ) from None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def decode_split(samples: Sequence[tuple[Path, int]], channels: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All of a split's images as uint8 (N, C, size, size) and labels (N,); decoded on a few threads (Pillow
    releases the GIL while it decodes)."""
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        arrays = list(pool.map(lambda sample: decode_image(sample[0], channels, size), samples))
    images = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, channels, size, size, dtype=torch.uint8)
    return images, torch.tensor([label for _, label in samples], dtype=torch.int64)


def decoded_splits(dataset: DatasetSettings, root: Path, data_dir: Path) -> tuple[list[str], dict[str, torch.Tensor]]:
    """The class names and {"{split}_x", "{split}_y"} for each split on disk, the tensors from the cache when
    the folder has not changed."""
    scan = scan_folder(root, dataset.image_size, dataset.channels)
    if dataset.content_key is not None and dataset.content_key != scan.content_key:
        raise DataError(
            f"The images under {root} changed while poolbench was starting (content key {dataset.content_key}, now "
            f"{scan.content_key}). Fix: rerun once the folder is complete."
        )
    classes = list(scan.classes)
    path = cache_path(data_dir, dataset.name, scan.content_key)
    cached = load_cached(path)
    if cached is not None:
        return classes, cached
    tensors: dict[str, torch.Tensor] = {}
    for split, samples in scan.splits.items():
        tensors[f"{split}_x"], tensors[f"{split}_y"] = decode_split(samples, dataset.channels, dataset.image_size)
    save_cached(path, tensors)
    return classes, tensors


def carve_test(
    images: torch.Tensor, labels: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y): ``fraction`` of the images moved to test by a seeded permutation."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(int(seed) + TEST_CARVE_SALT))
    count = round(len(labels) * fraction)
    if count < 1 or count >= len(labels):
        raise DataError(
            f"dataset.test_fraction={fraction} of {len(labels)} images leaves an empty train or test split. Fix: "
            "add images, change dataset.test_fraction, or give the folder a test/ split."
        )
    test, train = order[:count].sort().values, order[count:].sort().values
    return images[train], labels[train], images[test], labels[test]


def load_image_folder(dataset: DatasetSettings, data_dir: Path) -> RawDataset:
    assert dataset.root is not None  # required for this kind (poolbench.config.catalog.KIND_KEYS)
    root = Path(dataset.root).expanduser()
    classes, tensors = decoded_splits(dataset, root, data_dir)
    counted_classes(classes, root, dataset.num_classes)
    train_x, train_y = tensors["train_x"], tensors["train_y"]
    if "test_x" in tensors:
        test_x, test_y = tensors["test_x"], tensors["test_y"]
    else:
        train_x, train_y, test_x, test_y = carve_test(train_x, train_y, dataset.test_fraction, dataset.split_seed)
    return RawDataset(
        train_x, train_y, test_x, test_y, source=str(root), val_x=tensors.get("val_x"), val_y=tensors.get("val_y")
    )
