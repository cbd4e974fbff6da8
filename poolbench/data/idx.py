"""FashionMNIST from its IDX files: ``data_dir/FashionMNIST/raw``, then system copies (Debian's
``dataset-fashion-mnist``), then torchvision's download."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from poolbench.data.raw import RawDataset
from poolbench.errors import DataError, one_line

SYSTEM_FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def parse_idx(data: bytes, origin: str) -> np.ndarray:
    """Parse an IDX (LeCun MNIST format) byte string; raise DataError naming ``origin`` if it is malformed."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{origin} is not an unsigned-byte IDX file. Delete it and fetch the dataset again.")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{origin} is truncated (incomplete header). Delete it and fetch the dataset again.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(
            f"{origin} has {len(data)} bytes but its header promises {expected}: the file is truncated or corrupt. "
            "Delete it and fetch the dataset again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_file(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"Cannot read {path}: {error}. Delete the file and fetch the dataset again.") from None
    return parse_idx(data, str(path))


def _find_idx_set(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory``, plain or gzipped, or None if any is missing."""
    found: dict[str, Path] = {}
    for key, stem in IDX_FILES.items():
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def _raw_from_idx(files: dict[str, Path], source: str) -> RawDataset:
    arrays = {key: read_idx_file(path) for key, path in files.items()}
    return RawDataset(
        train_x=torch.from_numpy(arrays["train_x"].copy()).unsqueeze(1),
        train_y=torch.from_numpy(arrays["train_y"].astype(np.int64)),
        test_x=torch.from_numpy(arrays["test_x"].copy()).unsqueeze(1),
        test_y=torch.from_numpy(arrays["test_y"].astype(np.int64)),
        source=source,
    )


def system_fashion_mnist_dirs() -> list[Path]:
    """System copies to look in; ``POOLBENCH_SYSTEM_FASHION_MNIST`` (a path list) replaces the default."""
    override = os.environ.get("POOLBENCH_SYSTEM_FASHION_MNIST")
    if override is not None:
        return [Path(p) for p in override.split(os.pathsep) if p]
    return list(SYSTEM_FASHION_MNIST_DIRS)


def find_fashion_mnist_files(data_dir: Path) -> dict[str, Path] | None:
    """The four IDX files (plain or .gz) from the first place holding all of them: ``data_dir/FashionMNIST/raw``,
    then the system copies; None if there is none (no download is tried)."""
    for directory in [data_dir / "FashionMNIST" / "raw", *system_fashion_mnist_dirs()]:
        files = _find_idx_set(directory)
        if files is not None:
            return files
    return None


def load_fashion_mnist(data_dir: Path, download: bool) -> RawDataset:
    raw_dir = data_dir / "FashionMNIST" / "raw"
    files = find_fashion_mnist_files(data_dir)
    if files is not None:
        return _raw_from_idx(files, str(files["train_x"].parent))
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            for train in (True, False):
                FashionMNIST(str(data_dir), train=train, download=True)
        except Exception as error:  # network errors come in many types
            download_error = f" (download failed: {one_line(error)})"
        else:
            files = _find_idx_set(raw_dir)
            if files is not None:
                return _raw_from_idx(files, f"download into {raw_dir}")
            download_error = ""
    else:
        download_error = " (dataset.download=false)"
    raise DataError(
        f"FashionMNIST not found{download_error}. Looked in {raw_dir} and "
        f"{', '.join(str(d) for d in system_fashion_mnist_dirs()) or 'no system directories'}. Remedies: "
        "connect to the internet and keep dataset.download=true; or on Debian/Ubuntu run "
        "`sudo apt-get install dataset-fashion-mnist`; or copy the four *-ubyte(.gz) files into "
        f"{raw_dir} and/or point data_dir=... at the folder that holds FashionMNIST/raw."
    )
