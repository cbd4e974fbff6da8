"""An image folder read without decoding a pixel (no torch: the config check uses it): its splits on disk, its
classes, its image files, and its content key.

The content key hashes every image file's relative path, size and modification time, the class names and the
decoding settings (image size, channels). It is the folder's identity in two places: the image cache's file
name (``poolbench.data.cache``) and, as ``dataset.content_key`` in the resolved config, the run key
(``poolbench.config.validate``). Adding, removing, replacing or touching an image gives a new key: the images are
decoded again, and a finished run on the old images is trained again instead of being skipped.

A folder is scanned once per process (``scan_folder``), like the tensors ``poolbench.data.load`` keeps:
``forget_loaded`` there forgets both.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolbench.errors import ConfigError, DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLIT_FOLDERS = ("train", "val", "test")
CACHE_FORMAT = 1  # bump when the decoding changes, so old caches (and runs on them) are not reused


@dataclass(frozen=True)
class FolderScan:
    """One image folder as listed: class names, each on-disk split's (image, class index) pairs, content key."""

    classes: tuple[str, ...]
    splits: dict[str, list[tuple[Path, int]]]
    content_key: str


_SCANNED: dict[tuple[str, int, int], FolderScan] = {}


def scan_folder(root: Path, image_size: int, channels: int) -> FolderScan:
    """The folder's classes, splits and content key, listed once per process (``forget_scans`` lists again)."""
    key = (str(root.resolve()), int(image_size), int(channels))
    if key not in _SCANNED:
        classes, splits = list_folder(root)
        decoding = {"image_size": int(image_size), "channels": int(channels), "classes": classes}
        files = [path for split in splits.values() for path, _ in split]
        _SCANNED[key] = FolderScan(tuple(classes), splits, content_key(files, root, decoding))
    return _SCANNED[key]


def counted_classes(classes: Sequence[str], root: Path, num_classes: int | None) -> int:
    """The number of class folders; an explicit ``dataset.num_classes`` must equal it (null: counted, as
    torchvision's ImageFolder does)."""
    if num_classes is not None and num_classes != len(classes):
        raise ConfigError(
            "dataset.num_classes",
            num_classes,
            f"{len(classes)}: the class folders of {root} ({', '.join(classes)})",
            f"set dataset.num_classes={len(classes)}, or null to count the folders",
        )
    return len(classes)


def forget_scans() -> None:
    _SCANNED.clear()


def content_key(files: Iterable[Path], root: Path, decoding: dict[str, Any]) -> str:
    """Hex digest of (relative path, size, mtime in ns) of every file and of the decoding settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": CACHE_FORMAT, **decoding}, sort_keys=True).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"\0{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


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
