"""Datasets as uint8 tensors held on the device, split, normalised and augmented a whole batch at a time.

Sources, tried in this order (local first, so an offline machine never waits on the network):
1. files already in ``data_dir`` (torchvision's layout: ``FashionMNIST/raw/``, ``cifar-10-batches-py/`` or the
   ``cifar-10-python.tar.gz`` archive);
2. system copies (Debian's ``dataset-fashion-mnist`` in /usr/share/datasets/fashion-mnist);
3. torchvision's own download into ``data_dir`` when ``dataset.download`` is true.
Nothing found: one ``DataError`` listing the remedies.

Splits: a validation set is carved from the train split with ``dataset.split_seed`` (the same for every run,
so all heads and seeds see the same validation images); the test split is never used for any selection.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from poolbench.errors import ConfigError, DataError

SYSTEM_FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


@dataclass
class RawDataset:
    """Whole train and test splits as uint8 images (N, C, H, W) and int64 labels (N,), on the CPU."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str


@dataclass
class ImageSplit:
    """One split on the compute device: uint8 images and int64 labels."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class DataBundle:
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    mean: torch.Tensor  # (1, C, 1, 1) on the device, in [0, 1] units
    std: torch.Tensor
    num_classes: int
    channels: int
    image_size: int
    source: str


# ----------------------------------------------------------------------------------------------- readers
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
            download_error = f" (download failed: {str(error).splitlines()[0] if str(error) else type(error).__name__})"
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


def _cifar10_class(verify_checksums: bool):
    from torchvision.datasets import CIFAR10

    if verify_checksums:
        return CIFAR10

    class UnverifiedCIFAR10(CIFAR10):
        """CIFAR-10 read exactly as torchvision does, without the per-file MD5 check (for subsets/tests)."""

        def _check_integrity(self) -> bool:
            base = Path(self.root) / self.base_folder
            return all((base / name).is_file() for name, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            meta = Path(self.root) / self.base_folder / self.meta["filename"]
            with open(meta, "rb") as handle:
                self.classes = pickle.load(handle, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {name: index for index, name in enumerate(self.classes)}

    return UnverifiedCIFAR10


def _cifar_checksum_problem(data_dir: Path) -> str | None:
    """Name the first CIFAR-10 batch file that is missing or fails torchvision's MD5, if any."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    base = data_dir / CIFAR10.base_folder
    for name, md5 in CIFAR10.train_list + CIFAR10.test_list + [(CIFAR10.meta["filename"], CIFAR10.meta["md5"])]:
        if not (base / name).is_file():
            return f"{base / name} is missing"
        if not check_integrity(str(base / name), md5):
            return f"{base / name} fails its MD5 checksum (truncated or not the official file)"
    return None


def _cifar_unreadable_file(batches: Path) -> str | None:
    """Name the first CIFAR-10 batch file that is missing or does not unpickle (truncated), if any."""
    import pickle

    from torchvision.datasets import CIFAR10

    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        path = batches / name
        if not path.is_file():
            return f"{path} is missing"
        try:
            with open(path, "rb") as handle:
                pickle.load(handle, encoding="latin1")
        except Exception as error:
            return f"{path} is truncated or corrupt ({type(error).__name__})"
    return None


def load_cifar10(data_dir: Path, download: bool, verify_checksums: bool = True) -> RawDataset:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import extract_archive

    batches = data_dir / CIFAR10.base_folder
    archive = data_dir / CIFAR10.filename
    if not batches.is_dir() and archive.is_file():
        try:
            extract_archive(str(archive), str(data_dir))
        except Exception as error:
            raise DataError(
                f"Cannot extract {archive}: {error}. Delete it and download cifar-10-python.tar.gz again."
            ) from None
    if not batches.is_dir() and download:
        try:
            CIFAR10(str(data_dir), train=True, download=True)
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DataError(_cifar_missing_message(data_dir, f" (download failed: {message})")) from None
    if not batches.is_dir():
        raise DataError(_cifar_missing_message(data_dir, "" if download else " (dataset.download=false)"))
    if verify_checksums:
        problem = _cifar_checksum_problem(data_dir)
        if problem:
            raise DataError(
                f"CIFAR-10 in {batches}: {problem}. Delete {batches} (and the archive) and fetch it again, "
                "or set dataset.verify_checksums=false for a deliberately modified copy."
            )
    cls = _cifar10_class(verify_checksums)
    try:
        train, test = cls(str(data_dir), train=True), cls(str(data_dir), train=False)
    except Exception as error:
        problem = _cifar_unreadable_file(batches) or f"cannot read the batches in {batches} ({error})"
        raise DataError(f"CIFAR-10: {problem}. Delete it and fetch the dataset again.") from None
    to_nchw = lambda array: torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()
    return RawDataset(
        train_x=to_nchw(train.data),
        train_y=torch.tensor(train.targets, dtype=torch.int64),
        test_x=to_nchw(test.data),
        test_y=torch.tensor(test.targets, dtype=torch.int64),
        source=str(batches),
    )


def _cifar_missing_message(data_dir: Path, detail: str) -> str:
    return (
        f"CIFAR-10 not found{detail}. Looked for {data_dir / 'cifar-10-batches-py'} and "
        f"{data_dir / 'cifar-10-python.tar.gz'}. Remedies: connect to the internet and keep dataset.download=true; "
        "or download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and put the archive (or its "
        f"extracted cifar-10-batches-py folder) in {data_dir}; or point data_dir=... at the folder that holds it."
    )


def make_synthetic(
    num_samples: int, num_classes: int, channels: int, image_size: int, seed: int, noise: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Procedural images: class k is an oriented grating (angle pi*k/K, two frequencies) under a Gaussian
    window at a random position, tinted per class, plus noise. Learnable, position-varying, offline."""
    generator = torch.Generator().manual_seed(int(seed))
    labels = torch.randint(0, num_classes, (num_samples,), generator=generator)
    coords = torch.arange(image_size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    theta = (torch.pi * labels.float() / num_classes).view(-1, 1, 1)
    freq = (2 * torch.pi * (0.12 + 0.1 * (labels % 2).float())).view(-1, 1, 1)
    phase = (torch.rand(num_samples, generator=generator) * 2 * torch.pi).view(-1, 1, 1)
    grating = torch.cos(freq * (xx * torch.cos(theta) + yy * torch.sin(theta)) + phase)
    centre = (0.3 + 0.4 * torch.rand(num_samples, 2, generator=generator)) * image_size
    sigma = image_size / 5.0
    window = torch.exp(
        -((xx - centre[:, 0].view(-1, 1, 1)) ** 2 + (yy - centre[:, 1].view(-1, 1, 1)) ** 2) / (2 * sigma**2)
    )
    tints = 0.5 + 0.5 * torch.rand(num_classes, channels, generator=torch.Generator().manual_seed(12345))
    images = (grating * window).unsqueeze(1) * tints[labels].view(num_samples, channels, 1, 1)
    images = images + noise * torch.randn(images.shape, generator=generator)
    pixels = ((images + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels, labels


def load_synthetic(cfg: Mapping[str, Any]) -> RawDataset:
    shape = dict(num_classes=int(cfg["num_classes"]), channels=int(cfg["channels"]), image_size=int(cfg["image_size"]))
    noise = float(cfg.get("noise", 0.25))
    train_x, train_y = make_synthetic(int(cfg["train_size"]), seed=int(cfg["generator_seed"]), noise=noise, **shape)
    test_x, test_y = make_synthetic(int(cfg["test_size"]), seed=int(cfg["generator_seed"]) + 1, noise=noise, **shape)
    return RawDataset(train_x, train_y, test_x, test_y, source=f"synthetic(seed={cfg['generator_seed']})")


_RAW_CACHE: dict[tuple, RawDataset] = {}


def load_raw(dataset_cfg: Mapping[str, Any], data_dir: str | os.PathLike[str]) -> RawDataset:
    """Load a dataset's train and test splits once per process (later calls reuse the tensors)."""
    name = dataset_cfg["name"]
    root = Path(data_dir).expanduser()
    kind = dataset_cfg.get("kind", name)
    key = (kind, str(root.resolve()), tuple(sorted((k, str(v)) for k, v in dict(dataset_cfg).items())))
    if key in _RAW_CACHE:
        return _RAW_CACHE[key]
    download = bool(dataset_cfg.get("download", True))
    if kind == "fashion_mnist":
        raw = load_fashion_mnist(root, download)
    elif kind == "cifar10":
        raw = load_cifar10(root, download, bool(dataset_cfg.get("verify_checksums", True)))
    elif kind == "synthetic":
        raw = load_synthetic(dataset_cfg)
    else:
        raise ConfigError("dataset.kind", kind, "fashion_mnist, cifar10 or synthetic", "pick dataset=fashion_mnist")
    _check_raw_matches_config(raw, dataset_cfg)
    _RAW_CACHE[key] = raw
    return raw


def _check_raw_matches_config(raw: RawDataset, cfg: Mapping[str, Any]) -> None:
    channels, height, width = raw.train_x.shape[1:]
    if channels != int(cfg["channels"]) or height != int(cfg["image_size"]) or width != int(cfg["image_size"]):
        raise DataError(
            f"Dataset {cfg['name']} from {raw.source} has images of {channels}x{height}x{width}, but the config "
            f"says channels={cfg['channels']}, image_size={cfg['image_size']}. Fix the dataset config."
        )


# ----------------------------------------------------------------------------------------------- splits
def split_indices(
    num_train: int, val_fraction: float, split_seed: int, train_samples: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of (train, val) in the original train split; deterministic in ``split_seed`` alone."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError("dataset.val_fraction", val_fraction, "a number in [0, 1)", "e.g. dataset.val_fraction=0.1")
    order = torch.randperm(num_train, generator=torch.Generator().manual_seed(int(split_seed)))
    num_val = int(round(num_train * val_fraction))
    val, train = order[:num_val], order[num_val:]
    if train_samples is not None:
        if not 1 <= int(train_samples) <= len(train):
            raise ConfigError(
                "dataset.train_samples",
                train_samples,
                f"an int in [1, {len(train)}] (the train split after carving {num_val} validation images), or null",
                f"set dataset.train_samples={len(train)} or leave it null for all",
            )
        train = train[: int(train_samples)]
    return train.sort().values, val.sort().values


def resize_images(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 images resized (bilinear, antialiased) to ``size`` x ``size``: ``dataset.eval_image_size`` tests a
    model at an input size it was not trained at. None or the same size: unchanged."""
    if size is None or tuple(images.shape[2:]) == (int(size), int(size)):
        return images
    resized = F.interpolate(images.float(), size=(int(size), int(size)), mode="bilinear", antialias=True)
    return resized.round().clamp(0, 255).to(torch.uint8)


def prepare_data(dataset_cfg: Mapping[str, Any], data_dir: str | os.PathLike[str], device: torch.device) -> DataBundle:
    raw = load_raw(dataset_cfg, data_dir)
    train_idx, val_idx = split_indices(
        len(raw.train_y),
        float(dataset_cfg.get("val_fraction", 0.1)),
        int(dataset_cfg.get("split_seed", 0)),
        dataset_cfg.get("train_samples"),
    )
    test_samples = dataset_cfg.get("test_samples")
    test_idx = torch.arange(len(raw.test_y))[: int(test_samples)] if test_samples else torch.arange(len(raw.test_y))
    place = lambda x, idx: x[idx].contiguous().to(device)
    test_x = resize_images(raw.test_x[test_idx], dataset_cfg.get("eval_image_size"))
    channels = int(dataset_cfg["channels"])
    stats = lambda key: torch.tensor([float(v) for v in dataset_cfg[key]], device=device).view(1, channels, 1, 1)
    return DataBundle(
        train=ImageSplit(place(raw.train_x, train_idx), place(raw.train_y, train_idx)),
        val=ImageSplit(place(raw.train_x, val_idx), place(raw.train_y, val_idx)),
        test=ImageSplit(test_x.contiguous().to(device), place(raw.test_y, test_idx)),
        mean=stats("mean"),
        std=stats("std"),
        num_classes=int(dataset_cfg["num_classes"]),
        channels=channels,
        image_size=int(dataset_cfg["image_size"]),
        source=raw.source,
    )


# ----------------------------------------------------------------------------------------------- batches
def crop_windows(images: torch.Tensor, padding: int, shifts: torch.Tensor) -> torch.Tensor:
    """Zero-pad ``images`` (N, C, H, W) by ``padding`` and cut image i at offset ``shifts[i] = (dy, dx)``,
    0 <= dy, dx <= 2 * padding: a per-sample translation.

    The padded batch is viewed (no copy) as all (2p+1)^2 windows of every image; indexing that view with
    (sample, dy, dx) copies whole rows, which is ~2x cheaper than a per-pixel gather.
    """
    if padding <= 0:
        return images
    n, channels, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    s_n, s_c, s_h, s_w = padded.stride()
    windows = padded.as_strided(
        (n, 2 * padding + 1, 2 * padding + 1, channels, height, width), (s_n, s_h, s_w, s_c, s_h, s_w)
    )
    return windows[torch.arange(n, device=images.device), shifts[:, 0], shifts[:, 1]]


# (dy, dx) directions of the translation test, in turn: image i moves along SHIFT_DIRECTIONS[i % 8].
SHIFT_DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def shift_images(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """The translation test: image i's content moved by ``pixels`` along ``SHIFT_DIRECTIONS[i % 8]`` (up,
    down, left, right or diagonally: ``pixels`` along every axis it moves on), zeros filling the uncovered
    border. Deterministic, so every head and seed sees the very same shifted test set."""
    if pixels <= 0:
        return images
    signs = torch.tensor(SHIFT_DIRECTIONS, device=images.device)
    per_image = signs[torch.arange(images.shape[0], device=images.device) % len(SHIFT_DIRECTIONS)]
    return crop_windows(images, pixels, pixels - per_image * pixels)  # a window at p - d moves content by d


def flip_where(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror (left-right) the images whose ``mask`` entry is true."""
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(3), images)


def draw_shifts(count: int, padding: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2 * padding + 1, (count, 2), generator=generator)


def draw_flips(count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(count, generator=generator) < 0.5


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pad by ``padding`` (zeros) and cut each image at its own random offset."""
    if padding <= 0:
        return images
    return crop_windows(images, padding, draw_shifts(images.shape[0], padding, generator).to(images.device))


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return flip_where(images, draw_flips(images.shape[0], generator).to(images.device))


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (images.float() * (1.0 / 255.0) - mean) / std


def epoch_batches(
    split: ImageSplit,
    batch_size: int,
    mean: torch.Tensor,
    std: torch.Tensor,
    generator: torch.Generator | None = None,
    crop_padding: int = 0,
    flip: bool = False,
    drop_last: bool = False,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised float batches. With a generator: shuffled by a fresh permutation and augmented.

    All of an epoch's randomness (order, crop offsets, flips) is drawn at once on the CPU generator and moved
    to the device once, so batches cost no host-to-device copy (on CUDA each one would stall the queue) and an
    epoch is the same on every device.
    """
    count, device = len(split), split.x.device
    order = shifts = flips = None
    if generator is not None:
        order = torch.randperm(count, generator=generator).to(device)
        shifts = draw_shifts(count, crop_padding, generator).to(device) if crop_padding > 0 else None
        flips = draw_flips(count, generator).to(device) if flip else None
    stop = count - count % batch_size if drop_last and count >= batch_size else count
    for start in range(0, stop, batch_size):
        end = start + batch_size
        if order is None:
            images, labels = split.x[start:end], split.y[start:end]
        else:
            index = order[start:end]
            images, labels = split.x[index], split.y[index]
        if shifts is not None:
            images = crop_windows(images, crop_padding, shifts[start:end])
        if flips is not None:
            images = flip_where(images, flips[start:end])
        # Change the layout on the uint8 batch (4x less memory than float); normalize keeps the layout.
        images = images.contiguous(memory_format=memory_format)
        yield normalize(images, mean, std).contiguous(memory_format=memory_format), labels
