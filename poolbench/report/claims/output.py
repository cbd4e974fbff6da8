"""Write the claims verdict: ``claims.md`` (the analysis plan and its hash, then one row per claim, every primary
endpoint with its tests, the figures, every secondary row), ``claims.csv`` (one row per claim, raw numbers),
``claims_detail.csv`` (every row, raw numbers and per-seed values), ``claims.tex`` (one row per claim, fits
``\\textwidth``) and one figure per claim (``poolbench.report.claims.figures``).

Written by ``write_report`` only when the records measure a primary endpoint of at least one claim; otherwise
report.md says in one line why there is no claims.md (``CLAIMS_NOT_JUDGED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.config.run_folder import flatten
from poolbench.report.aggregate import auto_group_keys, deduplicate, row_keys, run_config, runs_frame
from poolbench.report.canvas import FigureFile
from poolbench.report.claims.plan import Plan
from poolbench.report.claims.plan_load import load_plan
from poolbench.report.claims.plan_text import render_plan
from poolbench.report.claims.tables import (
    architectures_table,
    detail_frame,
    display_rows,
    display_verdicts,
    summary_frame,
)
from poolbench.report.claims.verdict import ClaimVerdict, convergence_lookup, every_verdict_not_measured, judge_claims
from poolbench.report.collect import Collection
from poolbench.report.convergence import convergence_table
from poolbench.report.curves import curves_frame
from poolbench.report.latex import TEXT_WIDTH, LatexColumn, LatexTable, tex
from poolbench.report.tables import to_markdown

CLAIMS_STEM = "claims"
IMAGES_NOTE = (
    "CI over: *seeds+images* where every run behind a row stored per-image predictions: the standard error adds "
    "the test images' sampling variance (var of the per-image effect / N images) to the seeds' (t on n − 1), and "
    "its tests are the ones Holm adjusts; *seeds (t)* where not (claims_detail.csv says why and keeps the "
    "seed-only interval; docs/reports.md, Test images inside the CI); *timing bootstrap* for a latency ratio "
    "(its CI over poolbench-deploy's timing processes and rounds, docs/deploy.md)."
)
# Grouping keys the claims always split by when any run's config holds them (the probe task, the training-set
# size), even where the report's automatic grouping would not (e.g. a sweep of one task only).
CLAIM_KEYS = ("dataset.task", "dataset.train_samples")


def claims_line(plan: Plan, written: bool) -> str:
    """report.md's one line on the claims: where their verdict is, or why there is none."""
    if written:
        return (
            f"The verdict on the seed's claims, by the analysis plan `{plan.path.name}`: [claims.md]({CLAIMS_STEM}.md)."
        )
    return (
        f"No claims.md: no claim of the analysis plan `{plan.path.name}` has a primary endpoint measured in these "
        "records (`make claims` runs the grid that measures them; docs/claims-grid.md)."
    )


@dataclass
class ClaimsResult:
    verdicts: list[ClaimVerdict]
    plan: Plan
    files: list[Path] = field(default_factory=list)
    figures: list[FigureFile] = field(default_factory=list)


def claims_runs(collection: Collection, plan: Plan, keys: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    """The deduplicated runs frame the claims read, and its grouping keys: ``CLAIM_KEYS``, every key a cell of the
    plan is pinned on and ``keys`` (e.g. the robustness section's factors), where any run's config holds it, then
    the report's automatic keys."""
    wanted = list(dict.fromkeys([*CLAIM_KEYS, *plan.selector_keys(), *keys]))
    forced = [key for key in wanted if any(flatten(run_config(run)).get(key) is not None for run in collection.runs)]
    extra = auto_group_keys(collection, forced)
    runs, _ = deduplicate(runs_frame(collection, extra), extra)
    return runs, extra


def claims_latex(verdicts: Sequence[ClaimVerdict], setting: str = "") -> LatexTable:
    """One row per claim for ``\\textwidth``: the claim, its verdict, the deciding primary endpoint with its
    effect, CI and n."""
    summary = display_verdicts(verdicts)

    def wrap(text: str, width: str) -> str:
        return rf"\parbox[t]{{{width}}}{{\raggedright {tex(text)}}}"

    columns = [
        LatexColumn("\\#", "l", [tex(v) for v in summary["#"]]),
        LatexColumn("Claim (seed's words)", "l", [wrap(v, "0.30\\textwidth") for v in summary["claim (seed's words)"]]),
        LatexColumn("Verdict", "l", [tex(item.verdict) for item in verdicts]),
        LatexColumn(
            "Deciding primary endpoint",
            "l",
            [wrap(v, "0.27\\textwidth") for v in summary["headline (deciding primary endpoint)"]],
        ),
        LatexColumn("Effect", "r", [tex(v) for v in summary["effect"]]),
        LatexColumn("95\\% CI", "r", [tex(v) for v in summary["95% CI"]]),
        LatexColumn("$n$", "r", [tex(v) for v in summary["n"]]),
    ]
    caption = (
        "The seed's claims about global pooling, judged by a pre-registered analysis plan: each claim's verdict "
        "follows from its primary endpoints (Holm-adjusted across all claims); shown is the endpoint that decides "
        "it (95\\% CI over seeds, and over test images where the runs stored per-image predictions; the plan, its "
        "hash and every row in claims.md)."
    )
    caption += f" {tex(setting)}" if setting else ""  # what the runs share (poolbench.report.setting)
    return LatexTable("claims verdict", TEXT_WIDTH, columns, caption=caption, font=r"\footnotesize", tabcolsep_pt=3)


def architectures_section() -> list[str]:
    table = architectures_table()
    lines = ["## Claim 1 where it matters: well-known architectures", ""]
    if table is None:
        return [
            *lines,
            "Not in this checkout: `poolbench/report/architectures.csv` (exact parameter counts of "
            "torchvision architectures with their classic head and a global-pool head) is missing.",
            "",
        ]
    return [
        *lines,
        "Exact counts (no weights, no download), classic head against a global-pool head.",
        "",
        to_markdown(table.astype(str)),
        "",
    ]


def render_claims(plan: Plan, verdicts: Sequence[ClaimVerdict], figures: Sequence[FigureFile], out_dir: Path) -> str:
    primary = [row for item in verdicts for row in item.primary]
    secondary = [row for item in verdicts for row in item.secondary]
    lines = [
        "# What the records say about the seed's claims on global pooling",
        "",
        "A setting is one dataset, backbone and value of every config key that varies between the runs; the plan "
        "reads only the settings its grid declares. Effects are the head named first minus the head named second. "
        "When the plan was written, and what had been seen by then: its history, below.",
        "",
        *render_plan(plan),
        "## Verdict, one row per claim",
        "",
        to_markdown(display_verdicts(verdicts)),
        "",
        "## Primary endpoints (these alone decide)",
        "",
        IMAGES_NOTE,
        "",
        to_markdown(display_rows(primary, primary=True)),
        "",
    ]
    for figure in figures:
        lines += [f"![{figure.title}]({figure.png.relative_to(out_dir).as_posix()})", ""]
    lines += architectures_section()
    lines += ["## Secondary rows (shown, never voted)", "", to_markdown(display_rows(secondary, primary=False)), ""]
    return "\n".join(lines)


def write_claims(
    collection: Collection,
    out_dir: Path,
    figures: bool = True,
    plan: Plan | Path | str | None = None,
    setting: str = "",
) -> ClaimsResult | None:
    """Judge the claims from the records by the plan (a loaded one, a file, or None: the shipped one) and write
    the files; None (nothing written) when no claim has a primary endpoint measured in the records (a sweep that
    only touches a plan cell, such as ``make demo``, would get a page of "not measured")."""
    plan = plan if isinstance(plan, Plan) else load_plan(plan)
    runs, extra = claims_runs(collection, plan)
    keys = row_keys(extra)
    curves = curves_frame(collection, runs, extra)
    convergence = convergence_table(runs, curves, keys) if not runs.empty else pd.DataFrame()
    verdicts = judge_claims(plan, runs, extra, convergence_lookup(runs, convergence, keys[:-1]))
    if every_verdict_not_measured(verdicts):  # no claim has a primary endpoint measured: nothing to judge
        return None
    result = ClaimsResult(verdicts, plan)
    if figures:
        from poolbench.report.claims.figures import write_claim_figures

        result.figures = write_claim_figures(verdicts, out_dir / "figures")
    outputs = {
        f"{CLAIMS_STEM}.csv": summary_frame(verdicts).to_csv(index=False),
        f"{CLAIMS_STEM}_detail.csv": detail_frame(verdicts).to_csv(index=False),
        f"{CLAIMS_STEM}.tex": claims_latex(verdicts, setting).render(),
        f"{CLAIMS_STEM}.md": render_claims(plan, verdicts, result.figures, out_dir),
    }
    for name, text in outputs.items():
        atomic_write_text(out_dir / name, text)
        result.files.append(out_dir / name)
    return result
