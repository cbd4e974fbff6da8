"""Write the claims verdict: ``claims.md`` (the rule, one row per claim, then every measurement row),
``claims.csv`` (one row per claim, raw numbers), ``claims_detail.csv`` (every row, raw numbers), ``claims.tex``
(one row per claim, booktabs, fits ``\\textwidth``) and one figure per claim (``poolbench.report.claims.figures``).

Written by ``write_report`` whenever the records hold the runs at least one claim needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.aggregate import auto_group_keys, deduplicate, runs_frame
from poolbench.report.canvas import FigureFile
from poolbench.report.claims.rules import NOT_MEASURED, RULES, Measurement
from poolbench.report.claims.verdict import ClaimVerdict, judge_claims
from poolbench.report.collect import Collection
from poolbench.report.formatting import EMPTY, pct, signed_text
from poolbench.report.latex import TEXT_WIDTH, LatexColumn, LatexTable, tex
from poolbench.report.tables import to_markdown

CLAIMS_STEM = "claims"
# Grouping keys the claims always split by when any run's config holds them (the probe task, the training-set
# size), even where the report's automatic grouping would not (e.g. a sweep of one task only).
CLAIM_KEYS = ("dataset.task", "dataset.train_samples")


@dataclass
class ClaimsResult:
    verdicts: list[ClaimVerdict]
    files: list[Path] = field(default_factory=list)
    figures: list[FigureFile] = field(default_factory=list)


def claims_runs(collection: Collection) -> tuple[pd.DataFrame, list[str]]:
    """The deduplicated runs frame the claims read, and its grouping keys (``CLAIM_KEYS`` where present)."""
    forced = [key for key in CLAIM_KEYS if _any_config_has(collection, key)]
    extra = auto_group_keys(collection, forced)
    runs, _ = deduplicate(runs_frame(collection, extra), extra)
    return runs, extra


def _any_config_has(collection: Collection, key: str) -> bool:
    from poolbench.report.aggregate import run_config
    from poolbench.report.variants import flatten

    return any(flatten(run_config(run)).get(key) is not None for run in collection.runs)


def effect_text(row: Measurement) -> str:
    if row.n == 0 or not math.isfinite(row.effect):
        return EMPTY
    if row.unit == "pp":
        return pct(row.effect, 1, plus=True) + " pp"
    if row.unit == "%":
        return pct(row.effect, 1, plus=True) + " %"
    if row.unit == "acc":
        return pct(row.effect, 1) + " %"
    return signed_text(row.effect, 3, plus=True)


def ci_text(row: Measurement) -> str:
    """The 95% CI in the effect's unit; "exact" for a deterministic quantity (one value, no spread)."""
    if row.n == 0:
        return EMPTY
    if row.n == 1 and row.ci_low == row.ci_high == row.effect:
        return "exact"  # deterministic (parameters, MACs, bytes): one value, no interval
    if row.ci_low == row.ci_high:
        return "no spread"  # every seed gave the same value
    if not (math.isfinite(row.ci_low) and math.isfinite(row.ci_high)):
        return "n < 2"
    if row.unit in ("pp", "%", "acc"):
        return f"[{pct(row.ci_low, 1)}, {pct(row.ci_high, 1)}]"
    return f"[{signed_text(row.ci_low, 3)}, {signed_text(row.ci_high, 3)}]"


def summary_frame(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    """One row per claim, raw numbers (``claims.csv``)."""
    rows = []
    for item in verdicts:
        head = item.headline
        rows.append(
            {
                "claim": item.claim.key,
                "seed_words": item.claim.seed_words,
                "measured": item.claim.measured,
                "headline_setting": head.setting if head else None,
                "headline_comparison": head.comparison if head else None,
                "headline_quantity": head.quantity if head else None,
                "effect": head.effect if head else math.nan,
                "ci_low": head.ci_low if head else math.nan,
                "ci_high": head.ci_high if head else math.nan,
                "unit": head.unit if head else None,
                "n": head.n if head else 0,
                "verdict": item.verdict,
                "basis": item.basis,
            }
        )
    return pd.DataFrame(rows)


def detail_frame(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    rows = [asdict(row) for item in verdicts for row in item.rows]
    columns = list(Measurement.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)


def display_summary(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    rows = []
    for item in verdicts:
        head = item.headline
        headline = f"{head.comparison}, {head.quantity} ({head.setting})" if head else EMPTY
        rows.append(
            {
                "#": item.claim.key,
                "claim (seed's words)": item.claim.seed_words,
                "measured": item.claim.measured,
                "headline": headline,
                "effect": effect_text(head) if head else EMPTY,
                "95% CI": ci_text(head) if head else EMPTY,
                "n": str(head.n) if head else "0",
                "verdict": f"**{item.verdict}**",
                "basis": item.basis,
            }
        )
    return pd.DataFrame(rows)


def display_detail(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    rows = [
        {
            "#": row.claim,
            "setting": row.setting,
            "comparison": row.comparison,
            "quantity": row.quantity,
            "effect": effect_text(row),
            "95% CI": ci_text(row),
            "n": row.n,
            "role": row.role,
            "verdict": row.verdict,
        }
        for item in verdicts
        for row in item.rows
    ]
    return pd.DataFrame(rows)


def claims_latex(verdicts: Sequence[ClaimVerdict]) -> LatexTable:
    """One row per claim for ``\\textwidth``: the claim, the headline effect with its CI and n, the verdict."""
    summary = display_summary(verdicts)

    def wrap(text: str, width: str) -> str:
        return rf"\parbox[t]{{{width}}}{{\raggedright {tex(text)}}}"

    columns = [
        LatexColumn("\\#", "l", [tex(v) for v in summary["#"]]),
        LatexColumn("Claim (seed's words)", "l", [wrap(v, "0.33\\textwidth") for v in summary["claim (seed's words)"]]),
        LatexColumn("Headline measurement", "l", [wrap(v, "0.25\\textwidth") for v in summary["headline"]]),
        LatexColumn("Effect", "r", [tex(v) for v in summary["effect"]]),
        LatexColumn("95\\% CI", "r", [tex(v) for v in summary["95% CI"]]),
        LatexColumn("$n$", "r", [tex(v) for v in summary["n"]]),
        LatexColumn("Verdict", "l", [tex(item.verdict) for item in verdicts]),
    ]
    caption = (
        "The seed's claims about global pooling: headline measurement per claim (effect oriented so that "
        "positive is what the claim says; 95\\% CI over seeds, paired on seed) and the verdict over all of the "
        "claim's measurements (rule and every row in claims.md)."
    )
    return LatexTable("claims verdict", TEXT_WIDTH, columns, caption=caption, font=r"\footnotesize", tabcolsep_pt=3)


def render_claims(verdicts: Sequence[ClaimVerdict], figures: Sequence[FigureFile], out_dir: Path) -> str:
    lines = [
        "# What the records say about the seed's claims on global pooling",
        "",
        "Flatten + FC is the only non-global head; every other head is a global pool. A setting is one dataset "
        "(and probe task), backbone and value of every config key that varies between the runs.",
        "",
        "**Rule.** " + RULES,
        "",
        "## Verdict, one row per claim",
        "",
        to_markdown(display_summary(verdicts)),
        "",
    ]
    for figure in figures:
        lines += [f"![{figure.title}]({figure.png.relative_to(out_dir).as_posix()})", ""]
    lines += ["## Every measurement", "", to_markdown(display_detail(verdicts)), ""]
    return "\n".join(lines)


def write_claims(collection: Collection, out_dir: Path, figures: bool = True) -> ClaimsResult | None:
    """Judge the claims from the records and write the files; None (nothing written) when no claim could be
    measured from these records."""
    runs, extra = claims_runs(collection)
    verdicts = judge_claims(runs, extra)
    if all(item.verdict == NOT_MEASURED for item in verdicts):
        return None
    result = ClaimsResult(verdicts)
    if figures:
        from poolbench.report.claims.figures import write_claim_figures

        result.figures = write_claim_figures(verdicts, out_dir / "figures")
    outputs = {
        f"{CLAIMS_STEM}.csv": summary_frame(verdicts).to_csv(index=False),
        f"{CLAIMS_STEM}_detail.csv": detail_frame(verdicts).to_csv(index=False),
        f"{CLAIMS_STEM}.tex": claims_latex(verdicts).render(),
        f"{CLAIMS_STEM}.md": render_claims(verdicts, result.figures, out_dir),
    }
    for name, text in outputs.items():
        atomic_write_text(out_dir / name, text)
        result.files.append(out_dir / name)
    return result
