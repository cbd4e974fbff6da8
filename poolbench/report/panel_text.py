"""The numbers-only paragraphs of report.md: per panel, which head is best, by how much, whether it is
significant and what each head costs; and how much each head loses in the translation test."""

from __future__ import annotations

import math

import pandas as pd

from poolbench.report.formatting import ci_text, count, format_p, is_missing, pct, pct_pm, signed_text
from poolbench.report.names import head_name
from poolbench.report.paired import NOT_ENOUGH_SEEDS
from poolbench.report.shift import table_pixels
from poolbench.report.tables import seeds_needed_text

ALPHA = 0.05


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
    gaps = [
        f"{head_name(r['head'])} {pct_pm(r['overfit_acc_mean'], r['overfit_acc_std'])}" for _, r in summary.iterrows()
    ]
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
