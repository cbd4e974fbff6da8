"""Per-channel mean and standard deviation of uint8 images, for datasets whose config leaves them null."""

from __future__ import annotations

import torch


def channel_mean_std(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std (population) of each channel of uint8 images (N, C, H, W), in [0, 1] units.

    Summed in float64 over chunks, so a large split never needs a float copy of itself in memory. A channel with
    no variation (a constant image set) gets std 1 rather than 0, which would divide by zero."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].to(torch.float64).div_(255.0)
        total += block.sum(dim=(0, 2, 3))
        squares += block.square().sum(dim=(0, 2, 3))
    count = max(images.shape[0] * images.shape[2] * images.shape[3], 1)
    mean = total / count
    std = (squares / count - mean.square()).clamp(min=0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
