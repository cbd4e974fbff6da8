"""``write_report(paths, out_dir)``: read run records, aggregate, write tables, figures and report.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.aggregate import (
    auto_group_keys,
    deduplicate,
    failed_table,
    runs_frame,
    summary_table,
)
from poolbench.report.canvas import FigureFile
from poolbench.report.claims.output import write_claims
from poolbench.report.claims.plan import load_plan
from poolbench.report.claims.robust_output import append_to_claims_md, write_robustness
from poolbench.report.claims.robustness import load_robustness
from poolbench.report.collect import ReportInputError, check_paths, collect_runs, default_out_dir
from poolbench.report.convergence import write_convergence
from poolbench.report.curves import learning_curves
from poolbench.report.figures import write_figures
from poolbench.report.group_keys import check_baseline, check_group_keys
from poolbench.report.latex_tables import cost_latex, failed_latex, main_latex, paired_latex, summary_latex
from poolbench.report.markdown import render_report
from poolbench.report.missing import missing_table
from poolbench.report.paired import DEFAULT_DELTA, paired_comparison
from poolbench.report.references import attach_references, load_references, references_for_datasets
from poolbench.report.shift import display_shift, shift_latex, shift_table
from poolbench.report.tables import display_paired, display_summary, named_keys, write_table
from poolbench.report.timing import write_timing

DEFAULT_BASELINE = "gap"
FIGURES_DIR = "figures"
REPORT_FILE = "report.md"


@dataclass
class ReportResult:
    out_dir: Path
    n_records: int
    n_ok: int
    problems: list[str] = field(default_factory=list)
    n_missing: int = 0
    figures: list[FigureFile] = field(default_factory=list)
    claims_md: Path | None = None  # claims.md, when the records hold the runs a claim needs

    @property
    def report_md(self) -> Path:
        return self.out_dir / REPORT_FILE


def write_report(
    paths: Sequence[Path | str],
    out_dir: Path | str | None = None,
    baseline: str | None = None,
    group_by: Sequence[str] = (),
    figures: bool = True,
    plan: Path | str | None = None,
    delta: float = DEFAULT_DELTA,
) -> ReportResult:
    """Everything the report holds, written into ``out_dir`` (default ``PATH/report``); ``figures=False``
    writes the tables and report.md only (figures take most of the time, mostly PDF font embedding). ``plan``:
    the claims' analysis plan (default: the shipped one); ``delta``: the paired table's SESOI (a fraction).

    ``baseline`` None: ``gap`` where the records have it; a baseline given must be a head of the records, and
    every ``group_by`` key must split rows (``poolbench.report.group_keys``), else ReportInputError (exit 2)."""
    roots = check_paths([Path(p) for p in paths])
    analysis_plan = load_plan(plan)  # a wrong plan answers before any work
    load_robustness(analysis_plan)  # its robustness section too
    out = Path(out_dir) if out_dir is not None else default_out_dir(roots)
    collection = collect_runs(roots)
    if not collection.runs and not collection.problems:
        raise ReportInputError(
            f"no run records (result.json) under {', '.join(map(str, roots))}. Run poolbench first, e.g. make demo."
        )
    check_group_keys(collection, group_by)
    if baseline is not None:
        check_baseline(collection, baseline)
    baseline = baseline or DEFAULT_BASELINE
    extra = auto_group_keys(collection, group_by)  # --group-by keys, then every config key that varies
    runs, duplicates = deduplicate(runs_frame(collection, extra), extra)
    references = load_references()
    summary = attach_references(summary_table(runs, extra), references)
    paired = paired_comparison(runs, baseline, extra, delta)
    failed = failed_table(runs, extra)
    missing = missing_table(collection, runs, extra)
    problems = pd.DataFrame([(str(p.path), p.message) for p in collection.problems], columns=["path", "problem"])
    curves = learning_curves(collection, runs, extra)
    shifts = shift_table(runs, extra)
    datasets = sorted(runs["dataset"].unique()) if not runs.empty else []

    key_columns = ["dataset", "backbone", *extra, "head"]
    panel = ["dataset", "backbone", *extra]
    write_table(
        summary,
        display_summary(summary, key_columns),
        out,
        "summary",
        [
            ("main", main_latex(summary, paired, panel, baseline)),
            ("summary", summary_latex(summary, panel)),
            ("cost", cost_latex(summary, panel)),
        ],
    )
    write_table(
        paired, display_paired(paired, key_columns), out, "paired", [("paired", paired_latex(paired, panel, baseline))]
    )
    failed_md = pd.concat([named_keys(failed, key_columns), failed.drop(columns=key_columns)], axis=1)
    write_table(failed, failed_md, out, "failed", [("failed", failed_latex(failed, panel))])
    if not shifts.empty:  # only sweeps that ran the translation test (dataset.eval_shifts)
        write_table(shifts, display_shift(shifts, key_columns), out, "shift", [("shift", shift_latex(shifts, panel))])
    write_timing(runs, panel, out)  # the time split and poolbench-deploy's timing, raw numbers
    for name, frame in (("missing", missing), ("problems", problems), ("runs", runs), ("duplicates", duplicates)):
        atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
    written = write_figures(summary, runs, curves, out / FIGURES_DIR, extra, shifts) if figures else []
    write_convergence(runs, curves, key_columns, out)  # did each setting train to convergence?
    claims = write_claims(
        collection, out, figures, analysis_plan
    )  # the seed's claims: claims.md/.csv/.tex + one figure each
    if claims is not None:  # how far each verdict holds: robustness.md/.csv/.tex, a section of claims.md
        words = {item.claim.id: item.verdict for item in claims.verdicts}
        robust = write_robustness(collection, out, analysis_plan, words, figures)
        if robust is not None:
            append_to_claims_md(claims.files[-1], robust.section)
    text = render_report(
        roots=roots,
        out_dir=out,
        n_records=len(collection.runs),
        summary=summary,
        paired=paired,
        failed=failed,
        missing=missing,
        problems=problems,
        duplicates=duplicates,
        runs=runs,
        references=references_for_datasets(references, datasets),
        figures=written,
        baseline=baseline,
        extra_keys=extra,
        shifts=shifts,
    )
    atomic_write_text(out / REPORT_FILE, text)
    n_ok = int((runs["status"] == "ok").sum()) if not runs.empty else 0
    problem_messages = [p.message for p in collection.problems]
    claims_md = claims.files[-1] if claims is not None else None
    return ReportResult(out, len(collection.runs), n_ok, problem_messages, len(missing), written, claims_md)
