"""Pooling heads: output shapes, pooling numerics and parameter counts."""

from __future__ import annotations

import pytest
import torch

from poolbench.errors import ConfigError
from poolbench.models.heads import (
    AvgMaxPoolHead,
    CatAvgMaxPoolHead,
    FlattenHead,
    GeMPoolHead,
    GlobalAvgPoolHead,
    GlobalMaxPoolHead,
    LSEPoolHead,
    gem_pool,
    global_avg_pool,
    global_max_pool,
    lse_pool,
)

N, C, H, W, K = 3, 8, 5, 6, 7
ALL_HEADS = [
    GlobalAvgPoolHead,
    GlobalMaxPoolHead,
    AvgMaxPoolHead,
    CatAvgMaxPoolHead,
    LSEPoolHead,
    GeMPoolHead,
    FlattenHead,
]


@pytest.fixture
def fmap() -> torch.Tensor:
    return torch.randn(N, C, H, W, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("cls", ALL_HEADS)
def test_every_head_maps_feature_map_to_logits(cls, fmap):
    head = cls(C, K, feature_size=(H, W))
    logits = head(fmap)
    assert logits.shape == (N, K)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "cls, expected",
    [
        (GlobalAvgPoolHead, C * K + K),
        (GlobalMaxPoolHead, C * K + K),
        (AvgMaxPoolHead, C * K + K),
        (LSEPoolHead, C * K + K),
        (CatAvgMaxPoolHead, 2 * C * K + K),
        (GeMPoolHead, C * K + K + 1),  # + the learned exponent p
        (FlattenHead, C * H * W * K + K),
    ],
)
def test_head_parameter_counts(cls, expected):
    head = cls(C, K, feature_size=(H, W))
    assert sum(p.numel() for p in head.parameters()) == expected


def test_flatten_hidden_layer_parameter_count():
    head = FlattenHead(C, K, feature_size=(H, W), hidden=16)
    assert sum(p.numel() for p in head.parameters()) == (C * H * W * 16 + 16) + (16 * K + K)


def test_gem_with_p1_equals_average_pooling():
    x = torch.rand(N, C, H, W) + 0.1  # GeM clamps at eps: compare on positive inputs
    assert torch.allclose(gem_pool(x, torch.tensor([1.0])), global_avg_pool(x), atol=1e-6)


def test_gem_with_large_p_approaches_max_pooling():
    x = torch.rand(N, C, H, W, dtype=torch.float64) + 0.1
    gap_to_max = (global_max_pool(x) - gem_pool(x, torch.tensor([200.0], dtype=torch.float64))).abs().max()
    assert gap_to_max < 0.02 * global_max_pool(x).max()
    # and GeM grows monotonically with p towards the max
    assert (
        gem_pool(x, torch.tensor([2.0], dtype=torch.float64))
        <= gem_pool(x, torch.tensor([5.0], dtype=torch.float64)) + 1e-12
    ).all()


def test_gem_per_channel_p_matches_scalar_p_per_channel():
    x = torch.rand(N, C, H, W) + 0.1
    p = torch.linspace(1.0, 4.0, C)
    pooled = gem_pool(x, p)
    for c in range(C):
        assert torch.allclose(pooled[:, c], gem_pool(x[:, c : c + 1], p[c : c + 1])[:, 0], atol=1e-6)


def test_gem_reports_p_and_keeps_it_out_of_weight_decay():
    head = GeMPoolHead(C, K, p=3.0)
    assert head.pool_params() == {"gem_p": pytest.approx(3.0)}
    assert head.no_weight_decay() == {"p"}
    fixed = GeMPoolHead(C, K, p=2.5, learn_p=False)
    assert not any(name == "p" for name, _ in fixed.named_parameters())
    assert fixed.pool_params() == {"gem_p": pytest.approx(2.5)}
    per_channel = GeMPoolHead(C, K, per_channel=True)
    assert per_channel.p.shape == (C,)
    assert per_channel.pool_params()["gem_p"] == pytest.approx(3.0)


def test_gem_p_is_learned():
    head = GeMPoolHead(C, K)
    x = torch.rand(N, C, H, W)
    head(x).sum().backward()
    assert head.p.grad is not None and head.p.grad.abs().item() > 0


def test_lse_lies_between_average_and_max():
    x = torch.randn(N, C, H, W, dtype=torch.float64)
    for r in (0.1, 1.0, 10.0, 100.0):
        pooled = lse_pool(x, r)
        assert (pooled >= global_avg_pool(x) - 1e-9).all()
        assert (pooled <= global_max_pool(x) + 1e-9).all()
    assert torch.allclose(lse_pool(x, 1e-4), global_avg_pool(x), atol=1e-3)
    assert torch.allclose(lse_pool(x, 1e4), global_max_pool(x), atol=1e-3)


def test_avgmax_and_catavgmax_combine_avg_and_max(fmap):
    avg, mx = global_avg_pool(fmap), global_max_pool(fmap)
    assert torch.allclose(AvgMaxPoolHead(C, K).pool(fmap), 0.5 * (avg + mx))
    assert torch.allclose(CatAvgMaxPoolHead(C, K).pool(fmap), torch.cat([avg, mx], 1))


@pytest.mark.parametrize("cls", [GlobalAvgPoolHead, GlobalMaxPoolHead, GeMPoolHead, LSEPoolHead, CatAvgMaxPoolHead])
def test_global_heads_accept_any_feature_map_size(cls):
    head = cls(C, K, feature_size=(H, W))
    assert head(torch.rand(2, C, 11, 3)).shape == (2, K)


def test_flatten_head_refuses_another_input_size_with_a_clear_message():
    head = FlattenHead(C, K, feature_size=(H, W))
    with pytest.raises(ConfigError, match="flatten.*tied to one input size"):
        head(torch.rand(2, C, H + 1, W))


@pytest.mark.parametrize(
    "cls, kwargs, key", [(GeMPoolHead, {"p": 0.0}, "head.p"), (LSEPoolHead, {"r": -1.0}, "head.r")]
)
def test_invalid_pool_parameters_name_the_key(cls, kwargs, key):
    with pytest.raises(ConfigError, match=key):
        cls(C, K, **kwargs)


def test_flatten_dropout_config_is_flatten_with_dropout_before_the_dense_layer():
    """head=flatten_dropout: flatten's C*H*W*K + K parameters (dropout has none), p = 0.5 on the flattened
    features in training, the identity in eval mode."""
    from poolbench.models import build_classifier
    from tests.conftest import compose_settings

    settings = compose_settings(["head=flatten_dropout"])
    assert settings.head["dropout"] == 0.5 and settings.head["hidden"] == 0
    model, _ = build_classifier(settings.backbone, settings.head, 1, 28, 10, seed=0)
    plain, _ = build_classifier(settings.backbone, compose_settings(["head=flatten"]).head, 1, 28, 10, seed=0)
    channels, side = 128, 7  # the default small CNN's last feature map at 28 px
    assert model.param_counts()["params_head"] == channels * side * side * 10 + 10
    assert model.param_counts() == plain.param_counts()
    head = model.head
    assert isinstance(head.dropout, torch.nn.Dropout) and head.dropout.p == 0.5
    features = torch.ones(4, channels, side, side)
    head.train()
    dropped = head.dropout(head.pool(features))
    assert 0.3 < float((dropped == 0).float().mean()) < 0.7 and float(dropped.max()) == pytest.approx(2.0)
    head.eval()
    assert torch.equal(head(features), head.fc(head.pool(features)))
