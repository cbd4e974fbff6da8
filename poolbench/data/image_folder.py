"""A user's own images in torchvision's ImageFolder layout (``dataset=image_folder dataset.root=PATH``).

Two layouts, one class per sub-folder (class indices follow the sorted folder names, as in torchvision):

- ``ROOT/train/CLASS/*`` with optional ``ROOT/val/CLASS/*`` and ``ROOT/test/CLASS/*``;
- ``ROOT/CLASS/*``: one pool of images.

A split that is not on disk is carved out with a fixed seed: the test split (``dataset.test_fraction`` of the
train images, by a permutation seeded with ``dataset.split_seed``), then the validation split as for every
dataset (``dataset.val_fraction``, ``poolbench.data.splits``). Every image is decoded once with Pillow,
converted to ``dataset.channels`` (1: greyscale, 3: RGB) and resized to ``dataset.image_size`` square
(bilinear, antialiased; the aspect ratio is not kept), then cached as uint8 tensors (``poolbench.data.cache``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from poolbench.config.settings import DatasetSettings
from poolbench.data.cache import cache_path, content_key, load_cached, save_cached
from poolbench.data.raw import RawDataset
from poolbench.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLIT_FOLDERS = ("train", "val", "test")
TEST_CARVE_SALT = 0x7E57  # the test carve-out's seed is split_seed + this: a stream of its own


def find_split_folders(root: Path) -> dict[str, Path]:
    """{split: folder} for the splits on disk: train (and val, test) under ``root``, or ``root`` itself as train."""
    if not root.is_dir():
        raise DataError(
            f"dataset.root={root} is not a folder. Fix: point dataset.root=... at a folder in ImageFolder layout "
            "(ROOT/train/CLASS/*.png with optional ROOT/val and ROOT/test, or ROOT/CLASS/*.png)."
        )
    if not (root / "train").is_dir():
        return {"train": root}
    return {split: root / split for split in SPLIT_FOLDERS if (root / split).is_dir()}


def class_folders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def image_files(folder: Path) -> list[Path]:
    """The images under a class folder (sub-folders included, as torchvision's ImageFolder), in sorted order;
    other files (notes, thumbnails databases) are ignored."""
    found = []
    for directory, subdirs, names in os.walk(folder, followlinks=True):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        # hidden files are skipped: macOS leaves "._name.jpg" resource forks beside copied images
        found += [
            Path(directory) / n for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")
        ]
    return found


def list_split(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The classes of one split folder and its (image, class index) pairs; empty or single classes are refused."""
    classes = class_folders(folder)
    if len(classes) < 2:
        found = f"only the class folder {classes[0]!r}" if classes else "no class folders"
        raise DataError(
            f"{folder} has {found}; a classifier needs at least two classes. Fix: put each class's images in a "
            f"sub-folder of its own, e.g. {folder}/cat/1.png and {folder}/dog/1.png."
        )
    samples: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        files = image_files(folder / name)
        if not files:
            raise DataError(
                f"The class folder {folder / name} holds no images ({', '.join(IMAGE_EXTENSIONS)}). Fix: add its "
                "images, or remove the folder."
            )
        samples += [(path, index) for path in files]
    return classes, samples


def check_same_classes(reference: Sequence[str], classes: Sequence[str], folder: Path, train: Path) -> None:
    if list(classes) == list(reference):
        return
    missing, extra = sorted(set(reference) - set(classes)), sorted(set(classes) - set(reference))
    parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"extra {', '.join(extra)}"] if extra else [])
    raise DataError(
        f"The classes of {folder} differ from those of {train}: {'; '.join(parts)}. Fix: give every split the same "
        "class folders (the class index is the position of the folder name in sorted order)."
    )


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


def list_folder(root: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """The class names and each on-disk split's samples, with the classes checked to agree across splits."""
    folders = find_split_folders(root)
    classes, train = list_split(folders["train"])
    splits = {"train": train}
    for split in ("val", "test"):
        if split in folders:
            split_classes, splits[split] = list_split(folders[split])
            check_same_classes(classes, split_classes, folders[split], folders["train"])
    return classes, splits


def decoded_splits(dataset: DatasetSettings, root: Path, data_dir: Path) -> tuple[list[str], dict[str, torch.Tensor]]:
    """The class names and {"{split}_x", "{split}_y"} for each split on disk, the tensors from the cache when
    the folder has not changed."""
    classes, splits = list_folder(root)
    decoding = {"image_size": dataset.image_size, "channels": dataset.channels, "classes": classes}
    files = [path for split in splits.values() for path, _ in split]
    path = cache_path(data_dir, dataset.name, content_key(files, root, decoding))
    cached = load_cached(path)
    if cached is not None:
        return classes, cached
    tensors: dict[str, torch.Tensor] = {}
    for split, samples in splits.items():
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
    check_class_count(dataset, classes, root)
    train_x, train_y = tensors["train_x"], tensors["train_y"]
    if "test_x" in tensors:
        test_x, test_y = tensors["test_x"], tensors["test_y"]
    else:
        train_x, train_y, test_x, test_y = carve_test(train_x, train_y, dataset.test_fraction, dataset.split_seed)
    return RawDataset(
        train_x, train_y, test_x, test_y, source=str(root), val_x=tensors.get("val_x"), val_y=tensors.get("val_y")
    )


def check_class_count(dataset: DatasetSettings, classes: Sequence[str], root: Path) -> None:
    if len(classes) != dataset.num_classes:
        raise DataError(
            f"{root} has {len(classes)} class folders ({', '.join(classes)}), but dataset.num_classes="
            f"{dataset.num_classes}. Fix: set dataset.num_classes={len(classes)}."
        )
