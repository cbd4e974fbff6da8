"""Classifier = backbone + head, and the builder that instantiates both from their ``_target_`` configs."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn

from poolbench.config.settings import COMPONENT_LABEL_KEYS
from poolbench.models.backbones import feature_shape


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """channels_last for a 4-D tensor laid out NHWC (and not also NCHW-contiguous), else contiguous_format."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def keep_grad_layout(features: torch.Tensor) -> torch.Tensor:
    """Make the gradient that flows back into ``features`` use the memory format ``features`` has.

    Heads that average (``mean``) or flatten a channels_last feature map send back an NCHW gradient, and the
    backbone's last ReLU backward then mixes NCHW and NHWC operands: on the CPU that one elementwise op took
    2.5 ms instead of 0.13 ms per step (batch 128, 128x7x7 features), ~5% of a small-CNN training step
    (scripts/bench.py). One copy into the right layout costs the 0.13 ms. Values are untouched. Under
    ``torch.compile`` it steps aside: the compiler picks layouts itself, and a hook would break its graph.
    """
    if not features.requires_grad or torch.compiler.is_compiling():
        return features
    layout = memory_format_of(features)

    def to_layout(grad: torch.Tensor) -> torch.Tensor:
        return grad if grad.is_contiguous(memory_format=layout) else grad.contiguous(memory_format=layout)

    features.register_hook(to_layout)
    return features


class Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(keep_grad_layout(self.backbone(x)))

    def param_counts(self) -> dict[str, int]:
        backbone = sum(p.numel() for p in self.backbone.parameters())
        head = sum(p.numel() for p in self.head.parameters())
        return {"params_total": backbone + head, "params_backbone": backbone, "params_head": head}

    def pool_params(self) -> dict[str, Any]:
        getter = getattr(self.head, "pool_params", None)
        return dict(getter()) if callable(getter) else {}

    def no_weight_decay(self) -> set[str]:
        getter = getattr(self.head, "no_weight_decay", None)
        names = getter() if callable(getter) else set()
        return {f"head.{name}" for name in names}

    def lr_multipliers(self) -> dict[str, float]:
        getter = getattr(self.head, "lr_multipliers", None)
        factors = getter() if callable(getter) else {}
        return {f"head.{name}": float(factor) for name, factor in factors.items()}


def _constructor_kwargs(component_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in dict(component_cfg).items() if key not in COMPONENT_LABEL_KEYS}


def build_backbone(backbone_cfg: Mapping[str, Any], in_channels: int) -> nn.Module:
    return instantiate(_constructor_kwargs(backbone_cfg), in_channels=in_channels, _convert_="all")


def build_head(
    head_cfg: Mapping[str, Any], in_channels: int, num_classes: int, feature_size: tuple[int, int]
) -> nn.Module:
    return instantiate(
        _constructor_kwargs(head_cfg),
        in_channels=in_channels,
        num_classes=num_classes,
        feature_size=feature_size,
        _convert_="all",
    )


def build_classifier(
    backbone_cfg: Mapping[str, Any],
    head_cfg: Mapping[str, Any],
    in_channels: int,
    image_size: int,
    num_classes: int,
    seed: int = 0,
) -> tuple[Classifier, tuple[int, int, int]]:
    """Build backbone and head with separate seeds so every head sees the same backbone initialisation."""
    torch.manual_seed(seed)
    backbone = build_backbone(backbone_cfg, in_channels)
    channels, height, width = feature_shape(backbone, in_channels, image_size)
    if height == 1 and width == 1:
        warnings.warn(
            f"backbone {backbone_cfg.get('name', '?')} ends in a 1x1 feature map for {image_size}px inputs: "
            "every global pool (avg, max, GeM, LSE) is then the same operation, so heads cannot differ.",
            stacklevel=2,
        )
    torch.manual_seed(seed + 1_000_003)
    head = build_head(head_cfg, channels, num_classes, (height, width))
    return Classifier(backbone, head), (channels, height, width)
