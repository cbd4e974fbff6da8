"""dataset.label_noise: symmetric noise on the training labels only, exact in count, never to the same class,
reproducible per draw; validation and test labels stay clean (poolbench/data/draws.py says why)."""

from __future__ import annotations

import pytest
import torch

from poolbench.data.load import forget_loaded
from poolbench.data.splits import DataBundle, noisy_labels, prepare_data
from poolbench.errors import ConfigError
from tests.conftest import compose_settings

SYNTHETIC = ["dataset=synthetic", "dataset.train_size=300", "dataset.test_size=50", "dataset.train_samples=200"]


def data(overrides: list[str], seed: int = 0) -> DataBundle:
    forget_loaded()
    return prepare_data(compose_settings([*overrides, f"seed={seed}"]).dataset, "unused", torch.device("cpu"), seed)


@pytest.mark.parametrize(("fraction", "size"), [(0.2, 1000), (0.25, 7), (0.5, 3), (0.999, 10)])
def test_exactly_the_fraction_moves_and_never_to_its_own_class(fraction: float, size: int) -> None:
    labels = torch.arange(size) % 10
    noisy = noisy_labels(labels, fraction, 10, seed=3)
    moved = noisy != labels
    assert int(moved.sum()) == round(fraction * size)  # every picked label changes: none "flips" to itself
    assert noisy.min() >= 0 and noisy.max() <= 9 and noisy.dtype == labels.dtype


def test_the_new_classes_are_spread_over_the_other_classes() -> None:
    labels = torch.zeros(9000, dtype=torch.int64)
    noisy = noisy_labels(labels, 0.9, 10, seed=0)
    counts = torch.bincount(noisy, minlength=10)
    assert counts[0] == 900 and int(counts[1:].min()) > 800 and int(counts[1:].max()) < 1000  # 900 each expected


def test_same_draw_same_noise_other_draw_other_noise() -> None:
    labels = torch.arange(500) % 10
    assert torch.equal(noisy_labels(labels, 0.2, 10, 1), noisy_labels(labels, 0.2, 10, 1))
    assert not torch.equal(noisy_labels(labels, 0.2, 10, 1), noisy_labels(labels, 0.2, 10, 2))
    assert noisy_labels(labels, None, 10, 1) is labels and noisy_labels(labels, 0.0, 10, 1) is labels


def test_only_the_training_labels_change_in_a_run() -> None:
    clean, noisy = data(SYNTHETIC), data([*SYNTHETIC, "+dataset.label_noise=0.2"])
    assert torch.equal(clean.train.x, noisy.train.x)  # the same images
    assert int((clean.train.y != noisy.train.y).sum()) == 40  # 20 % of 200
    assert torch.equal(clean.val.y, noisy.val.y) and torch.equal(clean.test.y, noisy.test.y)


def test_each_seed_draws_its_own_noise_with_redraw_per_seed() -> None:
    overrides = [*SYNTHETIC, "+dataset.label_noise=0.2", "+dataset.redraw_per_seed=true", "dataset.train_samples=null"]
    first, again, other = data(overrides, 0), data(overrides, 0), data(overrides, 1)
    assert torch.equal(first.train.y, again.train.y)
    assert not torch.equal(first.train.y, other.train.y)


@pytest.mark.parametrize("value", [1, 1.5, -0.1, "high"])
def test_a_fraction_outside_0_1_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"dataset\.label_noise"):
        compose_settings([*SYNTHETIC, f"+dataset.label_noise={value}"])
