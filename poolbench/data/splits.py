"""Splits: the validation set carved from train with a fixed seed (the test split is never used for selection),
optional subsets, and the splits moved to the device as one ``DataBundle``.

Every subset is a seeded random sample, never the first images: a source may store its images in class order
(an image folder lists class by class), and its first images would then be one class."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from poolbench.config.settings import DatasetSettings
from poolbench.data.draws import derived_seed, draw_for
from poolbench.data.load import load_raw
from poolbench.data.memo import memoized


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
    # Where each test image sits in the dataset's own test split (CPU int64; None: all of it, in order): the
    # per-image predictions of every run of a cell line up on it (poolbench/record.py PREDICTIONS_FILE).
    test_index: torch.Tensor | None = None


def split_indices(
    num_train: int, val_fraction: float, split_seed: int, train_samples: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of (train, val) in the original train split; deterministic in ``split_seed`` alone.

    The sizes were checked against the split before (``poolbench.config.validate.check_split_sizes``)."""
    order = torch.randperm(num_train, generator=torch.Generator().manual_seed(int(split_seed)))
    num_val = round(num_train * val_fraction)
    val, train = order[:num_val], order[num_val:]
    if train_samples is not None:
        train = train[:train_samples]
    return train.sort().values, val.sort().values


def spread_sample(labels: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """Sorted indices of ``count`` of the positions of ``labels``: a seeded random sample stratified by class (each
    class gets its share of ``count``, within one), so it represents the split in whatever order it is stored.

    The images are shuffled, grouped by class (still shuffled within each), and every (total / count)-th taken."""
    total = len(labels)
    if count >= total:
        return torch.arange(total)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))
    by_class = order[torch.sort(labels.cpu()[order], stable=True).indices]
    picks = ((torch.arange(count, dtype=torch.float64) + 0.5) * (total / count)).long()
    return by_class[picks].sort().values


def noisy_labels(labels: torch.Tensor, fraction: float | None, num_classes: int, seed: int) -> torch.Tensor:
    """``labels`` with ``round(fraction * len(labels))`` of them, picked at random, each moved to another class
    (uniform over the ``num_classes - 1`` others); deterministic in ``seed``. None or 0: ``labels`` unchanged."""
    count = round(float(fraction or 0.0) * len(labels))
    if count == 0:
        return labels
    generator = torch.Generator().manual_seed(derived_seed("label-noise", seed))
    picked = torch.randperm(len(labels), generator=generator)[:count]
    offsets = torch.randint(1, num_classes, (count,), generator=generator)
    noisy = labels.cpu().clone()
    noisy[picked] = (noisy[picked] + offsets) % num_classes
    return noisy


def resize_images(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 images resized (bilinear, antialiased) to ``size`` x ``size``: ``dataset.eval_image_size`` tests a
    model at an input size it was not trained at. None or the same size: unchanged. Made once per process for
    the same images (``poolbench.data.memo``): every run of a cell resizes the same test images."""
    if size is None or tuple(images.shape[2:]) == (int(size), int(size)):
        return images
    side = int(size)

    def resize() -> torch.Tensor:
        resized = F.interpolate(images.float(), size=(side, side), mode="bilinear", antialias=True)
        return resized.round().clamp(0, 255).to(torch.uint8)

    return memoized("resize", side, images, resize)


def place(x: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x[idx].contiguous().to(device)


def normalization(dataset: DatasetSettings, train_x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The configured per-channel mean and std, or (``dataset.mean=null``) those of the train split, measured
    after the validation carve-out so that no validation or test image informs the input scaling."""
    if dataset.mean is not None and dataset.std is not None:
        return dataset.mean, dataset.std
    from poolbench.data.stats import channel_mean_std

    return channel_mean_std(train_x)


def subset(labels: torch.Tensor, count: int | None, seed: int) -> torch.Tensor:
    """Indices of ``dataset.train_samples`` / ``test_samples`` images of a split (None: all of them)."""
    return torch.arange(len(labels)) if count is None else spread_sample(labels, count, seed)


def prepare_data(
    dataset: DatasetSettings, data_dir: str | os.PathLike[str], device: torch.device, seed: int = 0
) -> DataBundle:
    """The dataset split into train/val/test, subset as configured and moved to ``device`` once; ``seed`` picks
    the training data's draw where ``dataset.redraw_per_seed`` asks for one (``poolbench.data.draws``). The test
    subset always follows the configured ``split_seed``: every seed is scored on the same test images.
    ``dataset.label_noise`` corrupts the training labels only (``noisy_labels``; why: ``poolbench.data.draws``)."""
    draw = draw_for(dataset, seed)
    raw = load_raw(dataset, data_dir, draw.probe_stream)
    if raw.val_x is not None and raw.val_y is not None:  # the source's own validation split
        train_idx = subset(raw.train_y, dataset.train_samples, draw.split_seed)
        val = ImageSplit(raw.val_x.contiguous().to(device), raw.val_y.to(device))
    else:
        train_idx, val_idx = split_indices(
            len(raw.train_y), dataset.val_fraction, draw.split_seed, dataset.train_samples
        )
        val = ImageSplit(place(raw.train_x, val_idx, device), place(raw.train_y, val_idx, device))
    test_idx = subset(raw.test_y, dataset.test_samples, dataset.split_seed)
    mean, std = normalization(dataset, raw.train_x[train_idx])

    def per_channel(values: tuple[float, ...]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device).view(1, dataset.channels, 1, 1)

    test_x = resize_images(raw.test_x[test_idx], dataset.eval_image_size)
    train_y = noisy_labels(raw.train_y[train_idx], dataset.label_noise, dataset.num_classes, draw.split_seed)
    return DataBundle(
        train=ImageSplit(place(raw.train_x, train_idx, device), train_y.contiguous().to(device)),
        val=val,
        test=ImageSplit(test_x.contiguous().to(device), place(raw.test_y, test_idx, device)),
        mean=per_channel(mean),
        std=per_channel(std),
        num_classes=dataset.num_classes,
        channels=dataset.channels,
        image_size=dataset.image_size,
        source=raw.source if not dataset.redraw_per_seed else f"{raw.source}; split seed {draw.split_seed}",
        test_index=test_idx,
    )
