"""The verdict on the seed's claims about global pooling, measured from run records (never from models).

Every claim becomes rows of measurements (``Measurement``): one effect, oriented so that a positive value is
what the claim says, with its 95% CI over seeds (paired on seed where two heads ran on the same seeds of one
setting), n, and a verdict by ``claim_rules.RULES`` (printed in claims.md). A setting (a "cell") is one
dataset, backbone and value of every config key that varies between the runs (``auto_group_keys``, always
with ``dataset.task`` and ``dataset.train_samples`` where set); heads are only compared inside one cell.
Flatten + dense (``flatten``) is the non-global head; every other head is a global pool.

A claim's verdict combines its test rows (``claim_verdict``); counter-case and reported rows are shown, never
counted. ``poolbench.report.claims.output`` writes the tables, ``poolbench.report.claims.figures`` the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from poolbench.report.claims.cells import cells_of
from poolbench.report.claims.rows import claim1, claim2, claim3, claim4, claim5, claim5b
from poolbench.report.claims.rules import GAP, NOT_MEASURED, TEST, Measurement, claim_verdict


@dataclass(frozen=True)
class Claim:
    key: str
    seed_words: str
    measured: str


CLAIMS = (
    Claim(
        "1",
        "The use of global pooling eliminates the need for flattening, which can lead to a significant "
        "reduction in the number of parameters.",
        "share of flatten + dense's total parameters a global head removes",
    ),
    Claim(
        "2",
        "Global pooling simplifies the model by reducing feature dimensions, making it easier to train and "
        "less prone to overfitting.",
        "flatten's minus the global head's train - test accuracy (pp) and test - train loss, per training-set size",
    ),
    Claim(
        "3",
        "Different global pooling methods (like max and average) can yield different performance results "
        "depending on the task at hand.",
        "GMP - GAP test accuracy (pp) per task, and whether its sign flips between tasks",
    ),
    Claim(
        "4",
        "Global pooling is particularly useful for tasks like image classification, where the spatial "
        "arrangement of features is less critical.",
        "under shifts: flatten's accuracy drop minus the global head's (pp), global minus flatten consistency "
        "(zero fill, circular); counter-case: flatten - global test accuracy on the position task",
    ),
    Claim(
        "5",
        "[Global pooling] reduces computational complexity and memory requirements ... enables deployment on "
        "resource-constrained devices.",
        "serialized size and CPU latency/throughput saved against flatten (%), runs at other input sizes",
    ),
    Claim(
        "5b",
        "... reduces the computational load while retaining essential information from the original feature maps.",
        "forward multiply-adds and CPU latency at batch 1 saved against flatten (%)",
    ),
)


@dataclass
class ClaimVerdict:
    claim: Claim
    verdict: str
    basis: str
    headline: Measurement | None
    rows: list[Measurement]


def headline_of(rows: Sequence[Measurement]) -> Measurement | None:
    """The row a one-line summary shows: GAP's first test row (real data first), else the first test row."""
    tested = [r for r in rows if r.role == TEST and r.verdict != NOT_MEASURED]
    gap_rows = [r for r in tested if r.head == GAP]
    chosen = gap_rows or tested
    return chosen[0] if chosen else None


def judge_claims(runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> list[ClaimVerdict]:
    """Every claim of ``CLAIMS`` with its rows, verdict and headline row, from a deduplicated runs frame."""
    cells = cells_of(runs, extra_keys)
    structural = cells_of(runs, extra_keys, structural=True)
    rows = {
        "1": list(claim1(structural)),
        "2": list(claim2(cells)),
        "3": list(claim3(cells)),
        "4": list(claim4(cells)),
        "5": list(claim5(cells, structural)),
        "5b": list(claim5b(cells, structural)),
    }
    verdicts = []
    for claim in CLAIMS:
        claim_rows = [r for r in rows[claim.key] if r.verdict != NOT_MEASURED or r.role != TEST]
        verdict, basis = claim_verdict(claim.key, claim_rows)
        verdicts.append(ClaimVerdict(claim, verdict, basis, headline_of(claim_rows), claim_rows))
    return verdicts
