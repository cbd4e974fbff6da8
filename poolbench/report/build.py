"""``write_report(paths, out_dir)``: read run records, aggregate, write tables, figures and report.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.aggregate import auto_group_keys, deduplicate, runs_frame
from poolbench.report.canvas import FigureFile
from poolbench.report.claims.output import claims_line, write_claims
from poolbench.report.claims.plan_load import load_plan
from poolbench.report.claims.robust_output import write_robustness_map
from poolbench.report.collect import ReportInputError, check_paths, collect_runs, default_out_dir
from poolbench.report.convergence import write_convergence
from poolbench.report.curves import curves_frame
from poolbench.report.deploy_ratio import deploy_ratio_sections
from poolbench.report.failed import failed_table, write_failed
from poolbench.report.figures import write_figures
from poolbench.report.group_keys import check_baseline, check_group_keys
from poolbench.report.markdown import ReportParts, render_report
from poolbench.report.missing import missing_table
from poolbench.report.paired import DEFAULT_DELTA, paired_comparison, write_paired
from poolbench.report.references import attach_references, load_references, references_for_datasets
from poolbench.report.search import search_sweeper, write_search_report
from poolbench.report.setting import (
    common_setting,
    setting_line,
    setting_section,
    write_figure_captions,
    write_setting,
)
from poolbench.report.shift import shift_table, write_shift
from poolbench.report.summary import summary_table, write_summary
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
    out = Path(out_dir) if out_dir is not None else default_out_dir(roots)
    collection = collect_runs(roots)
    if not collection.runs and not collection.problems:
        raise ReportInputError(
            f"no run records (result.json) under {', '.join(map(str, roots))}. Run poolbench first, e.g. make demo."
        )
    sweeper = search_sweeper(collection)
    if sweeper is not None:  # a tuning sweep: its trials ranked on validation, no per-trial panels or figures
        n_ok = write_search_report(collection, out / REPORT_FILE, sweeper)
        problem_messages = [p.message for p in collection.problems]
        return ReportResult(out, len(collection.runs), n_ok, problem_messages)
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
    curves = curves_frame(collection, runs, extra)
    shifts = shift_table(runs, extra)
    datasets = sorted(runs["dataset"].unique()) if not runs.empty else []

    key_columns = ["dataset", "backbone", *extra, "head"]
    panel = ["dataset", "backbone", *extra]
    common = common_setting(collection)
    line = setting_line(common, len(collection.runs))
    write_setting(common, out)
    write_summary(summary, paired, key_columns, baseline, out, line)
    write_paired(paired, key_columns, baseline, out, line)
    write_failed(failed, key_columns, out, line)
    if not shifts.empty:  # only sweeps that ran the translation test (dataset.eval_shifts)
        write_shift(shifts, key_columns, out, line)
    write_timing(runs, panel, out)  # the time split and poolbench-deploy's timing, raw numbers
    ratio_lines = deploy_ratio_sections(roots, out)  # latency ratios with CIs from the stored rounds
    for name, frame in (("missing", missing), ("problems", problems), ("runs", runs), ("duplicates", duplicates)):
        atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
    written = write_figures(summary, runs, curves, out / FIGURES_DIR, extra, shifts) if figures else []
    write_figure_captions(written, out / FIGURES_DIR, line)
    write_convergence(runs, curves, key_columns, out)  # did each setting train to convergence?
    # the seed's claims: claims.md/.csv/.tex + one figure each, only when a claim's primary endpoint is measured
    claims = write_claims(collection, out, figures, analysis_plan, line)
    if claims is not None:  # how far each verdict holds: robustness.md/.csv/.tex, a section of claims.md
        write_robustness_map(collection, out, claims, figures)
    parts = ReportParts(
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
        setting=setting_section(common, line),
        claims=claims_line(analysis_plan, claims is not None),
        deploy=ratio_lines,
    )
    atomic_write_text(out / REPORT_FILE, render_report(parts))
    n_ok = int((runs["status"] == "ok").sum()) if not runs.empty else 0
    problem_messages = [p.message for p in collection.problems]
    claims_md = claims.files[-1] if claims is not None else None
    return ReportResult(out, len(collection.runs), n_ok, problem_messages, len(missing), written, claims_md)
