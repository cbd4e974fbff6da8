"""The verdict on the seed's claims about global pooling, measured from run records (never from models) by the
analysis plan (``poolbench/conf/analysis/claims.yaml``, ``poolbench.report.claims.plan``).

A cell is one dataset, backbone and value of every config key that varies between the runs (always with the
keys the plan's cells are pinned on); the plan reads only the cells it declares, each the one setting whose
values match its pins; heads are only compared inside one cell (an interaction compares two declared cells).
Every primary endpoint of every claim is decided by one rule (``poolbench.report.decide``) with Holm's
adjustment across all of them; a claim's verdict follows from its primary endpoints by its declared combine
rule (``poolbench.report.claims.rules``). To re-decide every primary endpoint in another specification (the
robustness map): ``judge_claims(respecify(plan, {"cell": {"key": value}}), runs, extra_keys, converged)``.
``poolbench.report.claims.output`` writes the tables, ``poolbench.report.claims.figures`` the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from poolbench.report.claims.cells import Cell, cells_of
from poolbench.report.claims.failures import failure_rows
from poolbench.report.claims.plan import ClaimSpec, Plan
from poolbench.report.claims.rows import Converged, Row, measure
from poolbench.report.claims.rules import claim_verdict, headline_of
from poolbench.report.decide import NOT_MEASURED, Decision, Endpoint, decide_all

CONVERGED_FIELD = "converged"  # a per-run flag, where the records carry one; else convergence.csv's converged column


@dataclass
class ClaimVerdict:
    claim: ClaimSpec
    verdict: str
    basis: str
    headline: Row | None
    primary: list[Row]
    secondary: list[Row]

    @property
    def rows(self) -> list[Row]:
        return [*self.primary, *self.secondary]


def convergence_lookup(runs: pd.DataFrame, convergence: pd.DataFrame, keys: Sequence[str]) -> Converged:
    """Did every run of a head in a cell converge? From the records' ``converged`` field where they have one,
    else from the convergence table (``converged`` per setting and head, ``poolbench.report.convergence``);
    None where neither says (no learning curves)."""
    if CONVERGED_FIELD in runs.columns and runs[CONVERGED_FIELD].notna().any():

        def from_records(cell: Cell, head: str) -> bool | None:
            flags = cell.runs.loc[cell.runs["head"] == head, CONVERGED_FIELD]
            return None if flags.isna().all() else bool(flags.fillna(False).astype(bool).all())

        return from_records
    table: dict[tuple[str, ...], bool] = {}
    if not convergence.empty and set(keys) <= set(convergence.columns):
        for row in convergence.to_dict("records"):
            table[tuple(str(row[k]) for k in [*keys, "head"])] = row["converged"] == "yes"

    def from_table(cell: Cell, head: str) -> bool | None:
        return table.get(tuple(str(v) for v in [*cell.values, head]))

    return from_table


def judge_claims(
    plan: Plan, runs: pd.DataFrame, extra_keys: Sequence[str], converged: Converged | None = None
) -> list[ClaimVerdict]:
    """Every claim of the plan with its rows and verdict, from a deduplicated runs frame."""
    cells = cells_of(runs, extra_keys)
    rows = measure(plan, cells, converged or (lambda cell, head: None))
    decide(plan, [row for row in rows if row.primary])
    verdicts = []
    for claim in plan.claims:
        primary = [r for r in rows if r.claim == claim.id and r.primary]
        secondary = [r for r in rows if r.claim == claim.id and not r.primary]
        secondary += failure_rows(plan.failed_run, [*primary, *secondary])
        verdict, basis = claim_verdict(primary, claim.combine)
        verdicts.append(ClaimVerdict(claim, verdict, basis, headline_of(primary, verdict), primary, secondary))
    return verdicts


def decide(plan: Plan, primary: Sequence[Row]) -> None:
    """Decide every primary row that counts, Holm-adjusted across all of them (all claims together; a test two
    claims share counts once); rows that do not count (not converged, no runs) are "not measured"."""
    counted = [row for row in primary if row.counts and row.estimate.measured]
    tests: dict[tuple[object, ...], list[Row]] = {}
    for row in counted:  # one hypothesis read by two claims (claims 4 and 5: native accuracy) is one test
        tests.setdefault(hypothesis(row), []).append(row)
    endpoints = [
        (rows[0].estimate, Endpoint(rows[0].spec.direction, rows[0].spec.sesoi.value)) for rows in tests.values()
    ]
    for rows, decision in zip(tests.values(), decide_all(endpoints, plan.alpha, plan.power, planning=True)):
        for row in rows:
            row.decision = decision
    for row in primary:
        if row.decision is None:
            row.decision = Decision(NOT_MEASURED)


def hypothesis(row: Row) -> tuple[object, ...]:
    """What a primary row tests: the same cells, heads, metric, effect, direction and SESOI are the same test."""
    spec = row.spec
    return (
        row.cell_names,
        row.head,
        spec.against,
        spec.metric,
        spec.minus,
        spec.effect,
        spec.direction,
        spec.sesoi.value,
    )


def every_verdict_not_measured(verdicts: Sequence[ClaimVerdict]) -> bool:
    return all(item.verdict == NOT_MEASURED for item in verdicts)
