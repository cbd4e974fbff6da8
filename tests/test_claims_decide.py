"""The statistics engine (poolbench.report.decide) on numbers whose truth is known: each of the four verdicts,
Holm's adjustment across endpoints against a hand computation, the seeds-needed number against published
sample sizes and scipy's noncentral t, exact endpoints judged against the SESOI alone, non-inferiority and the
Welch interaction against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from poolbench.report.decide import (
    CONTRADICTED,
    GREATER,
    INCONCLUSIVE,
    INDEPENDENT,
    LESS,
    MAX_SEEDS,
    NEGLIGIBLE,
    NONINFERIOR,
    NOT_MEASURED,
    SUPPORTED,
    Endpoint,
    Estimate,
    decide_all,
    exact_estimate,
    holm,
    independent_estimate,
    paired_estimate,
    seeds_needed,
)

PP = 0.01  # one percentage point of accuracy, as a fraction
ONE_PP_UP = Endpoint(GREATER, PP)


def decide_one(differences: list[float], endpoint: Endpoint = ONE_PP_UP):
    [decision] = decide_all([(paired_estimate(differences), endpoint)])
    return decision


def test_a_large_significant_effect_on_the_claimed_side_is_supported() -> None:
    diffs = [0.050, 0.060, 0.055, 0.050, 0.060]
    decision = decide_one(diffs)
    assert decision.p_zero == pytest.approx(stats.ttest_1samp(diffs, 0.0).pvalue)
    assert decision.verdict == SUPPORTED and decision.seeds_needed is None


def test_the_same_effect_on_the_other_side_is_contradicted() -> None:
    assert decide_one([-0.050, -0.060, -0.055, -0.050, -0.060]).verdict == CONTRADICTED
    assert decide_one([-0.050, -0.060, -0.055, -0.050, -0.060], Endpoint(LESS, PP)).verdict == SUPPORTED


def test_a_tiny_effect_inside_the_sesoi_is_negligible_by_tost() -> None:
    diffs = [0.001, -0.001, 0.0005, 0.0, 0.0002]
    decision = decide_one(diffs)
    # TOST by hand: the larger of the two one-sided p-values against -1 pp and +1 pp
    above = stats.ttest_1samp(diffs, -PP, alternative="greater").pvalue
    below = stats.ttest_1samp(diffs, PP, alternative="less").pvalue
    assert decision.p_margin == pytest.approx(max(above, below))
    assert decision.verdict == NEGLIGIBLE
    # a real (significant) but tiny effect is negligible too: its 90% CI lies inside +-SESOI
    assert decide_one([0.0020, 0.0025, 0.0022, 0.0021, 0.0024]).verdict == NEGLIGIBLE


def test_a_noisy_effect_is_inconclusive_with_the_seeds_that_would_decide_it() -> None:
    diffs = [0.05, -0.02, 0.03]
    decision = decide_one(diffs)
    assert decision.verdict == INCONCLUSIVE
    estimate = paired_estimate(diffs)
    assert decision.seeds_needed == seeds_needed(estimate, ONE_PP_UP, 0.05)
    assert 3 < decision.seeds_needed < MAX_SEEDS


def test_significant_but_below_the_sesoi_and_not_equivalent_is_inconclusive() -> None:
    """0.8 pp +- 0.4: the CI excludes 0 but the estimate does not reach 1 pp and the 90% CI crosses +1 pp."""
    decision = decide_one([0.004, 0.012, 0.008, 0.006, 0.010])
    assert decision.p_zero < 0.05 and decision.verdict == INCONCLUSIVE


def test_one_seed_is_inconclusive_and_no_runs_are_not_measured() -> None:
    single = decide_one([0.05])
    assert single.verdict == INCONCLUSIVE and single.seeds_needed is None and math.isnan(single.p_zero)
    assert decide_one([]).verdict == NOT_MEASURED


def test_holm_runs_across_every_endpoint_and_changes_a_verdict() -> None:
    """Three endpoints from three claims. Hand computation: p sorted 0.0100 (x3), then 0.0300 (x2), 0.0400 (x1)
    -> 0.0300, 0.0600, max(0.0600, 0.0400) = 0.0600."""
    rng = np.random.default_rng(0)
    wanted = {"a": 0.01, "b": 0.04, "c": 0.03}
    samples = {name: diffs_with_p(p, rng) for name, p in wanted.items()}
    raw = {name: stats.ttest_1samp(d, 0.0).pvalue for name, d in samples.items()}
    assert raw == pytest.approx(wanted, abs=1e-6)
    decisions = dict(zip(samples, decide_all([(paired_estimate(d), ONE_PP_UP) for d in samples.values()])))
    assert decisions["a"].p_zero_holm == pytest.approx(3 * raw["a"])
    assert decisions["c"].p_zero_holm == pytest.approx(2 * raw["c"])
    assert decisions["b"].p_zero_holm == pytest.approx(2 * raw["c"])  # monotone: not below the previous step
    assert decisions["a"].verdict == SUPPORTED  # 0.03 < 0.05
    assert decisions["b"].verdict == INCONCLUSIVE  # 0.04 unadjusted would have passed; 0.06 adjusted does not
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)


def diffs_with_p(p: float, rng: np.random.Generator, n: int = 5) -> list[float]:
    """n differences with mean >= 2 pp whose one-sample t test against 0 has exactly p (two-sided)."""
    noise = rng.normal(size=n)
    noise = (noise - noise.mean()) / noise.std(ddof=1)
    t = stats.t.isf(p / 2, n - 1)
    sd = 0.05
    return (t * sd / math.sqrt(n) + sd * noise).tolist()


@pytest.mark.parametrize("effect_size, published", [(0.5, 34), (0.8, 15), (1.0, 10)])
def test_seeds_needed_matches_published_paired_sample_sizes(effect_size: float, published: int) -> None:
    """G*Power, matched pairs, two-sided alpha 0.05, power 0.8: d_z 0.5 -> 34, 0.8 -> 15, 1.0 -> 10."""
    estimate = Estimate(effect_size, math.nan, math.nan, 3, 1.0)
    assert seeds_needed(estimate, Endpoint(GREATER, 0.1), 0.05) == published


def test_seeds_needed_is_the_smallest_n_with_power_from_scipy_and_matches_the_closed_form() -> None:
    effect, sd, alpha = 0.012, 0.02, 0.05 / 4
    n = seeds_needed(Estimate(effect, math.nan, math.nan, 3, sd), ONE_PP_UP, alpha)
    assert n is not None

    def power(k: int) -> float:  # independent: the noncentral t of a paired t test, written out here
        critical = stats.t.ppf(1 - alpha / 2, k - 1)
        return stats.nct.sf(critical, k - 1, effect * math.sqrt(k) / sd) + stats.nct.cdf(
            -critical, k - 1, effect * math.sqrt(k) / sd
        )

    assert power(n) >= 0.8 > power(n - 1)
    # Guenther's (1981) closed form for the one-sample t test: the normal n plus z_(alpha/2)^2 / 2
    z = stats.norm.isf(alpha / 2)
    closed = ((z + stats.norm.isf(0.2)) * sd / effect) ** 2 + z**2 / 2
    assert abs(n - math.ceil(closed)) <= 1


def test_seeds_needed_for_an_interaction_is_per_cell_and_matches_the_two_sample_size() -> None:
    """Two independent cells with the same spread: d = 0.5 -> 64 per group (G*Power, two-sided 0.05, 0.8)."""
    estimate = Estimate(0.5, math.nan, math.nan, 3, math.sqrt(2.0), INDEPENDENT)
    assert seeds_needed(estimate, Endpoint(GREATER, 0.1), 0.05) == 64


def test_seeds_needed_for_negligible_uses_tost_and_gives_up_on_the_boundary() -> None:
    """Estimate 0 within a margin of half a spread: TOST needs ~(z_.95 + z_.9)^2 / 0.25 = 34.3, a few more with
    t; an estimate exactly on the SESOI cannot be decided by more seeds."""
    tost = seeds_needed(Estimate(0.0, math.nan, math.nan, 3, 1.0), Endpoint(GREATER, 0.5), 0.05)
    assert tost is not None and 35 <= tost <= 40
    assert seeds_needed(Estimate(0.0, math.nan, math.nan, 3, 1.0), Endpoint(GREATER, 1e-6), 0.05) == MAX_SEEDS + 1


def test_exact_endpoints_are_judged_against_the_sesoi_alone_and_never_tested() -> None:
    endpoint = Endpoint(GREATER, 0.10)
    cases = {0.56: SUPPORTED, 0.10: SUPPORTED, 0.016: NEGLIGIBLE, -0.05: NEGLIGIBLE, -0.2: CONTRADICTED}
    for value, verdict in cases.items():
        [decision] = decide_all([(exact_estimate(value), endpoint)])
        assert decision.verdict == verdict, value
        assert math.isnan(decision.p_zero) and math.isnan(decision.p_margin) and decision.seeds_needed is None
    assert exact_estimate(0.3).interval() == (0.3, 0.3)
    assert decide_all([(exact_estimate(None), endpoint)])[0].verdict == NOT_MEASURED
    # an exact endpoint is not in the Holm family: the statistical endpoint keeps its unadjusted p
    diffs = [0.050, 0.060, 0.055, 0.050, 0.060]
    alone, with_exact = (
        decide_one(diffs),
        decide_all([(paired_estimate(diffs), ONE_PP_UP), (exact_estimate(0.5), endpoint)]),
    )
    assert with_exact[0].p_zero_holm == pytest.approx(alone.p_zero)


def test_non_inferiority_supports_a_kept_accuracy_and_contradicts_a_lost_one() -> None:
    endpoint = Endpoint(NONINFERIOR, PP)
    assert decide_one([0.001, -0.002, 0.0, 0.002, -0.001], endpoint).verdict == SUPPORTED
    assert decide_one([-0.07, -0.08, -0.075, -0.072, -0.078], endpoint).verdict == CONTRADICTED
    noisy = decide_one([0.02, -0.06, 0.01], endpoint)
    assert noisy.verdict == INCONCLUSIVE and noisy.seeds_needed is not None
    assert exact_estimate(-0.005) and decide_all([(exact_estimate(-0.02), endpoint)])[0].verdict == CONTRADICTED


def test_the_interaction_is_welchs_difference_of_two_cells() -> None:
    presence, density = [0.19, 0.20, 0.23, 0.18, 0.21], [-0.06, -0.05, -0.07, -0.04, -0.06]
    estimate = independent_estimate(presence, density)
    welch = stats.ttest_ind(presence, density, equal_var=False)
    [decision] = decide_all([(estimate, Endpoint(GREATER, 2 * PP))])
    assert estimate.effect == pytest.approx(np.mean(presence) - np.mean(density))
    assert decision.p_zero == pytest.approx(welch.pvalue)
    low, high = estimate.interval()
    ci = welch.confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert decision.verdict == SUPPORTED
