"""Pooling heads: map a feature map (N, C, H, W) to logits (N, K).

Every head is ``pool -> (dropout) -> linear``. The pool reduces (N, C, H, W) to (N, C * feat_mult) for the
global pools, or to (N, C * H * W) for ``FlattenHead``, which is the one head tied to a single feature-map size.
Pools are written as plain tensor functions so they can be tested numerically on their own.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from poolbench.errors import ConfigError


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3))


def global_max_pool(x: torch.Tensor) -> torch.Tensor:
    return x.amax(dim=(2, 3))


def gem_pool(x: torch.Tensor, p: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Generalized mean: (mean(clamp(x, eps)^p))^(1/p); p=1 is average pooling, p -> inf approaches max.

    ``p`` is a scalar or a per-channel vector of shape (C,). Follows Radenovic et al. (cirtorch).
    """
    p_b = p.view(1, -1, 1, 1) if p.dim() == 1 and p.numel() > 1 else p.reshape(())
    pooled = x.clamp(min=eps).pow(p_b).mean(dim=(2, 3))
    p_c = p.view(1, -1) if p.dim() == 1 and p.numel() > 1 else p.reshape(())
    return pooled.pow(1.0 / p_c)


def lse_pool(x: torch.Tensor, r: float) -> torch.Tensor:
    """Log-sum-exp pooling (Pinheiro & Collobert 2015): (1/r) log(mean(exp(r x))); avg <= LSE <= max."""
    spatial = x.shape[2] * x.shape[3]
    return (torch.logsumexp(r * x.flatten(2), dim=2) - math.log(spatial)) / r


class PoolHead(nn.Module):
    """Base class: subclasses implement ``pool`` and set ``feat_mult``.

    Builders pass ``in_channels``, ``num_classes`` and ``feature_size`` (H, W) to every head; global heads ignore
    the size, so they work at any input resolution.
    """

    feat_mult: int = 1

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        feature_size: tuple[int, int] | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.feature_size = tuple(feature_size) if feature_size is not None else None
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = self.classifier(self.pooled_features())

    def pooled_features(self) -> int:
        return self.in_channels * self.feat_mult

    def classifier(self, features: int) -> nn.Module:
        """The layers from the pooled features to the logits: one linear layer."""
        return nn.Linear(features, self.num_classes)

    def pool(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(x)))

    def pool_params(self) -> dict[str, float | list[float]]:
        """Learned pooling parameters to record (e.g. GeM's p); empty for parameter-free pools."""
        return {}

    def no_weight_decay(self) -> set[str]:
        """Parameter names (relative to the head) that must not be weight-decayed."""
        return set()

    def lr_multipliers(self) -> dict[str, float]:
        """Parameter names (relative to the head) trained at ``trainer.lr`` times a factor other than 1."""
        return {}


class GlobalAvgPoolHead(PoolHead):
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return global_avg_pool(x)


class GlobalMaxPoolHead(PoolHead):
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return global_max_pool(x)


class AvgMaxPoolHead(PoolHead):
    """Mean of global average and global max pooling (timm's 'avgmax')."""

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (global_avg_pool(x) + global_max_pool(x))


class CatAvgMaxPoolHead(PoolHead):
    """Concatenation of global average and global max pooling: twice the features of either."""

    feat_mult = 2

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([global_avg_pool(x), global_max_pool(x)], dim=1)


class LSEPoolHead(PoolHead):
    """Log-sum-exp pooling with temperature ``r``: small r behaves like average, large r like max."""

    def __init__(self, in_channels: int, num_classes: int, r: float = 10.0, **kwargs) -> None:
        if not r > 0:
            raise ConfigError("head.r", r, "a number > 0 (LSE temperature)", "set head.r=10")
        super().__init__(in_channels, num_classes, **kwargs)
        self.r = float(r)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return lse_pool(x, self.r)


class GeMPoolHead(PoolHead):
    """Generalized-mean pooling with a learnable (or fixed) exponent p, scalar or per channel.

    p is kept out of weight decay (``no_weight_decay``): decaying it would pull GeM towards p=0, a geometric
    mean, which is not what the regulariser is meant to do. ``p_lr_mult`` scales p's learning rate: cirtorch
    (Radenovic et al., examples/train.py) trains p at 10x the base rate; poolbench's default was measured on
    FashionMNIST (docs/sweeps.md, "GeM's p learning rate").
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        p: float = 3.0,
        eps: float = 1e-6,
        learn_p: bool = True,
        per_channel: bool = False,
        p_lr_mult: float = 1.0,
        **kwargs,
    ) -> None:
        if not p > 0:
            raise ConfigError("head.p", p, "a number > 0 (GeM exponent; 1 = average, large = max)", "set head.p=3")
        if not p_lr_mult > 0:
            raise ConfigError(
                "head.p_lr_mult", p_lr_mult, "a number > 0 (p's lr = trainer.lr x it)", "head.p_lr_mult=1"
            )
        super().__init__(in_channels, num_classes, **kwargs)
        self.eps = float(eps)
        init = torch.full((in_channels,) if per_channel else (1,), float(p))
        if learn_p:
            self.p = nn.Parameter(init)
        else:
            self.register_buffer("p", init)
        self.learn_p = learn_p
        self.per_channel = per_channel
        self.p_lr_mult = float(p_lr_mult)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        # GeM's power is numerically touchy in half precision: compute it in fp32.
        return gem_pool(x.float(), self.p.float(), self.eps).to(x.dtype)

    def pool_params(self) -> dict[str, float | list[float]]:
        values = self.p.detach().float().cpu()
        if self.per_channel:
            return {"gem_p": float(values.mean()), "gem_p_std": float(values.std(unbiased=False))}
        return {"gem_p": float(values.item())}

    def no_weight_decay(self) -> set[str]:
        return {"p"} if self.learn_p else set()

    def lr_multipliers(self) -> dict[str, float]:
        return {"p": self.p_lr_mult} if self.learn_p and self.p_lr_mult != 1.0 else {}


class FlattenHead(PoolHead):
    """Flatten + dense (optionally one hidden layer): the classic pre-GAP classifier.

    It needs the feature-map size it was built for; at any other input size its weight matrix no longer fits,
    and it says so instead of failing deep inside a matmul.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        feature_size: tuple[int, int] | None = None,
        hidden: int = 0,
        dropout: float = 0.0,
    ) -> None:
        if feature_size is None:
            raise ValueError("FlattenHead needs feature_size=(H, W) of the backbone's final feature map")
        self.hidden = int(hidden)
        super().__init__(in_channels, num_classes, feature_size=feature_size, dropout=dropout)
        if self.hidden > 0:
            self.dropout = nn.Identity()  # applied inside the classifier, after the hidden layer

    def pooled_features(self) -> int:
        assert self.feature_size is not None
        return self.in_channels * self.feature_size[0] * self.feature_size[1]

    def classifier(self, features: int) -> nn.Module:
        """Linear, or linear -> ReLU -> dropout -> linear with ``hidden`` > 0 (only the layers used are built)."""
        if self.hidden <= 0:
            return super().classifier(features)
        hidden = nn.Linear(features, self.hidden)
        return nn.Sequential(hidden, nn.ReLU(inplace=True), self.dropout, nn.Linear(self.hidden, self.num_classes))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        assert self.feature_size is not None
        if tuple(x.shape[2:]) != self.feature_size:
            raise ConfigError(
                "head",
                "flatten",
                f"the {self.feature_size[0]}x{self.feature_size[1]} feature map it was built for "
                f"(got {x.shape[2]}x{x.shape[3]}); flatten + dense is tied to one input size",
                "evaluate at the training image size, or use a global pooling head (gap, gmp, gem, ...)",
            )
        return torch.flatten(x, 1)


def head_param_count(head: nn.Module) -> int:
    return sum(p.numel() for p in head.parameters())


__all__ = [
    "AvgMaxPoolHead",
    "CatAvgMaxPoolHead",
    "FlattenHead",
    "GeMPoolHead",
    "GlobalAvgPoolHead",
    "GlobalMaxPoolHead",
    "LSEPoolHead",
    "PoolHead",
    "gem_pool",
    "global_avg_pool",
    "global_max_pool",
    "head_param_count",
    "lse_pool",
]
