"""Batches on the device: normalisation, augmentation of whole batches (crop by pad-and-shift, flips), the
translation test's shifted images, and ``epoch_batches``."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from poolbench.config.settings import SHIFT_MODES
from poolbench.data.memo import memoized
from poolbench.data.splits import ImageSplit


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


def shift_directions(count: int, device: torch.device) -> torch.Tensor:
    """(count, 2) signs (dy, dx): image i moves along ``SHIFT_DIRECTIONS[i % 8]``."""
    signs = torch.tensor(SHIFT_DIRECTIONS, device=device)
    return signs[torch.arange(count, device=device) % len(SHIFT_DIRECTIONS)]


def shift_images(images: torch.Tensor, pixels: int, mode: str = "zero") -> torch.Tensor:
    """The translation test: image i's content moved by ``pixels`` along ``SHIFT_DIRECTIONS[i % 8]`` (up,
    down, left, right or diagonally: ``pixels`` along every axis it moves on), the uncovered border filled as
    ``mode`` says (``SHIFT_MODES``). Deterministic, so every head and seed sees the very same shifted test set
    (made once per process for the same images: ``poolbench.data.memo``)."""
    if mode not in SHIFT_MODES:
        raise ValueError(f"shift mode {mode!r} is not one of {', '.join(SHIFT_MODES)}")
    if pixels <= 0:
        return images

    def shift() -> torch.Tensor:
        per_image = shift_directions(images.shape[0], images.device)
        if mode == "circular":
            return roll_images(images, per_image * pixels)
        return crop_windows(images, pixels, pixels - per_image * pixels)  # a window at p - d moves content by d

    return memoized("shift", (int(pixels), mode), images, shift)


def roll_images(images: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Image i rolled (circularly) by ``offsets[i] = (dy, dx)``: one ``torch.roll`` per distinct offset."""
    out = torch.empty_like(images)
    for offset in torch.unique(offsets, dim=0).tolist():
        chosen = (offsets == torch.tensor(offset, device=offsets.device)).all(dim=1)
        out[chosen] = torch.roll(images[chosen], shifts=(offset[0], offset[1]), dims=(2, 3))
    return out


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
