"""Readers of on-disk dataset formats that torchvision downloads: IDX folders (MNIST, KMNIST), SVHN's MATLAB
files and STL-10's raw binaries. Each returns a ``RawDataset`` of uint8 (N, C, H, W) images; a damaged file
raises a ``DataError`` that names it. (CIFAR's pickled batches: ``poolbench.data.cifar``.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from poolbench.data.idx import _find_idx_set, _raw_from_idx
from poolbench.data.raw import RawDataset
from poolbench.errors import DataError

STL10_SIDE = 96


def damaged(path: Path, why: str) -> DataError:
    return DataError(f"{path} {why}. Delete it and fetch the dataset again.")


def read_idx_folder(folder: Path) -> RawDataset:
    """The four IDX files (plain or gzipped) of an MNIST-style folder."""
    files = _find_idx_set(folder)
    if files is None:
        raise DataError(f"{folder} lacks one of the four *-ubyte files. Fetch the dataset again.")
    return _raw_from_idx(files, str(folder))


EMNIST_PARTS = {
    "train_x": "train-images-idx3",
    "train_y": "train-labels-idx1",
    "test_x": "test-images-idx3",
    "test_y": "test-labels-idx1",
}


def emnist_files(split: str) -> dict[str, str]:
    """{train_x, train_y, test_x, test_y: file name} of one EMNIST split (plain; the ``.gz`` is accepted too)."""
    return {key: f"emnist-{split}-{part}-ubyte" for key, part in EMNIST_PARTS.items()}


def read_emnist(folder: Path, split: str) -> RawDataset:
    """EMNIST's IDX files of one split. Its images are stored transposed (column-major): they are turned upright
    here. The letters split's labels 1..26 become 0..25 (torchvision keeps an empty class 0)."""
    files = {key: folder / name for key, name in emnist_files(split).items()}
    found = {key: path if path.is_file() else path.with_name(f"{path.name}.gz") for key, path in files.items()}
    raw = _raw_from_idx(found, str(folder))
    raw.train_x, raw.test_x = raw.train_x.transpose(2, 3).contiguous(), raw.test_x.transpose(2, 3).contiguous()
    if split == "letters":
        raw.train_y, raw.test_y = raw.train_y - 1, raw.test_y - 1
    return raw


def read_svhn_split(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """SVHN's cropped-digits MATLAB file: ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) with digit 0 stored as 10."""
    from scipy.io import loadmat

    try:
        content = loadmat(str(path))
        images, labels = np.asarray(content["X"]), np.asarray(content["y"]).reshape(-1).astype(np.int64)
    except Exception as error:  # scipy raises ValueError, OSError, KeyError... for damaged files
        raise damaged(path, f"is truncated or not SVHN's format ({type(error).__name__}: {error})") from None
    if images.ndim != 4 or images.shape[:3] != (32, 32, 3) or images.shape[3] != len(labels):
        raise damaged(path, f"holds X of shape {images.shape} and {len(labels)} labels, not (32, 32, 3, N) and N")
    labels[labels == 10] = 0
    nchw = np.ascontiguousarray(images.transpose(3, 2, 0, 1)).astype(np.uint8, copy=False)
    return torch.from_numpy(nchw), torch.from_numpy(labels)


def read_svhn(folder: Path) -> RawDataset:
    train_x, train_y = read_svhn_split(folder / "train_32x32.mat")
    test_x, test_y = read_svhn_split(folder / "test_32x32.mat")
    return RawDataset(train_x, train_y, test_x, test_y, source=str(folder))


def read_stl10_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """STL-10's ``{split}_X.bin`` (uint8, each image C x W x H, column-major) and ``{split}_y.bin`` (1..10)."""
    images_path, labels_path = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    pixels = np.fromfile(images_path, dtype=np.uint8)
    labels = np.fromfile(labels_path, dtype=np.uint8).astype(np.int64) - 1
    per_image = 3 * STL10_SIDE * STL10_SIDE
    if pixels.size % per_image:
        raise damaged(images_path, f"has {pixels.size} bytes, not a multiple of {per_image} (one 3x96x96 image)")
    if pixels.size // per_image != len(labels):
        raise damaged(labels_path, f"holds {len(labels)} labels for {pixels.size // per_image} images")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise damaged(labels_path, "holds labels outside 1..10")
    images = pixels.reshape(-1, 3, STL10_SIDE, STL10_SIDE).transpose(0, 1, 3, 2)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def read_stl10(folder: Path) -> RawDataset:
    train_x, train_y = read_stl10_split(folder, "train")
    test_x, test_y = read_stl10_split(folder, "test")
    return RawDataset(train_x, train_y, test_x, test_y, source=str(folder))
