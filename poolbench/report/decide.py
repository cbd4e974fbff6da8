"""One statistics engine for every verdict the report gives: the claims (``claims.md``) and every sweep's paired
table (``paired.md``, any head against the baseline). Pure functions on numbers; nothing here reads records.

An *endpoint* is one effect (head minus the head it is compared with, or a difference of such differences) with
the direction a claim predicts and its smallest effect size of interest (SESOI, ``sesoi`` > 0). Four verdicts
from one rule (``RULE``):

- **supported**: the test against 0 rejects (Holm-adjusted p < alpha; unadjusted, the 95% CI excludes 0) and
  the effect *estimate* lies at least one SESOI from 0 on the claimed side. "Reaches the SESOI" means the point
  estimate, not a CI bound: a bound at the SESOI is a test that the effect is *larger than* the SESOI, which
  at 3-10 seeds would price every real but moderate effect out; significance against 0 and a relevant best
  estimate is the usual "significant and relevant" rule.
- **contradicted**: the same on the other side.
- **negligible**: two one-sided tests (TOST) against -SESOI and +SESOI reject (Holm-adjusted p < alpha;
  unadjusted, the 90% CI lies inside +-SESOI): whatever the effect is, it is smaller than anyone cares about.
- **inconclusive**: none of these; ``seeds_needed`` says how many seeds would decide it at the observed spread.

A *non-inferiority* endpoint (direction ``noninferior``, e.g. "accuracy at another input size stays within the
SESOI of the native size") is supported when the test against -SESOI rejects with the estimate above it and
contradicted when it rejects with the estimate below it; it has no "negligible".

Deterministic quantities (parameters, multiply-adds, bytes: ``exact_estimate``) have no spread and no test: the
exact effect is judged against the SESOI alone (at least one SESOI on the claimed side: supported; on the other
side: contradicted; in between: negligible). They never enter a Holm family.

Holm: the tests against 0 of all endpoints decided together form one family, the margin tests (TOST, and the
non-inferiority tests) another; each family is Holm-adjusted over all of its tests (``decide_all``).

It decides on the ``Estimate`` it is given (seed-only, or widened by the test images: ``image_ci.with_images``);
its p-values are t tests of that effect, standard error and df, so they agree with the interval shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from poolbench.report import power as power_of_tests
from poolbench.report.power import INDEPENDENT, PAIRED, power_against, power_tost, smallest_n

SUPPORTED, CONTRADICTED, NEGLIGIBLE, INCONCLUSIVE = "supported", "contradicted", "negligible", "inconclusive"
NOT_MEASURED = "not measured"
VERDICTS = (SUPPORTED, CONTRADICTED, NEGLIGIBLE, INCONCLUSIVE, NOT_MEASURED)
GREATER, LESS, NONINFERIOR = "greater", "less", "noninferior"
DIRECTIONS = (GREATER, LESS, NONINFERIOR)
EXACT = "exact"
ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = power_of_tests.MAX_SEEDS  # the seeds numbers give up above this

RULE = (
    "**supported**: the test against 0 rejects after Holm's adjustment and the effect estimate lies at least one "
    "SESOI from 0 on the claimed side (the point estimate reaches the SESOI; unadjusted, the 95% CI excludes 0); "
    "**contradicted**: the same on the other side; **negligible**: two one-sided tests against ±SESOI reject "
    "after Holm's adjustment (unadjusted: the 90% CI lies inside ±SESOI); **inconclusive**: none of these. A "
    "non-inferiority endpoint is supported (contradicted) when the test against −SESOI rejects with the estimate "
    "above (below) it. Deterministic quantities (parameters, multiply-adds, bytes) are exact: at least one SESOI "
    "on the claimed side supports, on the other side contradicts, in between is negligible. Holm: the tests "
    "against 0 of all primary endpoints are one family (a test two claims share counts once), their margin tests "
    "(TOST, non-inferiority) another. Seeds to detect the SESOI (a planning number, never a verdict): the "
    "smallest n at which the endpoint's test (paired t, or Welch for an interaction; for non-inferiority the "
    f"test against −SESOI) has power {POWER:.0%} at level alpha/m (m tests in its family) against a true effect "
    "of one SESOI (non-inferiority: a true effect of 0), at the observed spread, the differences taken as normal."
)


@dataclass(frozen=True)
class Estimate:
    """An effect with its standard error: the mean of paired per-seed differences (``paired_estimate``), a
    difference of two such means from independent cells (``independent_estimate``) or an exact quantity."""

    effect: float
    se: float  # 0 for an exact quantity; NaN when the spread is unknown (fewer than 2 seeds)
    df: float  # degrees of freedom of the t reference (inf for an exact quantity)
    n: int  # seeds behind it (the smaller cell's for an independent difference); 0: not measured
    sd: float  # spread per seed that seeds_needed assumes (see the constructors)
    design: str = PAIRED
    points: tuple[float, ...] = ()  # per-seed values, for the figures

    @property
    def exact(self) -> bool:
        return self.design == EXACT

    @property
    def measured(self) -> bool:
        return self.n > 0 and math.isfinite(self.effect)

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """The two-sided t interval; (effect, effect) when exact or without spread, NaN when unknown."""
        if not self.measured or math.isnan(self.se):
            return math.nan, math.nan
        if self.se == 0:
            return self.effect, self.effect
        half = float(stats.t.ppf(0.5 + confidence / 2, self.df)) * self.se
        return self.effect - half, self.effect + half


def _finite(values: Iterable[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def paired_estimate(differences: Iterable[float | None]) -> Estimate:
    """The mean of per-seed differences (head minus the other head on the same seed), Student's t on n - 1."""
    data = _finite(differences)
    n = int(data.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, math.nan)
    sd = float(data.std(ddof=1)) if n > 1 else math.nan
    return Estimate(float(data.mean()), sd / math.sqrt(n), n - 1.0, n, sd, PAIRED, tuple(data.tolist()))


def independent_estimate(first: Iterable[float | None], second: Iterable[float | None]) -> Estimate:
    """mean(first) - mean(second) of two independent samples (per-seed differences in two cells: an interaction),
    Welch's standard error and degrees of freedom; the planning spread is sqrt(var1 + var2), so that the
    standard error at n seeds per cell is sd / sqrt(n)."""
    a, b = _finite(first), _finite(second)
    if a.size == 0 or b.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, math.nan, INDEPENDENT)
    effect = float(a.mean() - b.mean())
    n = int(min(a.size, b.size))
    points = tuple(float(x - b.mean()) for x in a)
    if n < 2:
        return Estimate(effect, math.nan, math.nan, n, math.nan, INDEPENDENT, points)
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if va + vb > 0 else math.inf
    sd = math.sqrt(float(a.var(ddof=1)) + float(b.var(ddof=1)))
    return Estimate(effect, se, df, n, sd, INDEPENDENT, points)


def exact_estimate(value: float | None) -> Estimate:
    """A deterministic quantity (the same for every seed): no spread, no test."""
    if value is None or not math.isfinite(value):
        return Estimate(math.nan, 0.0, math.inf, 0, 0.0, EXACT)
    return Estimate(float(value), 0.0, math.inf, 1, 0.0, EXACT, (float(value),))


def p_two_sided(estimate: Estimate, null: float) -> float:
    """p of the t test of effect == null (NaN without a spread; 0 or 1 when every seed gave the same value)."""
    if estimate.exact or not estimate.measured or not math.isfinite(estimate.se):
        return math.nan
    if estimate.se == 0:
        return 1.0 if estimate.effect == null else 0.0
    return float(2 * stats.t.sf(abs(estimate.effect - null) / estimate.se, estimate.df))


def p_tost(estimate: Estimate, margin: float) -> float:
    """p of the two one-sided tests that -margin < effect < margin (the larger one-sided p)."""
    if estimate.exact or not estimate.measured or not math.isfinite(estimate.se):
        return math.nan
    if estimate.se == 0:
        return 0.0 if abs(estimate.effect) < margin else 1.0
    above = stats.t.sf((estimate.effect + margin) / estimate.se, estimate.df)  # H0: effect <= -margin
    below = stats.t.cdf((estimate.effect - margin) / estimate.se, estimate.df)  # H0: effect >= +margin
    return float(max(above, below))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values of one family of tests.

    With the m finite p-values sorted ascending, p_(i) becomes max_{j<=i} min(1, (m - j + 1) p_(j)) (1-based);
    NaN p-values (no test) are not part of the family and stay NaN. Rejecting where the adjusted p < alpha
    controls the family-wise error rate at alpha (Holm 1979).
    """
    finite = sorted((p, i) for i, p in enumerate(p_values) if p is not None and math.isfinite(p))
    m = len(finite)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class Endpoint:
    """What a plan says about one effect: the side the claim predicts and its SESOI (> 0, the effect's unit)."""

    direction: str
    sesoi: float


@dataclass(frozen=True)
class Decision:
    verdict: str
    p_zero: float = math.nan  # the test against 0 (NaN: none)
    p_zero_holm: float = math.nan
    p_margin: float = math.nan  # TOST against +-SESOI, or the non-inferiority test against -SESOI
    p_margin_holm: float = math.nan
    # A planning number (``seeds_to_detect``): seeds per head and cell at which the endpoint's test detects an
    # effect of one SESOI at the observed spread; None: not computable (exact, fewer than 2 seeds, no spread).
    seeds_needed: int | None = None


def exact_verdict(effect: float, endpoint: Endpoint) -> str:
    if not math.isfinite(effect):
        return NOT_MEASURED
    if endpoint.direction == NONINFERIOR:
        return SUPPORTED if effect > -endpoint.sesoi else CONTRADICTED
    oriented = effect if endpoint.direction == GREATER else -effect
    if oriented >= endpoint.sesoi:
        return SUPPORTED
    return CONTRADICTED if oriented <= -endpoint.sesoi else NEGLIGIBLE


def rule_word(estimate: Estimate, endpoint: Endpoint, p_zero_holm: float, p_margin_holm: float, alpha: float) -> str:
    """The rule (``RULE``) given the Holm-adjusted p-values of the endpoint's tests."""
    if not estimate.measured:
        return NOT_MEASURED
    if estimate.exact:
        return exact_verdict(estimate.effect, endpoint)
    margin_rejects = math.isfinite(p_margin_holm) and p_margin_holm < alpha
    if endpoint.direction == NONINFERIOR:
        if margin_rejects:
            return SUPPORTED if estimate.effect > -endpoint.sesoi else CONTRADICTED
        return INCONCLUSIVE
    oriented = estimate.effect if endpoint.direction == GREATER else -estimate.effect
    if math.isfinite(p_zero_holm) and p_zero_holm < alpha and abs(oriented) >= endpoint.sesoi:
        return SUPPORTED if oriented > 0 else CONTRADICTED
    return NEGLIGIBLE if margin_rejects else INCONCLUSIVE


def margin_p(estimate: Estimate, endpoint: Endpoint) -> float:
    if endpoint.direction == NONINFERIOR:
        return p_two_sided(estimate, -endpoint.sesoi)
    return p_tost(estimate, endpoint.sesoi)


def decide_all(
    items: Sequence[tuple[Estimate, Endpoint]], alpha: float = ALPHA, power: float = POWER, planning: bool = False
) -> list[Decision]:
    """Decide every endpoint, Holm-adjusting the tests against 0 together and the margin tests together. The
    seeds number: ``planning`` (the claims) the seeds to detect the SESOI for every measured endpoint
    (``seeds_to_detect``), else (paired.md) the seeds that would decide an inconclusive one (``seeds_needed``)."""
    p_zero = [math.nan if ep.direction == NONINFERIOR else p_two_sided(est, 0.0) for est, ep in items]
    p_margin = [margin_p(est, ep) for est, ep in items]
    zero_holm, margin_holm = holm(p_zero), holm(p_margin)
    m_zero = sum(math.isfinite(p) for p in p_zero)
    m_margin = sum(math.isfinite(p) for p in p_margin)
    decisions = []
    for (est, ep), pz, pzh, pm, pmh in zip(items, p_zero, zero_holm, p_margin, margin_holm):
        verdict = rule_word(est, ep, pzh, pmh, alpha)
        needed = None
        if planning and verdict != NOT_MEASURED:
            family = m_margin if ep.direction == NONINFERIOR else m_zero
            needed = seeds_to_detect(est, ep, alpha / max(1, family), power)
        elif verdict == INCONCLUSIVE:
            tests_against_zero = ep.direction != NONINFERIOR and abs(est.effect) >= ep.sesoi
            family = m_zero if tests_against_zero else m_margin
            needed = seeds_needed(est, ep, alpha / max(1, family), power)
        decisions.append(Decision(verdict, pz, pzh, pm, pmh, needed))
    return decisions


def seeds_to_detect(estimate: Estimate, endpoint: Endpoint, alpha: float, power: float = POWER) -> int | None:
    """A planning number, not a verdict: the seeds (per head and cell) at which the endpoint's test has ``power``
    to detect a true effect of exactly one SESOI (for non-inferiority: a true effect of 0 against the -SESOI
    margin, the same distance) at the observed spread. It uses the estimate's spread only, never its effect, so
    it does not jump when an estimate sits near a decision boundary. ``MAX_SEEDS + 1``: more than MAX_SEEDS."""
    sd = estimate.sd
    if estimate.exact or not (math.isfinite(sd) and sd > 0):
        return None

    def reached(n: int) -> bool:
        return power_against(endpoint.sesoi, sd, n, alpha, estimate.design) >= power

    return smallest_n(reached)


def seeds_needed(estimate: Estimate, endpoint: Endpoint, alpha: float, power: float = POWER) -> int | None:
    """Seeds (per head and cell) at which the test that would decide this endpoint reaches ``power``, taking the
    observed effect and spread as the truth: the t test against 0 when the estimate is at least one SESOI from
    0 (supported or contradicted), TOST when it is within +-SESOI (negligible), the test against -SESOI for a
    non-inferiority endpoint. ``MAX_SEEDS + 1`` means "more than MAX_SEEDS"; None: no spread to plan with."""
    sd, effect = estimate.sd, estimate.effect
    if estimate.exact or not (math.isfinite(sd) and sd > 0 and math.isfinite(effect)):
        return None
    design, margin = estimate.design, endpoint.sesoi

    def reached(n: int) -> bool:
        if endpoint.direction == NONINFERIOR:
            return power_against(effect + margin, sd, n, alpha, design) >= power
        if abs(effect) >= margin:
            return power_against(effect, sd, n, alpha, design) >= power
        return power_tost(effect, sd, n, margin, alpha, design) >= power

    return smallest_n(reached)
