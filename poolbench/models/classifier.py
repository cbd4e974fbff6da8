"""Classifier = backbone + head, and the builder that instantiates both from their ``_target_`` configs."""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import torch
from hydra.utils import instantiate
from torch import nn

from poolbench.models.backbones import feature_shape

# Config keys that describe a component for poolbench itself and are not constructor arguments.
META_KEYS = ("name",)


class Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

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


def _constructor_kwargs(component_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in dict(component_cfg).items() if key not in META_KEYS}


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
