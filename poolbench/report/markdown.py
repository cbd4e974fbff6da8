"""``report.md``: the tables and figures together, with a numbers-only paragraph per panel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from poolbench.report.aggregate import panel_keys, select_panel
from poolbench.report.canvas import FigureFile, panel_title
from poolbench.report.formatting import ci_text, count, format_p, is_missing, pct, pct_pm, signed_text
from poolbench.report.names import head_name
from poolbench.report.paired import MIN_SEEDS_FOR_TEST, NOT_ENOUGH_SEEDS
from poolbench.report.shift import display_shift, table_pixels
from poolbench.report.tables import display_paired, display_summary, seeds_needed_text, to_markdown
from poolbench.report.timing import timing_sections

ALPHA = 0.05
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


def panel_paragraph(summary: pd.DataFrame, paired: pd.DataFrame, baseline: str) -> str:
    """Which head is best, by how much, whether it is significant, what each head costs: numbers only."""
    ranked = summary.sort_values("test_acc_mean", ascending=False)
    best, worst = ranked.iloc[0], ranked.iloc[-1]
    seeds = sorted({int(n) for n in summary["n_seeds"]})
    parts = [
        f"{len(summary)} head(s), {'/'.join(map(str, seeds))} seed(s) each"
        + (" (one seed: no spread, so no conclusion)." if seeds == [1] else "."),
        f"Highest mean test accuracy: {head_name(best['head'])} {pct_pm(best['test_acc_mean'], best['test_acc_std'])} %"
        + (
            f"; lowest: {head_name(worst['head'])} {pct_pm(worst['test_acc_mean'], worst['test_acc_std'])} %"
            f" ({pct(best['test_acc_mean'] - worst['test_acc_mean'])} pp apart)."
            if len(ranked) > 1
            else "."
        ),
    ]
    comparisons = [_comparison_text(row) for row in paired.itertuples(index=False)]
    if comparisons:
        tested = paired["p_holm"].notna().sum() if "p_holm" in paired else 0
        family = f"; Holm-adjusted over {tested} test(s)" if tested > 1 else ""
        parts.append(f"Versus {head_name(baseline)} (paired on seed{family}): " + "; ".join(comparisons) + ".")
    elif baseline not in set(summary["head"]):
        parts.append(f"No {baseline} runs here, so no paired comparison (choose one with --baseline HEAD).")
    costs = [
        f"{head_name(r['head'])} {count(r['params_head'])} ({pct(r['head_share'], 1)} % of {count(r['params_total'])})"
        for _, r in summary.iterrows()
    ]
    parts.append("Head parameters: " + ", ".join(costs) + ".")
    gaps = [f"{head_name(r['head'])} {pct_pm(r['gap_acc_mean'], r['gap_acc_std'])}" for _, r in summary.iterrows()]
    parts.append("Generalization gap (train − test accuracy, pp): " + ", ".join(gaps) + ".")
    if "gem_p_mean" in summary and summary["gem_p_mean"].notna().any():
        gem = [
            f"{head_name(r['head'])} {r['gem_p_mean']:.2f}"
            for _, r in summary.iterrows()
            if not math.isnan(r["gem_p_mean"])
        ]
        parts.append("Final GeM p: " + ", ".join(gem) + ".")
    return " ".join(parts)


def _comparison_text(row) -> str:
    diff = f"{head_name(row.head)} {pct(row.diff_mean, plus=True)} pp"
    if row.test == NOT_ENOUGH_SEEDS:
        return f"{diff} (n={row.n_pairs}, {NOT_ENOUGH_SEEDS} for a test)"
    ci = f"95% CI {ci_text(row.diff_ci_low, row.diff_ci_high, bounds=(-1.0, 1.0))}"
    if not math.isfinite(row.p_value):
        return f"{diff} (n={row.n_pairs}, identical on every seed, no test)"
    adjusted = row.p_holm if math.isfinite(row.p_holm) else row.p_value
    verdict = "significant" if adjusted < ALPHA else "not significant"
    effect = f", d_z={signed_text(row.effect_dz, 1)}" if math.isfinite(row.effect_dz) else ""
    return (
        f"{diff} ({ci}, {_p_equals('p', row.p_value)}, {_p_equals('Holm p', adjusted)}{effect}, n={row.n_pairs}, "
        f"{verdict} at α={ALPHA} after adjustment{_word_text(row)})"
    )


def _word_text(row) -> str:
    """The engine's word (``poolbench.report.paired``): '; undecided at δ=1.0 pp (12 seeds would decide)'."""
    word = getattr(row, "verdict", None)
    if not isinstance(word, str):
        return ""
    needed = getattr(row, "seeds_needed", None)
    decide = (
        f" ({seeds_needed_text(needed)} seeds would decide)" if word == "undecided" and not is_missing(needed) else ""
    )
    if word == "equivalent":
        return f"; equivalent within ±{pct(row.delta, 1)} pp"
    return f"; {word} at δ={pct(row.delta, 1)} pp{decide}"


def _p_equals(label: str, p_value: float) -> str:
    text = format_p(p_value)
    return f"{label}{text}" if text.startswith("<") else f"{label}={text}"


def render_report(
    *,
    roots: Sequence[Path],
    out_dir: Path,
    n_records: int,
    summary: pd.DataFrame,
    paired: pd.DataFrame,
    failed: pd.DataFrame,
    missing: pd.DataFrame,
    problems: pd.DataFrame,
    duplicates: pd.DataFrame,
    runs: pd.DataFrame,
    references: pd.DataFrame,
    figures: list[FigureFile],
    baseline: str,
    extra_keys: Sequence[str] = (),
    shifts: pd.DataFrame | None = None,
    claims: str = "",
) -> str:
    """``claims``: the one line on the seed's claims (``poolbench.report.claims.output.claims_line``)."""
    keys = panel_keys(extra_keys)
    lines = ["# poolbench report", "", f"{n_records} run record(s) read from: " + ", ".join(f"`{r}`" for r in roots)]
    provenance = provenance_line(runs)
    timing = timing_note(runs)
    lines += ["", *([provenance, ""] if provenance else []), *([timing, ""] if timing else []), CONVENTIONS, ""]
    lines += [claims, ""] if claims else []
    if extra_keys:
        shown = ", ".join(f"`{key}`" for key in extra_keys)
        lines += [
            (
                f"Grouped by dataset, backbone, head and {shown} (config keys that differ between runs of one "
                "head, and any --group-by keys)."
            ),
            "",
        ]
    if not problems.empty:
        lines += [
            "## Unreadable records",
            "",
            f"{len(problems)} record(s) could not be used and are left out:",
            "",
            to_markdown(problems),
            "",
        ]
    if not missing.empty:
        lines += [
            "## Missing runs (partial sweep)",
            "",
            f"{len(missing)} expected run(s) have no usable record yet:",
            "",
            to_markdown(missing),
            "",
        ]
    if not duplicates.empty:
        lines += [
            "## Duplicate records",
            "",
            (
                f"{len(duplicates)} record(s) repeat a (row, seed) and are left out; "
                "the latest finished one is used (same config and seed: a rerun):"
            ),
            "",
            to_markdown(duplicates),
            "",
        ]
    for values, panel in summary.groupby(keys, sort=True, dropna=False) if not summary.empty else []:
        panel_paired = select_panel(paired, keys, values)
        lines += [f"## {panel_title(keys, values)}", "", panel_paragraph(panel, panel_paired, baseline), ""]
        lines += [to_markdown(display_summary(panel, ["head"])), ""]
        if not panel_paired.empty:
            lines += [
                f"Paired against {head_name(baseline)} (`{baseline}`):",
                "",
                to_markdown(display_paired(panel_paired, ["head"])),
                "",
            ]
        panel_shifts = select_panel(shifts, keys, values) if shifts is not None else pd.DataFrame()
        if not panel_shifts.empty:
            lines += [shift_paragraph(panel_shifts), "", to_markdown(display_shift(panel_shifts, ["head"])), ""]
        for figure in figures:
            if figure.title == panel_title(keys, values):
                lines += [f"![{figure.kind}: {figure.title}]({_relative(figure.png, out_dir)})", ""]
    if summary.empty:
        lines += ["## Results", "", "No run finished with status ok, so there is nothing to average.", ""]
    for figure in figures:
        if figure.kind == "accuracy_vs_params":
            image = f"![accuracy vs parameters]({_relative(figure.png, out_dir)})"
            lines += [f"## Accuracy vs parameters: {figure.title}", "", image, ""]
    lines += timing_sections(runs, keys)
    lines += ["## Failed and diverged runs", "", "Listed, never averaged in." if not failed.empty else "None.", ""]
    if not failed.empty:
        lines += [to_markdown(failed), ""]
    if not references.empty:
        shown = references.assign(test_error=references["test_error"].map(pct))
        shown = shown.rename(columns={"test_error": "test error %"})
        lines += ["## Published reference values", "", REFERENCES_NOTE, "", to_markdown(shown), ""]
    lines += ["## Files", "", FILES_NOTE, ""]
    return "\n".join(lines)


def shift_paragraph(shifts: pd.DataFrame) -> str:
    """Numbers only: how much accuracy each head loses when the test images move by the largest shift."""
    widest = max(table_pixels(shifts))
    drops = shifts.sort_values(f"drop_{widest}_mean", kind="stable")
    parts = [
        f"{head_name(row['head'])} {pct_pm(row[f'drop_{widest}_mean'], row[f'drop_{widest}_std'])} pp"
        for row in drops.to_dict("records")
    ]
    return (
        f"Translation test (every test image moved by N pixels, zero fill; `dataset.eval_shifts`): accuracy "
        f"lost at {widest} px, smallest first: " + ", ".join(parts) + "."
    )


def _relative(path: Path, out_dir: Path) -> str:
    try:
        return str(path.relative_to(out_dir))
    except ValueError:
        return str(path)
