"""The verdict rules of ``claims.verdict``, stated once (``RULES``, printed in claims.md) and applied by
the functions below: a row's verdict from its CI (or, for deterministic quantities, a threshold), and a claim's
verdict from its rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FLATTEN = "flatten"
GAP, GMP = "gap", "gmp"
SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED = "supported", "contradicted", "inconclusive", "not measured"
MAX_WINS, AVG_WINS = "max > avg", "avg > max"
TEST, COUNTER, REPORTED = "test", "counter-case", "reported"
SIGNIFICANT_REDUCTION = 0.25  # claim 1, "a significant reduction": at least a quarter of the model's parameters
MATERIAL_REDUCTION = 0.05  # claims 5 and 5b, "cheaper"/"reduces the load": at least 5% of the model's cost

RULES = (
    "Each row's effect is oriented so that a positive value is what the claim says; its 95% CI is Student's t "
    "over seeds (over per-seed differences where two heads ran on the same seeds of one setting). A row is "
    "**supported** when the CI excludes 0 on the positive side, **contradicted** when it excludes 0 on the "
    "negative side, **inconclusive** otherwise (or with fewer than 2 seeds), **not measured** without the runs. "
    f"Deterministic quantities (parameters, MACs, bytes) have no CI: a reduction of at least "
    f'{SIGNIFICANT_REDUCTION:.0%} of flatten\'s parameters supports claim 1 ("significant"), of at least '
    f"{MATERIAL_REDUCTION:.0%} of its size or MACs supports claims 5/5b; no reduction (<= 0) contradicts; in "
    "between is inconclusive (real but small). Running at other input sizes: the share of the global head's "
    "runs that run at every other size minus flatten's share; above 0 supports, below 0 contradicts. Claim 3 "
    "rows give the sign of GMP - GAP (CI rule); the claim is supported when the sign flips (two settings whose "
    "CIs exclude 0 on opposite sides), contradicted when every setting (two or more) shows the same sign with "
    "CIs excluding 0. Any other claim is supported when at least half of its test rows are supported and none "
    "contradicted, contradicted when at least half are contradicted and none supported, inconclusive otherwise. "
    "Counter-case and reported rows are not counted. The one-row summary shows the claim's first GAP "
    "measurement (real data first) as its headline."
)


@dataclass
class Measurement:
    claim: str
    setting: str
    comparison: str
    quantity: str
    effect: float
    ci_low: float
    ci_high: float
    n: int
    unit: str  # "pp" (difference of fractions, shown x100), "%" (relative, shown x100), "" (as is)
    verdict: str
    role: str = TEST
    real_data: bool = False  # a shipped real dataset (Fashion-MNIST, CIFAR-10), not a probe or synthetic task
    head: str = ""  # the global head of the comparison (its colour in the figures)
    setting_parts: tuple[str, ...] = ()  # the setting label's parts (figures drop the parts all rows share)
    setting_full: str = ""  # every grouping key of the setting (the label names only those that tell cells apart)


def ci_verdict(low: float, high: float, n: int) -> str:
    if n == 0:
        return NOT_MEASURED
    if not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if low > 0:
        return SUPPORTED
    return CONTRADICTED if high < 0 else INCONCLUSIVE


def threshold_verdict(effect: float, threshold: float) -> str:
    if not math.isfinite(effect):
        return NOT_MEASURED
    if effect >= threshold:
        return SUPPORTED
    return CONTRADICTED if effect <= 0 else INCONCLUSIVE


def sign_verdict(low: float, high: float, n: int) -> str:
    """Claim 3's row verdict: which pool is ahead, when the CI says so."""
    verdict = ci_verdict(low, high, n)
    return {SUPPORTED: MAX_WINS, CONTRADICTED: AVG_WINS}.get(verdict, verdict)


def claim_verdict(claim: str, rows: Sequence[Measurement]) -> tuple[str, str]:
    """(verdict, basis) of one claim from its test rows, by the rule in ``RULES``."""
    tested = [r for r in rows if r.role == TEST and r.verdict != NOT_MEASURED]
    if not tested:
        return NOT_MEASURED, "no setting holds the runs this claim needs"
    if claim == "3":
        max_wins = sum(r.verdict == MAX_WINS for r in tested)
        avg_wins = sum(r.verdict == AVG_WINS for r in tested)
        basis = f"{max_wins} of {len(tested)} settings max > avg, {avg_wins} avg > max"
        if max_wins and avg_wins:
            return SUPPORTED, basis + " (the sign flips)"
        if len(tested) >= 2 and (max_wins == len(tested) or avg_wins == len(tested)):
            return CONTRADICTED, basis + " (one pool wins everywhere)"
        return INCONCLUSIVE, basis
    supported = sum(r.verdict == SUPPORTED for r in tested)
    contradicted = sum(r.verdict == CONTRADICTED for r in tested)
    basis = f"{supported} of {len(tested)} rows supported, {contradicted} contradicted"
    if supported and not contradicted and 2 * supported >= len(tested):
        return SUPPORTED, basis
    if contradicted and not supported and 2 * contradicted >= len(tested):
        return CONTRADICTED, basis
    return INCONCLUSIVE, basis
