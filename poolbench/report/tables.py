"""Write tables as CSV (raw numbers), Markdown (pandas ``to_markdown``) and LaTeX (booktabs via pandas' Styler).

CSV keeps full precision for further analysis; Markdown and LaTeX get the human-formatted view built here.
Accuracies are shown in percent, gaps in percentage points; every file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from poolbench.atomic import atomic_write_text

EMPTY = "—"


def pct(value: Any, digits: int = 2) -> str:
    return EMPTY if _missing(value) else f"{100 * float(value):.{digits}f}"


def pct_pm(mean: Any, std: Any, digits: int = 2, signed: bool = False) -> str:
    if _missing(mean):
        return EMPTY
    center = f"{100 * float(mean):+.{digits}f}" if signed else pct(mean, digits)
    return center if _missing(std) else f"{center} ± {pct(std, digits)}"


def num_pm(mean: Any, std: Any, digits: int = 3) -> str:
    if _missing(mean):
        return EMPTY
    return f"{float(mean):.{digits}f}" if _missing(std) else f"{float(mean):.{digits}f} ± {float(std):.{digits}f}"


def ci_text(low: Any, high: Any) -> str:
    return EMPTY if _missing(low) else f"[{pct(low)}, {pct(high)}]"


def count(value: Any) -> str:
    return EMPTY if _missing(value) else f"{int(value):,}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def p_value_text(p_value: Any, test: str) -> str:
    if _missing(p_value):
        return test
    return f"{float(p_value):.2g}" if float(p_value) >= 1e-4 else "<1e-4"


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([math.nan] * len(frame), index=frame.index)


def _map_rows(frame: pd.DataFrame, make: Callable[[pd.Series], str]) -> list[str]:
    return [make(row) for _, row in frame.iterrows()]


def display_summary(summary: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """The summary as text: one row per (keys, head), mean ± std (ddof=1) and the 95% CI in percent."""
    out = summary[key_columns].copy()
    out["n"] = summary["n_seeds"]
    if summary.empty:
        return out
    out["test acc %"] = _map_rows(summary, lambda r: pct_pm(r["test_acc_mean"], r["test_acc_std"]))
    out["95% CI"] = [ci_text(low, high) for low, high in zip(summary["test_acc_ci_low"], summary["test_acc_ci_high"])]
    out["gap acc pp"] = _map_rows(summary, lambda r: pct_pm(r["gap_acc_mean"], r["gap_acc_std"]))
    out["gap loss"] = _map_rows(summary, lambda r: num_pm(r["gap_loss_mean"], r["gap_loss_std"]))
    out["params"] = summary["params_total"].map(count)
    out["backbone params"] = summary["params_backbone"].map(count)
    out["head params"] = summary["params_head"].map(count)
    out["head share %"] = summary["head_share"].map(lambda v: pct(v, 1))
    out["MFLOPs/img"] = summary["flops_per_image"].map(lambda v: EMPTY if _missing(v) else f"{v / 1e6:.2f}")
    out["train s"] = summary["train_seconds_mean"].map(lambda v: EMPTY if _missing(v) else f"{v:.1f}")
    out["img/s"] = summary["images_per_second_mean"].map(lambda v: EMPTY if _missing(v) else f"{v:,.0f}")
    gem_mean, gem_std = _column(summary, "gem_p_mean"), _column(summary, "gem_p_std")
    out["GeM p"] = [num_pm(mean, std, 2) for mean, std in zip(gem_mean, gem_std)]
    out["published acc %"] = _column(summary, "reference_acc").map(pct)
    return out


def display_paired(paired: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    out = paired[[*key_columns, "baseline"]].copy()
    out["pairs"] = paired["n_pairs"]
    if paired.empty:
        return out
    out["Δ test acc pp"] = _map_rows(paired, lambda r: pct_pm(r["diff_mean"], r["diff_std"], signed=True))
    out["95% CI pp"] = [ci_text(low, high) for low, high in zip(paired["diff_ci_low"], paired["diff_ci_high"])]
    out["p (paired t)"] = _map_rows(paired, lambda r: p_value_text(r["p_value"], r["test"]))
    return out


def write_table(raw: pd.DataFrame, display: pd.DataFrame, out_dir: Path, stem: str) -> list[Path]:
    """``stem.csv`` from the raw numbers, ``stem.md`` and ``stem.tex`` from the display view."""
    paths = [out_dir / f"{stem}.csv", out_dir / f"{stem}.md", out_dir / f"{stem}.tex"]
    atomic_write_text(paths[0], raw.to_csv(index=False))
    atomic_write_text(paths[1], to_markdown(display) + "\n")
    atomic_write_text(paths[2], to_latex(display))
    return paths


def to_markdown(display: pd.DataFrame) -> str:
    if display.empty:
        return "_(none)_"
    cells = display.astype(str).map(lambda text: text.replace("|", "\\|").replace("\n", " "))
    return cells.to_markdown(index=False, disable_numparse=True)


def to_latex(display: pd.DataFrame) -> str:
    """A booktabs tabular (``\\toprule``/``\\midrule``/``\\bottomrule``); needs ``\\usepackage{booktabs}``."""
    styler = display.astype(str).style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    latex = styler.to_latex(hrules=True, column_format="l" * len(display.columns))
    return latex.replace("±", r"$\pm$").replace("Δ", r"$\Delta$")
