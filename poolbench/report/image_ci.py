"""Test-image sampling noise in the CI of an effect (``docs/reports.md``, "Test images inside the CI").

Every seed of a cell is scored on the same test images, so the seed-only paired t interval
(``poolbench.report.decide.paired_estimate``) treats those images as fixed: it says what another seed would do
on *these* images, not on another draw of test images from the same distribution. With per-image predictions
(``predictions.npz``) the effect of one seed is ``constant[s] + mean_i images[s, i]`` (``CellImages``), a
crossed design of seeds and images (Bouthillier et al. 2021, "Accounting for variance in machine learning
benchmarks", MLSys: data sampling is one of the largest sources of variance; Owen 2007, "The pigeonhole
bootstrap", Ann. Appl. Stat.: resampling both factors of a crossed design).

**The decision interval** (closed form, ``with_images``): the seed-only estimate with its squared standard error
increased by the image term,

    se^2 = var_s(d_s) / S  +  var_i(m_i) / N,

``d_s`` the per-seed effects (from result.json, as before), ``m_i`` the per-image effect averaged over the seeds
(sample variances, ddof = 1), S seeds, N images; Student's t on the seed interval's degrees of freedom (S - 1;
Welch's for an interaction, whose two cells each add their own image term unless they share their test images,
``image_variance``). In a two-way random-effects model z[s, i] = mu + a_s + b_i + e_si this is
(MS_seeds + MS_images) / (S N), which exceeds the unbiased (MS_seeds + MS_images - MS_residual) / (S N) by
MS_residual / (S N): slightly conservative, and never narrower than the seed-only interval (same degrees of
freedom, larger standard error), so it can only make a verdict more cautious. With every seed identical it is
the paired-proportions (McNemar) variance ((b + c)/N - ((b - c)/N)^2) / (N - 1) of an accuracy difference.

**The check** (``bootstrap_interval``): a two-level percentile bootstrap, ``RESAMPLES`` resamples from
``numpy.random.default_rng(BOOTSTRAP_SEED)``; per resample and per cell (in order) S seed indices
``rng.integers(0, S, S)`` then N image indices ``rng.integers(0, N, N)`` (one image draw for all cells when they
share their test images, drawn with the first cell); the resampled effect is the sum over cells of
sign * mean over drawn seeds of (constant[s] + images[s] . counts / N), counts = ``numpy.bincount`` of the drawn
images; the interval is ``numpy.quantile`` (linear) at (1 -+ confidence) / 2. It is shown beside the decision
interval, never decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from poolbench.report.decide import Estimate

RESAMPLES = 2000  # bootstrap resamples (the check): the 2.5 % quantile rests on 50 of them
BOOTSTRAP_SEED = 20210301  # fixed, so the check reproduces bit for bit (Bouthillier et al. 2021, MLSys 2021)
SEEDS_AND_IMAGES = "seeds+images"
SEEDS_ONLY = "seeds (t)"


@dataclass(frozen=True)
class CellImages:
    """One cell's part of an effect: per seed s, its effect is ``constant[s] + images[s].mean()`` (the part that
    does not depend on the test images, e.g. a train accuracy, and the per-image part); ``sign`` -1 for the cell
    an interaction subtracts."""

    constant: np.ndarray  # (S,)
    images: np.ndarray  # (S, N)
    sign: float = 1.0

    def per_seed(self) -> np.ndarray:
        return np.asarray(self.constant, dtype=float) + np.asarray(self.images, dtype=float).mean(axis=1)

    def per_image(self) -> np.ndarray:
        """m_i: the per-image effect averaged over the seeds."""
        return np.asarray(self.images, dtype=float).mean(axis=0)


def image_variance(parts: Sequence[CellImages], shared: bool) -> float:
    """The test-image term of the effect's variance: var_i(m_i) / N of the signed sum of the cells' per-image
    effects when the cells share their test images (one draw of images), else the sum of each cell's own term
    (independent draws). NaN with fewer than 2 images."""
    if shared:
        combined = sum(part.sign * part.per_image() for part in parts)
        values = [np.asarray(combined, dtype=float)]
    else:
        values = [part.per_image() for part in parts]
    if any(v.size < 2 for v in values):
        return math.nan
    return float(sum(v.var(ddof=1) / v.size for v in values))


def with_images(estimate: Estimate, variance: float) -> Estimate:
    """The seed-only estimate with the image term added to its squared standard error: the same effect, n,
    degrees of freedom and per-seed points. Its planning spread ``sd`` is sqrt(n) * se, as if the image term
    shrank with seeds too (it does not: it shrinks with test images), so seeds_needed is a lower bound."""
    if not estimate.measured or not math.isfinite(estimate.se) or not math.isfinite(variance):
        return estimate
    se = math.sqrt(estimate.se**2 + variance)
    return replace(estimate, se=se, sd=se * math.sqrt(estimate.n))


def bootstrap_interval(
    parts: Sequence[CellImages],
    shared: bool,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """The two-level (seeds x images) percentile bootstrap interval of the effect; the draw order is the
    module's docstring's, so that a recompute with numpy alone gives the same numbers."""
    rng = np.random.default_rng(seed)
    data = [(np.asarray(p.constant, dtype=float), np.asarray(p.images, dtype=float), p.sign) for p in parts]
    draws = np.empty(resamples)
    for b in range(resamples):
        total, counts = 0.0, None
        for constant, images, sign in data:
            n_seeds, n_images = images.shape
            seeds = rng.integers(0, n_seeds, n_seeds)
            if counts is None or not shared:
                counts = np.bincount(rng.integers(0, n_images, n_images), minlength=n_images)
            per_seed = constant + images @ counts / n_images
            total += sign * float(per_seed[seeds].mean())
        draws[b] = total
    low, high = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)
