"""Feature extractors: image batch (N, C_in, H, W) -> feature map (N, C, h, w), no pooling, no classifier.

- ``SmallCNN``: a configurable VGG-style CNN (conv-BN-ReLU blocks, 2x2 max-pool between stages).
- ``CifarResNet``: ResNet-20/32/44/56/110 of He et al. 2016 (Sec. 4.2) with option-A identity shortcuts
  (stride-2 subsampling + zero channel padding), so their parameter counts equal the paper's.
- ``ResNet18``: torchvision's ResNet-18 adapted to 28-32 px images (3x3 stride-1 stem, no stem max-pool),
  so a 32 px input ends in a 4x4 map instead of 1x1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from poolbench.config.settings import PADDING_MODES
from poolbench.errors import ConfigError


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, padding_mode: str = "zeros") -> nn.Conv2d:
    """3x3 convolution, 1 px padding: ``zeros`` (a border every feature can see) or ``circular`` (the image is a
    torus: no border, so a global pool is exactly invariant to circular shifts by multiples of the total stride)."""
    if padding_mode not in PADDING_MODES:
        allowed = " or ".join(PADDING_MODES)
        raise ConfigError("backbone.padding_mode", padding_mode, allowed, "backbone.padding_mode=zeros")
    mode: Literal["zeros", "circular"] = "circular" if padding_mode == "circular" else "zeros"
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, padding_mode=mode)


def conv_bn_relu(
    in_channels: int, out_channels: int, stride: int = 1, pool: bool = False, padding_mode: str = "zeros"
) -> nn.Sequential:
    """3x3 conv, BN, ReLU; with ``pool``, a 2x2 max-pool right after the conv (BN and ReLU on 1/4 of the pixels)."""
    layers: list[nn.Module] = [conv3x3(in_channels, out_channels, stride, padding_mode)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """Stages of ``depth`` conv blocks; stage i has ``widths[i]`` channels; a 2x2 max-pool between stages.

    ``pool_early`` (default) places each between-stage max-pool right after the convolution that ends a stage,
    before its BatchNorm and ReLU (conv-pool-BN-ReLU): the shapes and parameter counts are those of the classic
    conv-BN-ReLU-pool order (``pool_early=false``), but BN and ReLU run on a quarter of the pixels. They are
    memory-bound, and at full 28x28 resolution they dominated a CPU training step (scripts/bench.py).
    The default (widths 32-64-128, depth 1) maps 28x28 to 128x7x7. ``padding_mode``: see ``conv3x3``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        widths: Sequence[int] = (32, 64, 128),
        depth: int = 1,
        pool_early: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise ConfigError(
                "backbone.widths", widths, "a non-empty list of positive ints", "e.g. backbone.widths=[32,64,128]"
            )
        if int(depth) < 1:
            raise ConfigError("backbone.depth", depth, "an int >= 1 (conv blocks per stage)", "set backbone.depth=1")
        layers: list[nn.Module] = []
        channels = in_channels
        for stage, width in enumerate(widths):
            if stage > 0 and not pool_early:
                layers.append(nn.MaxPool2d(2))
            for block in range(int(depth)):
                ends_stage = block == int(depth) - 1 and stage < len(widths) - 1
                layers.append(conv_bn_relu(channels, width, pool=pool_early and ends_stage, padding_mode=padding_mode))
                channels = width
        self.features = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class OptionAShortcut(nn.Module):
    """Identity shortcut of He et al. (option A): subsample by 2 and zero-pad the new channels; no parameters."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        extra = out_channels - in_channels
        self.pad = (0, 0, 0, 0, extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], self.pad)


class CifarBasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride, padding_mode)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels, 1, padding_mode)
        self.bn2 = nn.BatchNorm2d(out_channels)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut: nn.Module = OptionAShortcut(in_channels, out_channels) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs: 3 stages of n blocks at 16/32/64 channels; final map 64x8x8 at 32 px."""

    def __init__(
        self, in_channels: int = 3, depth: int = 20, base_width: int = 16, padding_mode: str = "zeros"
    ) -> None:
        super().__init__()
        if (int(depth) - 2) % 6 != 0 or depth < 8:
            raise ConfigError("backbone.depth", depth, "6n+2 (20, 32, 44, 56, 110)", "set backbone=resnet20")
        blocks = (int(depth) - 2) // 6
        widths = [base_width, base_width * 2, base_width * 4]
        self.stem = nn.Sequential(
            conv3x3(in_channels, widths[0], 1, padding_mode),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        channels = widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(CifarBasicBlock(channels, width, stride, padding_mode))
                channels = width
        self.layers = nn.Sequential(*layers)
        self.out_channels = channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))


class ResNet18(nn.Module):
    """torchvision ResNet-18 body with a 3x3 stride-1 stem and no stem max-pool (the usual CIFAR adaptation)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        from torchvision.models.resnet import BasicBlock, ResNet  # here: importing torchvision costs ~1.3 s

        body = ResNet(BasicBlock, [2, 2, 2, 2])
        body.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.features = nn.Sequential(
            body.conv1, body.bn1, body.relu, body.layer1, body.layer2, body.layer3, body.layer4
        )
        self.out_channels = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@torch.no_grad()
def feature_shape(backbone: nn.Module, in_channels: int, image_size: int) -> tuple[int, int, int]:
    """(C, H, W) of the backbone's output for one ``in_channels`` x ``image_size`` x ``image_size`` image."""
    was_training = backbone.training
    backbone.eval()
    try:
        device = next((p.device for p in backbone.parameters()), torch.device("cpu"))
        out = backbone(torch.zeros(1, in_channels, image_size, image_size, device=device))
    finally:
        backbone.train(was_training)
    return int(out.shape[1]), int(out.shape[2]), int(out.shape[3])
