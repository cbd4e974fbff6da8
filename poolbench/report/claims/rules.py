"""How a claim's verdict follows from its primary endpoints (each decided by ``poolbench.report.decide``), stated
once (``CLAIM_RULE``, printed in claims.md) and applied by ``claim_verdict``; the headline of a claim is the
primary endpoint that decides it (``headline_of``)."""

from __future__ import annotations

from collections.abc import Sequence

from poolbench.report.claims.rows import Row
from poolbench.report.decide import CONTRADICTED, INCONCLUSIVE, NEGLIGIBLE, NOT_MEASURED, SUPPORTED, VERDICTS

CLAIM_RULE = (
    "A claim holds only where all of its primary endpoints do (they are its parts, declared in the plan): it is "
    "**contradicted** when any primary endpoint is contradicted; otherwise **inconclusive** while any is "
    "inconclusive or not measured (a primary without its runs, or on models that did not converge, decides "
    "nothing); otherwise **supported** when every one is supported, and **negligible** when every one is decided "
    "and at least one is negligible. Secondary rows are shown and never voted; counter-case cells never enter a "
    "claim they are not about; rows marked 'by construction' are shown and never counted."
)


def verdict_of(row: Row) -> str:
    return row.decision.verdict if row.decision is not None else NOT_MEASURED


def claim_verdict(primary: Sequence[Row]) -> tuple[str, str]:
    """(verdict, basis) of a claim from its primary rows, by ``CLAIM_RULE``."""
    verdicts = [verdict_of(row) for row in primary]
    counts = {v: verdicts.count(v) for v in VERDICTS if v in verdicts}
    basis = ", ".join(f"{n} {v}" for v, n in counts.items()) + f" (of {len(verdicts)} primary)"
    if not verdicts or all(v == NOT_MEASURED for v in verdicts):
        return NOT_MEASURED, basis if verdicts else "no primary endpoint"
    if CONTRADICTED in counts:
        return CONTRADICTED, basis
    if INCONCLUSIVE in counts or NOT_MEASURED in counts:
        return INCONCLUSIVE, basis
    return (SUPPORTED if counts.get(SUPPORTED) == len(verdicts) else NEGLIGIBLE), basis


def headline_of(primary: Sequence[Row], verdict: str) -> Row | None:
    """The primary endpoint that decides the claim: the first whose verdict is the claim's (for an inconclusive
    claim, the first inconclusive or unmeasured one)."""
    wanted = {verdict, NOT_MEASURED} if verdict == INCONCLUSIVE else {verdict}
    return next((row for row in primary if verdict_of(row) in wanted), primary[0] if primary else None)
