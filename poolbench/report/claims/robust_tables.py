"""The robustness map as tables: ``robustness.csv`` (one row per claim, mapped primary endpoint and
specification: effect, CI, word, every factor's level), per claim "holds in k of n specifications" with the
reference word and robust / fragile (flips under ...), for claims.md, robustness.md and ``robustness.tex``.

A claim *holds* in a specification where its word there (the verdict's rule over its primary endpoints, the
mapped ones re-decided) is its reference word; specifications that decided none of its mapped endpoints (no
runs, not converged, too few seeds) do not count in n and are named. *Robust*: it holds in every one of at
least two judged specifications; *fragile*: it does not, naming the specifications where its word flips (to
another decided word) and those where it is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from poolbench.report.claims.plan import ClaimSpec, Plan
from poolbench.report.claims.robustness import RobustnessPlan
from poolbench.report.claims.rows import Row
from poolbench.report.claims.rules import verdict_of
from poolbench.report.claims.specifications import SpecResult
from poolbench.report.claims.tables import effect_text, interval_text
from poolbench.report.decide import INCONCLUSIVE
from poolbench.report.latex import TEXT_WIDTH, LatexColumn, LatexTable, tex

ROBUST, FRAGILE = "robust", "fragile"


@dataclass(frozen=True)
class ClaimMap:
    """How far one claim's word holds."""

    claim: ClaimSpec
    reference_word: str
    holds: list[str]  # specifications whose word is the reference word
    differs: list[tuple[str, str]]  # (specification, its word)
    unjudged: list[str]  # specifications that decided none of its mapped endpoints
    in_map: bool  # False: no primary endpoint in the map (the probe tasks)

    @property
    def n(self) -> int:
        return len(self.holds) + len(self.differs)

    @property
    def standing(self) -> str:
        if not self.in_map:
            return "outside the map"
        if self.n < 2:
            return "not judged"
        if not self.differs:
            return ROBUST
        flips = [f"{name} → {word}" for name, word in self.differs if word != INCONCLUSIVE]
        undecided = [name for name, word in self.differs if word == INCONCLUSIVE]
        parts = ([f"flips under {'; '.join(flips)}"] if flips else []) + (
            [f"inconclusive under {'; '.join(undecided)}"] if undecided else []
        )
        return f"{FRAGILE} ({'; '.join(parts)})"

    @property
    def holds_text(self) -> str:
        return f"holds in {len(self.holds)} of {self.n} specifications" if self.in_map else "—"


def claim_maps(plan: Plan, results: Sequence[SpecResult], reference_words: Mapping[str, str]) -> list[ClaimMap]:
    """Per claim: its reference word (the verdict's, else the reference specification's) against every
    specification's word."""
    maps = []
    for claim in plan.claims:
        in_map = any(result.mapped_rows(claim.id) for result in results)
        reference = reference_words.get(claim.id) or results[0].words[claim.id]
        holds, differs, unjudged = [], [], []
        for result in results:
            name = result.spec.name
            if not result.applies(claim.id):
                continue  # e.g. a metric variant of a metric the claim does not read
            if not result.judged(claim.id):
                unjudged.append(name)
            elif result.words[claim.id] == reference:
                holds.append(name)
            else:
                differs.append((name, result.words[claim.id]))
        maps.append(ClaimMap(claim, reference, holds, differs, unjudged, in_map))
    return maps


def robustness_frame(robustness: RobustnessPlan, results: Sequence[SpecResult]) -> pd.DataFrame:
    """One row per (claim, mapped primary endpoint and head, specification), raw numbers and every level."""
    lines = []
    for result in results:
        levels = {f"level: {factor.name}": level.name for factor, level in result.spec.levels}
        for row in result.rows:
            if id(row) not in result.mapped:
                continue
            low, high = row.estimate.interval(0.95) if row.estimate.measured else (math.nan, math.nan)
            decision = row.decision
            lines.append(
                {
                    "claim": row.claim,
                    "endpoint": row.spec.name,
                    "comparison": row.comparison,
                    "metric": row.spec.metric + (f" - {row.spec.minus}" if row.spec.minus else ""),
                    "specification": result.spec.name,
                    "moved": ", ".join(result.spec.moved),
                    "setting": row.setting_full or row.setting,
                    "effect": row.estimate.effect if row.estimate.measured else math.nan,
                    "ci_low": low,
                    "ci_high": high,
                    "unit": row.spec.unit,
                    "sesoi": row.spec.sesoi.value,
                    "direction": row.spec.direction,
                    "n": row.estimate.n,
                    "word": verdict_of(row),
                    "p_zero_holm": decision.p_zero_holm if decision else math.nan,
                    "p_margin_holm": decision.p_margin_holm if decision else math.nan,
                    "claim_word": result.words[row.claim],
                    "changed": not result.spec.moved or id(row) in result.moved,  # False: as in the reference
                    "note": row.note,
                    **levels,
                }
            )
    return pd.DataFrame(lines)


def display_endpoints(results: Sequence[SpecResult], claim: str) -> pd.DataFrame:
    """The claim's mapped rows in every specification that changes them, formatted (robustness.md)."""
    lines = [
        {
            "specification": result.spec.name,
            "endpoint": endpoint_text(row),
            "comparison": row.comparison,
            "effect": effect_text(row),
            "95% CI": interval_text(row, 0.95),
            "n": row.estimate.n if row.estimate.measured else "—",
            "word": verdict_of(row),
            "note": row.note or "—",
        }
        for result in results
        for row in result.mapped_rows(claim)
        if not result.spec.moved or id(row) in result.moved
    ]
    return pd.DataFrame(lines)


def endpoint_text(row: Row) -> str:
    """The endpoint's name and what it reads (a metric level reads another metric under the same name)."""
    return f"{row.spec.name} [{row.spec.metric}" + (f" − {row.spec.minus}]" if row.spec.minus else "]")


def display_maps(maps: Sequence[ClaimMap]) -> pd.DataFrame:
    """One row per claim: reference word, holds in k of n, robust / fragile (claims.md, robustness.md)."""
    return pd.DataFrame(
        [
            {
                "#": item.claim.id,
                "reference word (pre-registered)": item.reference_word,
                "holds in": item.holds_text,
                "robust / fragile": item.standing,
                "not judged in": ", ".join(item.unjudged) if item.in_map and item.unjudged else "—",
            }
            for item in maps
        ]
    )


def robustness_latex(maps: Sequence[ClaimMap]) -> LatexTable:
    """One row per claim for ``\\textwidth``: reference word, k of n, robust / fragile."""

    def wrap(text: str, width: str) -> str:
        return rf"\parbox[t]{{{width}}}{{\raggedright {tex(text)}}}"

    columns = [
        LatexColumn("\\#", "l", [tex(item.claim.id) for item in maps]),
        LatexColumn("Reference word", "l", [tex(item.reference_word) for item in maps]),
        LatexColumn("Holds in", "l", [wrap(item.holds_text, "0.22\\textwidth") for item in maps]),
        LatexColumn("Robust / fragile", "l", [wrap(item.standing, "0.50\\textwidth") for item in maps]),
    ]
    caption = (
        "How far each verdict holds: every primary endpoint on the plan's base cell re-decided with one factor "
        "moved at a time (and the declared pairs), by the same rule, Holm within each specification; the "
        "reference word is the pre-registered verdict (robustness.csv: every row)."
    )
    return LatexTable("robustness map", TEXT_WIDTH, columns, caption=caption, font=r"\footnotesize", tabcolsep_pt=3)
