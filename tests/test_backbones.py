"""Backbones: output shapes, and parameter counts against published values."""

from __future__ import annotations

import warnings

import pytest
import torch

from poolbench.models.backbones import CifarResNet, ResNet18, SmallCNN, feature_shape
from poolbench.models.classifier import build_classifier
from tests.conftest import compose_cfg

GAP = {"_target_": "poolbench.models.heads.GlobalAvgPoolHead"}


@pytest.mark.parametrize(
    "depth, params",
    # He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M; exact counts of an option-A implementation
    # (identity shortcuts with zero padding, 10 classes, global average pooling + linear).
    [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018), (110, 1_727_962)],
)
def test_cifar_resnet_parameter_counts_match_he_et_al(depth, params):
    model, shape = build_classifier(
        {"_target_": "poolbench.models.backbones.CifarResNet", "depth": depth}, GAP, 3, 32, 10
    )
    assert model.param_counts()["params_total"] == params
    assert shape == (64, 8, 8)


@pytest.mark.parametrize("name, params", [("resnet20", 269_722), ("resnet56", 853_018)])
def test_resnet_configs_compose_to_the_published_counts(name, params):
    cfg = compose_cfg([f"backbone={name}", "head=gap", "dataset=cifar10"])
    model, _ = build_classifier(cfg.backbone, cfg.head, 3, 32, 10)
    assert model.param_counts()["params_total"] == params


def test_resnet18_cifar_adaptation_keeps_a_4x4_map():
    # 11,173,962 parameters: the usual CIFAR ResNet-18 (3x3 stem, no max-pool) with a 10-way linear head.
    model, shape = build_classifier({"_target_": "poolbench.models.backbones.ResNet18"}, GAP, 3, 32, 10)
    assert model.param_counts()["params_total"] == 11_173_962
    assert shape == (512, 4, 4)
    assert feature_shape(ResNet18(in_channels=1), 1, 28) == (512, 4, 4)


def test_small_cnn_shapes_follow_widths_and_depth():
    assert feature_shape(SmallCNN(1, (32, 64, 128)), 1, 28) == (128, 7, 7)
    assert feature_shape(SmallCNN(3, (8, 16), depth=2), 3, 32) == (16, 16, 16)
    conv_params = 1 * 32 * 9 + 32 * 64 * 9 + 64 * 128 * 9
    bn_params = 2 * (32 + 64 + 128)
    assert sum(p.numel() for p in SmallCNN(1, (32, 64, 128)).parameters()) == conv_params + bn_params


def test_flatten_head_count_is_chw_times_k_plus_k():
    cfg = compose_cfg(["head=flatten"])
    model, (c, h, w) = build_classifier(cfg.backbone, cfg.head, 1, 28, 10)
    assert model.param_counts()["params_head"] == c * h * w * 10 + 10 == 128 * 7 * 7 * 10 + 10


def test_option_a_shortcut_has_no_parameters_and_downsamples():
    net = CifarResNet(3, depth=20)
    out = net(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 64, 8, 8)
    assert not [n for n, _ in net.named_parameters() if "shortcut" in n]


def test_one_by_one_final_map_warns_that_heads_coincide():
    with pytest.warns(UserWarning, match="1x1 feature map"):
        build_classifier({"_target_": "poolbench.models.backbones.SmallCNN", "widths": [4, 8, 8]}, GAP, 1, 4, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_classifier({"_target_": "poolbench.models.backbones.SmallCNN"}, GAP, 1, 28, 10)


def test_same_seed_gives_same_backbone_for_every_head():
    backbone = {"_target_": "poolbench.models.backbones.SmallCNN", "widths": [8, 16]}
    a, _ = build_classifier(backbone, GAP, 1, 16, 10, seed=3)
    b, _ = build_classifier(backbone, {"_target_": "poolbench.models.heads.FlattenHead"}, 1, 16, 10, seed=3)
    for (name, pa), (_, pb) in zip(a.backbone.state_dict().items(), b.backbone.state_dict().items()):
        assert torch.equal(pa, pb), name


def test_pool_early_keeps_shapes_and_parameters_of_the_classic_order():
    early, classic = SmallCNN(1, (8, 16, 32), pool_early=True), SmallCNN(1, (8, 16, 32), pool_early=False)
    assert feature_shape(early, 1, 28) == feature_shape(classic, 1, 28) == (32, 7, 7)
    assert sum(p.numel() for p in early.parameters()) == sum(p.numel() for p in classic.parameters())
    first_stage = [type(m).__name__ for m in early.features[0]]
    assert first_stage == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]  # BN and ReLU on the pooled map
    assert [type(m).__name__ for m in classic.features[1:2]] == ["MaxPool2d"]
