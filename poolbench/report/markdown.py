"""``report.md``: the tables and figures together, with a numbers-only paragraph per panel (``panel_text``),
assembled from a list of sections (``SECTIONS``), each a function of the ``ReportParts`` read once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from poolbench.report.aggregate import panel_keys, select_panel
from poolbench.report.canvas import FigureFile, panel_title
from poolbench.report.formatting import pct
from poolbench.report.names import head_name
from poolbench.report.paired import MIN_SEEDS_FOR_TEST, display_paired
from poolbench.report.panel_text import panel_paragraph, shift_paragraph
from poolbench.report.shift import display_shift
from poolbench.report.summary import display_summary
from poolbench.report.tables import to_markdown
from poolbench.report.timing import timing_sections

CONVENTIONS = (
    "Conventions: accuracies in %, differences in percentage points (pp); mean ± sample std (ddof=1) over seeds; "
    "95% CI from Student's t, clipped to [0, 100] % for accuracies (the CSV files keep the unclipped bounds); "
    "generalization gap = train − test accuracy, with train accuracy measured in eval mode on the train split, so "
    "it is not inflated by augmentation or dropout; only runs with status `ok` are averaged; "
    f"paired t-test (scipy.stats.ttest_rel) on seeds present for both heads, reported from n ≥ {MIN_SEEDS_FOR_TEST}, "
    "with Holm-adjusted p-values (the family: every head against the baseline within one panel) and the effect size "
    "Cohen's d_z (mean paired difference / its sample std); verdicts use the adjusted p. Each head's word "
    "(better / worse / equivalent within ±δ / undecided, with the seeds an undecided one needs) follows the claims' "
    "rule (`poolbench/report/decide.py`) with δ = `poolbench-report --delta` (default 1 pp). Rows are split by every "
    "config key that varies between runs of one head; only records of the same config (run key) and seed are "
    "duplicates."
)

REFERENCES_NOTE = (
    "From `poolbench/report/references.csv`; their settings differ from these runs (epochs, augmentation), "
    "so they are context, not a target."
)
FILES_NOTE = (
    "`summary.{csv,md}` (every column), `paired.{csv,md}`, `failed.{csv,md}`, `shift.{csv,md}` (translation test "
    "only), `timing.csv` (time split), `deploy_timing.csv` (poolbench-deploy), `missing.csv`, `problems.csv`, "
    "`duplicates.csv`, `runs.csv` (one row per record); LaTeX (needs "
    "`\\usepackage{booktabs}`): `main.tex` (compact, fits `\\columnwidth` of a two-column paper), `summary.tex`, "
    "`cost.tex`, `paired.tex`, `failed.tex`, `shift.tex` (fit `\\textwidth`, for `table*`; a table taller than a "
    "page goes on in `NAME_part2.tex`, ..., cut between panels); `figures/` (PNG and "
    "PDF, 3.4 in single-column or 7 in double-column wide, fonts ≥ 7 pt at that size)."
)


def timing_note(runs: pd.DataFrame) -> str:
    """Say so when training times come from runs that shared the machine (``jobs: N`` > 1 in config.yaml)."""
    if runs.empty or "config_jobs" not in runs.columns:
        return ""
    jobs = pd.to_numeric(runs["config_jobs"], errors="coerce").dropna()
    parallel = sorted({int(j) for j in jobs if j > 1})
    if not parallel:
        return ""
    return (
        f"Timing: {int((jobs > 1).sum())} of {len(runs)} run(s) ran as {' or '.join(map(str, parallel))} "
        "parallel jobs on one machine (`jobs` in config.yaml), so train time and images/s are shared-machine "
        "figures: compare them only between runs made the same way, not with single-job timings."
    )


def provenance_line(runs: pd.DataFrame) -> str:
    """Where and when the numbers came from, straight from the records (device, torch, poolbench, git)."""
    if runs.empty:
        return ""
    parts = []
    for column, label in (
        ("device", "device"),
        ("precision", "precision"),
        ("torch_version", "torch"),
        ("poolbench_version", "poolbench"),
        ("git_sha", "git"),
    ):
        values = sorted(str(v)[:12] if column == "git_sha" else str(v) for v in runs[column].dropna().unique())
        if values:
            parts.append(f"{label} {', '.join(values)}")
    started, finished = runs["started_at"].dropna(), runs["finished_at"].dropna()
    if not started.empty and not finished.empty:
        parts.append(f"runs from {started.min()} to {finished.max()}")
    return "Provenance: " + "; ".join(parts) + "."


@dataclass
class ReportParts:
    """Everything report.md shows, read once by ``write_report``."""

    roots: Sequence[Path]
    out_dir: Path
    n_records: int
    summary: pd.DataFrame
    paired: pd.DataFrame
    failed: pd.DataFrame
    missing: pd.DataFrame
    problems: pd.DataFrame
    duplicates: pd.DataFrame
    runs: pd.DataFrame
    references: pd.DataFrame
    figures: list[FigureFile]
    baseline: str
    extra_keys: Sequence[str] = ()
    shifts: pd.DataFrame | None = None
    setting: list[str] = field(default_factory=list)  # the Setting section (poolbench.report.setting)
    claims: str = ""  # the one line on the seed's claims (poolbench.report.claims.output.claims_line)

    @property
    def keys(self) -> list[str]:
        return panel_keys(self.extra_keys)


def header_section(parts: ReportParts) -> list[str]:
    roots = ", ".join(f"`{r}`" for r in parts.roots)
    lines = ["# poolbench report", "", f"{parts.n_records} run record(s) read from: {roots}", ""]
    provenance, timing = provenance_line(parts.runs), timing_note(parts.runs)
    lines += [*([provenance, ""] if provenance else []), *([timing, ""] if timing else []), CONVENTIONS, ""]
    lines += [parts.claims, ""] if parts.claims else []
    if parts.extra_keys:
        shown = ", ".join(f"`{key}`" for key in parts.extra_keys)
        lines += [
            f"Grouped by dataset, backbone, head and {shown} (config keys that differ between runs of one "
            "head, and any --group-by keys).",
            "",
        ]
    return lines


def setting_section(parts: ReportParts) -> list[str]:
    return parts.setting


def problems_section(parts: ReportParts) -> list[str]:
    if parts.problems.empty:
        return []
    count_line = f"{len(parts.problems)} record(s) could not be used and are left out:"
    return ["## Unreadable records", "", count_line, "", to_markdown(parts.problems), ""]


def missing_section(parts: ReportParts) -> list[str]:
    if parts.missing.empty:
        return []
    count_line = f"{len(parts.missing)} expected run(s) have no usable record yet:"
    return ["## Missing runs (partial sweep)", "", count_line, "", to_markdown(parts.missing), ""]


def duplicates_section(parts: ReportParts) -> list[str]:
    if parts.duplicates.empty:
        return []
    return [
        "## Duplicate records",
        "",
        f"{len(parts.duplicates)} record(s) repeat a (row, seed) and are left out; "
        "the latest finished one is used (same config and seed: a rerun):",
        "",
        to_markdown(parts.duplicates),
        "",
    ]


def panels_section(parts: ReportParts) -> list[str]:
    """One section per panel: its paragraph, summary, paired and translation tables and its figures."""
    keys, summary, lines = parts.keys, parts.summary, []
    for values, panel in summary.groupby(keys, sort=True, dropna=False) if not summary.empty else []:
        panel_paired = select_panel(parts.paired, keys, values)
        title = panel_title(keys, values)
        lines += [f"## {title}", "", panel_paragraph(panel, panel_paired, parts.baseline), ""]
        lines += [to_markdown(display_summary(panel, ["head"])), ""]
        if not panel_paired.empty:
            against = f"Paired against {head_name(parts.baseline)} (`{parts.baseline}`):"
            lines += [against, "", to_markdown(display_paired(panel_paired, ["head"])), ""]
        shifts = parts.shifts
        panel_shifts = select_panel(shifts, keys, values) if shifts is not None else pd.DataFrame()
        if not panel_shifts.empty:
            lines += [shift_paragraph(panel_shifts), "", to_markdown(display_shift(panel_shifts, ["head"])), ""]
        lines += [
            f"![{figure.kind}: {figure.title}]({_relative(figure.png, parts.out_dir)})\n"
            for figure in parts.figures
            if figure.title == title
        ]
    if summary.empty:
        lines += ["## Results", "", "No run finished with status ok, so there is nothing to average.", ""]
    return lines


def params_figures_section(parts: ReportParts) -> list[str]:
    lines = []
    for figure in parts.figures:
        if figure.kind == "accuracy_vs_params":
            image = f"![accuracy vs parameters]({_relative(figure.png, parts.out_dir)})"
            lines += [f"## Accuracy vs parameters: {figure.title}", "", image, ""]
    return lines


def timing_section(parts: ReportParts) -> list[str]:
    return timing_sections(parts.runs, parts.keys)


def failed_section(parts: ReportParts) -> list[str]:
    failed = parts.failed
    lines = ["## Failed and diverged runs", "", "Listed, never averaged in." if not failed.empty else "None.", ""]
    return [*lines, to_markdown(failed), ""] if not failed.empty else lines


def references_section(parts: ReportParts) -> list[str]:
    if parts.references.empty:
        return []
    shown = parts.references.assign(test_error=parts.references["test_error"].map(pct))
    shown = shown.rename(columns={"test_error": "test error %"})
    return ["## Published reference values", "", REFERENCES_NOTE, "", to_markdown(shown), ""]


def files_section(parts: ReportParts) -> list[str]:
    return ["## Files", "", FILES_NOTE, ""]


Section = Callable[[ReportParts], list[str]]
# report.md, top to bottom: a new section is a function of ReportParts added here.
SECTIONS: tuple[Section, ...] = (
    header_section,
    setting_section,
    problems_section,
    missing_section,
    duplicates_section,
    panels_section,
    params_figures_section,
    timing_section,
    failed_section,
    references_section,
    files_section,
)


def render_report(parts: ReportParts, sections: Sequence[Section] = SECTIONS) -> str:
    return "\n".join(line for section in sections for line in section(parts))


def _relative(path: Path, out_dir: Path) -> str:
    try:
        return str(path.relative_to(out_dir))
    except ValueError:
        return str(path)
