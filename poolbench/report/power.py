"""The power of a t test, from the noncentral t distribution: the two-sided test against 0 (``power_against``) and
TOST (``power_tost``), paired or two-sample, and the smallest n that reaches a power (``smallest_n``). Numbers in,
numbers out; ``poolbench.report.decide`` turns them into the seeds an endpoint needs."""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import stats

PAIRED, INDEPENDENT = "paired", "independent"
MAX_SEEDS = 1000  # the seeds numbers give up above this: the effect sits (almost) on a decision boundary


def _tail(probability: float) -> float:
    """scipy's noncentral t returns NaN for some far tails (values below 1e-12): they are 0 here."""
    return 0.0 if math.isnan(probability) else float(probability)


def _degrees(n: int, design: str) -> float:
    return 2.0 * (n - 1) if design == INDEPENDENT else n - 1.0


def power_against(difference: float, sd: float, n: int, alpha: float, design: str = PAIRED) -> float:
    """Power of the two-sided t test of effect == 0 when the true effect is ``difference`` (noncentral t)."""
    df = _degrees(n, design)
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    shift = difference * math.sqrt(n) / sd
    return _tail(stats.nct.sf(critical, df, shift)) + _tail(stats.nct.cdf(-critical, df, shift))


def power_tost(difference: float, sd: float, n: int, margin: float, alpha: float, design: str = PAIRED) -> float:
    """A lower bound on the power of TOST (each one-sided test at ``alpha``): P(A) + P(B) - 1 (Bonferroni's
    inequality for the joint rejection; exact would need the two tests' shared variance estimate)."""
    df = _degrees(n, design)
    critical = float(stats.t.ppf(1 - alpha, df))
    root = math.sqrt(n) / sd
    above = _tail(stats.nct.sf(critical, df, (difference + margin) * root))
    below = _tail(stats.nct.cdf(-critical, df, (difference - margin) * root))
    return max(0.0, above + below - 1.0)


def smallest_n(reached: Callable[[int], bool]) -> int:
    if not reached(MAX_SEEDS):
        return MAX_SEEDS + 1
    low, high = 2, MAX_SEEDS  # power rises with n: bisect for the smallest n that reaches it
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if reached(middle) else (middle + 1, high)
    return low
