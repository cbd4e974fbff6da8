"""The paired comparison of a sweep: every head minus the baseline head in test accuracy, paired on seed within
a panel (dataset, backbone and every grouping key), with scipy.stats.ttest_rel when n >= 3; the p-values of one
panel (every head against the one baseline) are Holm-adjusted together (``p_holm``); the effect size is
Cohen's d_z = mean of the paired differences / their sample std. Each head gets the word of the statistics
engine (``poolbench.report.decide``, the same rule as the claims verdict) with the SESOI ``delta``
(``poolbench-report --delta``): better / worse / equivalent within +-delta / undecided, and for an undecided
one the seeds that would decide it at the observed spread.

The table in one place: the frame (``paired_comparison``), its Markdown view (``display_paired``), its LaTeX
(``paired_latex``) and the files (``write_paired``: paired.csv, paired.md, paired.tex).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from poolbench.report.aggregate import mean_std_ci, ok_runs, panel_keys, row_keys
from poolbench.report.decide import (
    ALPHA,
    CONTRADICTED,
    GREATER,
    INCONCLUSIVE,
    NEGLIGIBLE,
    NOT_MEASURED,
    SUPPORTED,
    Decision,
    Endpoint,
    decide_all,
    holm,
    paired_estimate,
    seeds_needed,
)
from poolbench.report.formatting import EMPTY, ci_text, format_p, is_missing, p_value_text, pct, pct_pm, signed_text
from poolbench.report.latex import (
    TEXT_WIDTH,
    LatexTable,
    head_column,
    number_column,
    ordered_rows,
    panel_rows,
    tex,
    two_line,
)
from poolbench.report.names import head_name
from poolbench.report.tables import column_of, named_keys, seeds_needed_text, write_table

MIN_SEEDS_FOR_TEST = 3
NOT_ENOUGH_SEEDS = "not enough seeds"
DEFAULT_DELTA = 0.01  # the paired table's SESOI (poolbench-report --delta, in pp): 1 pp of test accuracy
PAIRED_WORDS = {
    SUPPORTED: "better",
    CONTRADICTED: "worse",
    NEGLIGIBLE: "equivalent",  # within +-delta: shown with its delta
    INCONCLUSIVE: "undecided",
    NOT_MEASURED: "undecided",
}


def paired_comparison(
    runs: pd.DataFrame, baseline: str, extra_keys: Sequence[str] = (), delta: float = DEFAULT_DELTA
) -> pd.DataFrame:
    """Each head minus ``baseline`` in test accuracy, paired on seed within a panel, with CI, p-value and the
    engine's word for it (``poolbench.report.decide``, SESOI ``delta``): better / worse / equivalent within
    +-delta / undecided, with the seeds that would decide an undecided one."""
    ok = ok_runs(runs)
    columns = [
        *row_keys(extra_keys),
        "baseline",
        "n_pairs",
        "diff_mean",
        "diff_std",
        "diff_ci_low",
        "diff_ci_high",
        "effect_dz",
        "t_statistic",
        "p_value",
        "p_holm",
        "n_tests",
        "test",
        "delta",
        "p_equivalence",
        "p_equivalence_holm",
        "verdict",
        "seeds_needed",
    ]
    if ok.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for panel_values, panel in ok.groupby(panel_keys(extra_keys), sort=True, dropna=False):
        base = _acc_by_seed(panel[panel["head"] == baseline])
        if base.empty:
            continue
        family = []
        for head, group in panel[panel["head"] != baseline].groupby("head", sort=True):
            pairs = pd.concat({"head": _acc_by_seed(group), "base": base}, axis=1, join="inner").dropna()
            row = dict(zip(panel_keys(extra_keys), panel_values), head=head, baseline=baseline)
            family.append({**row, **_paired_stats(pairs["head"].to_numpy(), pairs["base"].to_numpy())})
        adjusted = holm([row["p_value"] for row in family])
        tested = sum(math.isfinite(row["p_value"]) for row in family)
        rows += [{**row, "p_holm": p, "n_tests": tested} for row, p in zip(family, adjusted)]
        decide_panel(rows[len(rows) - len(family) :], delta)
    return pd.DataFrame(rows, columns=columns)


def decide_panel(family: list[dict[str, Any]], delta: float) -> None:
    """The engine's word for each head of one panel (Holm across the panel's heads with n >= 3 pairs; fewer
    pairs are undecided, with the seeds a test would need)."""
    estimates = [paired_estimate(row.pop("_diffs")) for row in family]
    endpoint = Endpoint(GREATER, delta)
    tested = [i for i, row in enumerate(family) if row["n_pairs"] >= MIN_SEEDS_FOR_TEST]
    decisions = dict(zip(tested, decide_all([(estimates[i], endpoint) for i in tested])))
    for i, row in enumerate(family):
        decision = decisions.get(i, Decision(INCONCLUSIVE, seeds_needed=seeds_needed(estimates[i], endpoint, ALPHA)))
        row.update(
            delta=delta,
            p_equivalence=decision.p_margin,
            p_equivalence_holm=decision.p_margin_holm,
            verdict=PAIRED_WORDS[decision.verdict],
            seeds_needed=decision.seeds_needed,
        )


def _acc_by_seed(group: pd.DataFrame) -> pd.Series:
    """Test accuracy indexed by seed; with duplicate seeds (the same run recorded twice) keep the last."""
    return group.drop_duplicates("seed", keep="last").set_index("seed")["test_acc"].astype(float)


def _paired_stats(head: np.ndarray, base: np.ndarray) -> dict[str, Any]:
    diffs = head - base
    n = int(diffs.size)
    mean, std, low, high = mean_std_ci(diffs.tolist())
    effect = mean / std if math.isfinite(std) and std > 0 else math.nan  # Cohen's d_z: mean / sd of the differences
    result: dict[str, Any] = {
        "_diffs": diffs.tolist(),  # for decide_panel, which removes it
        "n_pairs": n,
        "diff_mean": mean,
        "diff_std": std,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "effect_dz": effect,
    }
    if n < MIN_SEEDS_FOR_TEST:
        return {**result, "t_statistic": math.nan, "p_value": math.nan, "test": NOT_ENOUGH_SEEDS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical differences: scipy returns NaN, we say so
        test = stats.ttest_rel(head, base)
    statistic, p_value = float(test.statistic), float(test.pvalue)
    label = "paired t-test" if math.isfinite(p_value) else "paired t-test undefined (all differences equal)"
    return {**result, "t_statistic": statistic, "p_value": p_value, "test": label}


def paired_word(row: pd.Series) -> str:
    """better / worse / equivalent within ±δ / undecided (the engine's word), δ in pp."""
    word = row.get("verdict")
    if is_missing(word):
        return EMPTY
    return f"equivalent within ±{pct(row['delta'], 1)} pp" if word == "equivalent" else str(word)


def display_paired(paired: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """The paired table as text: pairs, Δ ± std, its CI, d_z, p, Holm p, the word and the seeds that would decide."""
    out = named_keys(paired, [*key_columns, "baseline"])
    out["pairs"] = paired["n_pairs"]
    if paired.empty:
        return out
    out["Δ test acc pp"] = [pct_pm(m, s, signed=True) for m, s in zip(paired["diff_mean"], paired["diff_std"])]
    out["95% CI pp"] = [
        ci_text(lo, hi, bounds=(-1.0, 1.0)) for lo, hi in zip(paired["diff_ci_low"], paired["diff_ci_high"])
    ]
    out["d_z"] = column_of(paired, "effect_dz").map(lambda v: EMPTY if is_missing(v) else signed_text(float(v), 1))
    out["p (paired t)"] = [p_value_text(p, test) for p, test in zip(paired["p_value"], paired["test"])]
    out["p Holm"] = column_of(paired, "p_holm").map(format_p)
    out["tests in family"] = column_of(paired, "n_tests")
    delta = column_of(paired, "delta").dropna()
    header = f"verdict (δ = {pct(delta.iloc[0], 1)} pp)" if len(delta) else "verdict"
    out[header] = [paired_word(row) for _, row in paired.iterrows()]
    out["seeds needed"] = column_of(paired, "seeds_needed").map(seeds_needed_text)
    return out


def paired_latex(paired: pd.DataFrame, panel_columns: Sequence[str], baseline: str, setting: str = "") -> LatexTable:
    """Each head minus the baseline, paired on seed, for ``\\textwidth``."""
    frame = ordered_rows(paired, panel_columns)
    rows = [row for _, row in frame.iterrows()]

    def signed(column: str, digits: int) -> list[str]:
        return [EMPTY if is_missing(r[column]) else signed_text(r[column], digits) for r in rows]

    columns = [
        head_column(frame),
        number_column("Pairs", [str(int(r["n_pairs"])) for r in rows]),
        number_column(
            two_line(r"$\Delta$ test acc." + "\n(pp)"),
            [pct_pm(r["diff_mean"], r["diff_std"], signed=True) for r in rows],
        ),
        number_column(
            two_line("95\\% CI\n(pp)"), [ci_text(r["diff_ci_low"], r["diff_ci_high"], 2, (-1.0, 1.0)) for r in rows]
        ),
        number_column(two_line("Effect\n$d_z$"), signed("effect_dz", 1)),
        number_column("$t$", signed("t_statistic", 2)),
        number_column("$p$", [format_p(r["p_value"]) for r in rows]),
        number_column(two_line("$p$\nHolm"), [format_p(r["p_holm"]) for r in rows]),
    ]
    base = tex(head_name(baseline))
    caption = (
        f"Difference to {base} in test accuracy, paired on seed: mean $\\pm$ sample std of the differences, "
        "95\\% CI, Cohen's $d_z$, paired $t$-test $p$ and Holm-adjusted $p$ (family: all heads of a panel)."
    )
    return LatexTable(
        "paired comparison with the baseline (full)",
        TEXT_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        empty_text=f"No head paired with {base}.",
        caption=f"{caption} {tex(setting)}" if setting else caption,
    )


def write_paired(paired: pd.DataFrame, key_columns: list[str], baseline: str, out: Path, setting: str = "") -> None:
    """``paired.csv``, ``paired.md`` and ``paired.tex``."""
    latex = [("paired", paired_latex(paired, key_columns[:-1], baseline, setting))]
    write_table(paired, display_paired(paired, key_columns), out, "paired", latex, preface=setting)
