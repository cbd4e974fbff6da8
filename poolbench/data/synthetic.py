"""Procedural images generated from a seed: always offline, learnable, position-varying."""

from __future__ import annotations

import torch

from poolbench.config.settings import DatasetSettings
from poolbench.data.raw import RawDataset


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


def load_synthetic(dataset: DatasetSettings) -> RawDataset:
    shape = dict(num_classes=dataset.num_classes, channels=dataset.channels, image_size=dataset.image_size)
    assert dataset.train_size and dataset.test_size and dataset.generator_seed is not None  # validated
    seed, noise = dataset.generator_seed, dataset.noise or 0.0
    train_x, train_y = make_synthetic(dataset.train_size, seed=seed, noise=noise, **shape)
    test_x, test_y = make_synthetic(dataset.test_size, seed=seed + 1, noise=noise, **shape)
    return RawDataset(train_x, train_y, test_x, test_y, source=f"synthetic(seed={seed})")
