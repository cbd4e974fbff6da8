"""The test-image term of an effect's CI (poolbench.report.image_ci) against closed forms: the paired-proportions
(McNemar) variance when every seed is the same, the two-way ANOVA mean squares, and the bootstrap check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from poolbench.report.decide import independent_estimate, paired_estimate
from poolbench.report.image_ci import CellImages, bootstrap_interval, image_variance, with_images


def mcnemar_images(n: int, better: int, worse: int) -> np.ndarray:
    """Per image: +1 where the head is right and the other wrong, -1 the reverse, 0 where they agree."""
    z = np.zeros(n)
    z[:better], z[better : better + worse] = 1.0, -1.0
    return z


def test_identical_seeds_have_no_seed_variance_and_the_paired_proportions_variance_from_images() -> None:
    n, better, worse, seeds = 400, 30, 20, 5
    row = mcnemar_images(n, better, worse)
    part = CellImages(np.zeros(seeds), np.tile(row, (seeds, 1)))
    seed_only = paired_estimate(part.per_seed().tolist())
    assert seed_only.se == 0.0 and seed_only.interval() == (seed_only.effect, seed_only.effect)
    variance = image_variance([part], shared=True)
    b, c = better / n, worse / n
    assert variance == pytest.approx(((b + c) - (b - c) ** 2) / (n - 1), rel=1e-12)  # McNemar, N - 1
    assert variance == pytest.approx(((b + c) - (b - c) ** 2) / n, rel=0.01)  # the textbook Wald form, within 1/N
    combined = with_images(seed_only, variance)
    half = stats.t.ppf(0.975, seeds - 1) * math.sqrt(variance)
    assert combined.interval() == pytest.approx((seed_only.effect - half, seed_only.effect + half))


def test_the_two_terms_are_the_two_way_anova_mean_squares_over_seeds_times_images() -> None:
    rng = np.random.default_rng(0)
    seeds, n = 6, 300
    z = 0.02 + rng.normal(0, 0.03, (seeds, 1)) + rng.normal(0, 0.3, (1, n)) + rng.normal(0, 0.4, (seeds, n))
    grand, by_seed, by_image = z.mean(), z.mean(axis=1), z.mean(axis=0)
    ms_seeds = n * ((by_seed - grand) ** 2).sum() / (seeds - 1)
    ms_images = seeds * ((by_image - grand) ** 2).sum() / (n - 1)
    part = CellImages(np.zeros(seeds), z)
    estimate = with_images(paired_estimate(part.per_seed().tolist()), image_variance([part], shared=True))
    assert estimate.se**2 == pytest.approx((ms_seeds + ms_images) / (seeds * n), rel=1e-10)
    assert estimate.df == seeds - 1 and estimate.sd == pytest.approx(estimate.se * math.sqrt(seeds))


def test_the_seeds_and_images_interval_is_never_narrower_than_the_seed_interval() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        seeds = int(rng.integers(2, 8))
        z = rng.normal(0, 1, (seeds, 50))
        part = CellImages(rng.normal(0, 0.1, seeds), z)
        seed_only = paired_estimate(part.per_seed().tolist())
        low, high = with_images(seed_only, image_variance([part], shared=True)).interval()
        seed_low, seed_high = seed_only.interval()
        assert low <= seed_low and high >= seed_high


def test_an_interaction_on_shared_images_subtracts_image_by_image_and_on_other_images_adds() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(0, 0.5, (4, 200))
    first, second = CellImages(np.zeros(4), z), CellImages(np.zeros(4), z, sign=-1.0)
    assert image_variance([first, second], shared=True) == pytest.approx(0.0, abs=1e-15)
    one = image_variance([first], shared=True)
    assert image_variance([first, second], shared=False) == pytest.approx(2 * one)
    estimate = independent_estimate(first.per_seed().tolist(), second.per_seed().tolist())
    widened = with_images(estimate, 2 * one)
    assert widened.df == estimate.df and widened.se**2 == pytest.approx(estimate.se**2 + 2 * one)


def test_the_bootstrap_check_is_reproducible_and_close_to_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    seeds, n = 10, 2000
    z = rng.normal(0, 0.02, (seeds, 1)) + (rng.random((1, n)) < 0.5) - (rng.random((seeds, n)) < 0.5)
    part = CellImages(np.zeros(seeds), z.astype(float))
    estimate = with_images(paired_estimate(part.per_seed().tolist()), image_variance([part], shared=True))
    first = bootstrap_interval([part], shared=True, resamples=1000)
    assert first == bootstrap_interval([part], shared=True, resamples=1000)
    assert first != bootstrap_interval([part], shared=True, resamples=1000, seed=1)
    width = first[1] - first[0]
    normal_width = 2 * 1.959964 * estimate.se  # the bootstrap is a normal-reference interval, not a t one
    assert width == pytest.approx(normal_width, rel=0.15)
    assert first[0] < estimate.effect < first[1]


def test_a_per_seed_constant_moves_the_seeds_not_the_images() -> None:
    z = np.tile(mcnemar_images(100, 10, 5), (3, 1))
    plain = CellImages(np.zeros(3), z)
    shifted = CellImages(np.array([0.01, -0.02, 0.03]), z)  # e.g. a train-accuracy difference in a gap
    assert image_variance([plain], True) == image_variance([shifted], True)
    assert shifted.per_seed() == pytest.approx(plain.per_seed() + np.array([0.01, -0.02, 0.03]))
