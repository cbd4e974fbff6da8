"""CIFAR-10 and CIFAR-100 from their pickled batches (``cifar-10-batches-py/``, ``cifar-100-python/`` or the
archives), read in the format the CIFAR page documents: each file a pickled dict whose ``data`` holds one row of
3072 bytes per image (the R, G and B planes, each 32x32 row-major) and whose ``labels`` (CIFAR-10) or
``fine_labels`` (CIFAR-100) hold the classes. Checksums are torchvision's published MD5s
(``poolbench.data.torchvision_sets``)."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from poolbench.data.raw import RawDataset
from poolbench.errors import DataError

CIFAR_TRAIN_FILES = {"cifar10": tuple(f"data_batch_{i}" for i in range(1, 6)), "cifar100": ("train",)}
CIFAR_TEST_FILES = {"cifar10": ("test_batch",), "cifar100": ("test",)}
CIFAR_LABEL_KEYS = {"cifar10": "labels", "cifar100": "fine_labels"}


def read_cifar_file(path: Path, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One pickled batch as uint8 images (N, 3, 32, 32) and int64 labels; a damaged file is named."""
    if not path.is_file():
        raise DataError(f"CIFAR: {path} is missing. Delete the folder and fetch the dataset again.")
    try:
        with open(path, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
        data = entry["data"]
        rows = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data)
        images = rows.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32)
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except Exception as error:  # unpickling a damaged file raises many types
        raise DataError(
            f"CIFAR: {path} is truncated or corrupt ({type(error).__name__}). Delete it and fetch the dataset again."
        ) from None
    if len(labels) != len(images):
        raise DataError(f"CIFAR: {path} holds {len(images)} images but {len(labels)} labels. Fetch it again.")
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def read_cifar_files(folder: Path, names: Sequence[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_cifar_file(folder / name, label_key) for name in names]
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def read_cifar(folder: Path, kind: str) -> RawDataset:
    """CIFAR-10 (``kind="cifar10"``) or CIFAR-100 (fine labels) from its extracted batch folder."""
    label_key = CIFAR_LABEL_KEYS[kind]
    train_x, train_y = read_cifar_files(folder, CIFAR_TRAIN_FILES[kind], label_key)
    test_x, test_y = read_cifar_files(folder, CIFAR_TEST_FILES[kind], label_key)
    return RawDataset(train_x, train_y, test_x, test_y, source=str(folder))
