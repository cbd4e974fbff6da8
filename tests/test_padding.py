"""``backbone.padding_mode=circular``: with no border, a global pool is exactly invariant to circular shifts by
multiples of the total stride, so it cannot know where a feature is (the principled position counter-case);
zero padding leaks position through the border (Islam et al., ICLR 2020)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from poolbench.errors import ConfigError
from poolbench.models.backbones import CifarResNet, SmallCNN
from poolbench.models.classifier import Classifier
from poolbench.models.heads import GlobalAvgPoolHead, GlobalMaxPoolHead
from tests.conftest import compose_settings

# Total stride 4 for both backbones below (two 2x downsamplings): shifts that are multiples of it keep the
# pooling grids aligned, so circular padding makes the feature map move with the image exactly.
SHIFTS = [(4, 0), (0, 8), (12, 20), (-4, 16)]


def classifier(backbone: nn.Module, head: type, num_classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    model = Classifier(backbone, head(backbone.out_channels, num_classes))
    for module in model.modules():  # non-trivial BN statistics, so eval mode is not the identity
        if isinstance(module, nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def backbones(padding_mode: str) -> list[nn.Module]:
    return [
        SmallCNN(1, widths=(8, 16, 32), depth=2, padding_mode=padding_mode),
        CifarResNet(1, depth=8, base_width=8, padding_mode=padding_mode),
    ]


@pytest.mark.parametrize("head", [GlobalAvgPoolHead, GlobalMaxPoolHead])
@pytest.mark.parametrize("index", range(2))
def test_circular_padding_makes_global_heads_shift_invariant(head: type, index: int) -> None:
    model = classifier(backbones("circular")[index], head)
    images = 4 * torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        reference = model(images)
        for shift in SHIFTS:
            moved = model(torch.roll(images, shifts=shift, dims=(2, 3)))
            torch.testing.assert_close(moved, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("index", range(2))
def test_zero_padding_lets_the_border_tell_position(index: int) -> None:
    """The same check fails with zero padding: the border makes features depend on absolute position."""
    model = classifier(backbones("zeros")[index], GlobalAvgPoolHead)
    images = 4 * torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        reference = model(images)
        for shift in SHIFTS:
            moved = model(torch.roll(images, shifts=shift, dims=(2, 3)))
            assert not torch.allclose(moved, reference, rtol=1e-4, atol=1e-5)


def test_padding_mode_is_a_checked_config_key() -> None:
    settings = compose_settings(["dataset=probe_position", "backbone.padding_mode=circular"])
    assert settings.backbone["padding_mode"] == "circular"
    with pytest.raises(ConfigError) as caught:
        compose_settings(["backbone.padding_mode=reflect"])
    assert caught.value.key == "backbone.padding_mode"
