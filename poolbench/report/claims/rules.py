"""How a claim's verdict follows from its primary endpoints (each decided by ``poolbench.report.decide``), stated
once (``CLAIM_RULE``, printed in claims.md) and applied by ``claim_verdict`` with the claim's declared ``combine``
(``all``: the seed's parts are conjunctive; ``any``: the seed says "can"); the headline of a claim is the primary
endpoint that decides it (``headline_of``)."""

from __future__ import annotations

from collections.abc import Sequence

from poolbench.report.claims.plan import ALL, ANY
from poolbench.report.claims.rows import Row
from poolbench.report.decide import CONTRADICTED, INCONCLUSIVE, NEGLIGIBLE, NOT_MEASURED, SUPPORTED

CLAIM_RULE = (
    "A claim's primary endpoints are its parts (each names the seed's phrase it tests); the plan declares per "
    "claim how they combine. **all** (the seed's parts are conjunctive): the claim is **contradicted** when any "
    "part is contradicted; otherwise **inconclusive** while any is inconclusive or not measured (a primary without "
    "its runs, or on models that did not converge, decides nothing); otherwise **supported** when every part is "
    "supported, and **negligible** when every one is decided and at least one is negligible. **any** (the seed "
    "says 'can'): **supported** when any part is supported; otherwise **inconclusive** while any is inconclusive "
    "or not measured; otherwise **contradicted** when any part is contradicted, else **negligible**. Either way "
    "every primary test is in the Holm family, and a claim whose parts are all unmeasured is **not measured**. "
    "The verdict row lists every part's word. Secondary rows are shown and never voted; counter-case cells never "
    "enter a claim they are not about; rows marked 'by construction' and failure rates are shown, never counted."
)


def verdict_of(row: Row) -> str:
    return row.decision.verdict if row.decision is not None else NOT_MEASURED


def part_name(row: Row) -> str:
    return row.spec.name if row.spec is not None else row.quantity


def claim_verdict(primary: Sequence[Row], combine: str = ALL) -> tuple[str, str]:
    """(verdict, basis) of a claim from its primary rows by ``CLAIM_RULE``; the basis lists each part's word
    ("bytes saved supported, accuracy contradicted (all parts)")."""
    verdicts = [verdict_of(row) for row in primary]
    if not verdicts:
        return NOT_MEASURED, "no primary endpoint"
    basis = ", ".join(f"{part_name(row)} {v}" for row, v in zip(primary, verdicts)) + f" ({combine} parts)"
    if all(v == NOT_MEASURED for v in verdicts):
        return NOT_MEASURED, basis
    if combine == ANY and SUPPORTED in verdicts:
        return SUPPORTED, basis
    if combine == ALL and CONTRADICTED in verdicts:
        return CONTRADICTED, basis
    if INCONCLUSIVE in verdicts or NOT_MEASURED in verdicts:
        return INCONCLUSIVE, basis
    if combine == ANY:
        return (CONTRADICTED if CONTRADICTED in verdicts else NEGLIGIBLE), basis
    return (SUPPORTED if all(v == SUPPORTED for v in verdicts) else NEGLIGIBLE), basis


def headline_of(primary: Sequence[Row], verdict: str) -> Row | None:
    """The primary endpoint that decides the claim: the first whose verdict is the claim's (for an inconclusive
    claim, the first inconclusive or unmeasured one)."""
    wanted = {verdict, NOT_MEASURED} if verdict == INCONCLUSIVE else {verdict}
    return next((row for row in primary if verdict_of(row) in wanted), primary[0] if primary else None)
