"""Did each setting train to its plateau? A claim about overfitting or about which pool is best is an artifact
if the net was still learning when training stopped, so the report states it per setting and head.

From the learning curves (``epochs.csv``, train accuracy in eval mode): the mean over seeds of the final train
accuracy, and how much it still rose over the last quarter of the epochs. ``PLATEAU_PP`` is the rise below
which the curve counts as flat. Written as ``convergence.csv`` and ``convergence.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text

PLATEAU_PP = 1.0  # percentage points of train accuracy gained over the last quarter of training
COLUMNS = ("epochs", "seeds", "final_train_acc", "last_quarter_rise_pp", "final_test_acc", "plateau")


def _per_run(run: pd.DataFrame) -> dict[str, float]:
    run = run.sort_values("epoch")
    epochs = int(run["epoch"].max())
    quarter_start = epochs - max(1, math.ceil(epochs / 4))
    before = run.loc[run["epoch"] <= quarter_start, "train_acc"]
    final = float(run["train_acc"].iloc[-1])
    rise = 100.0 * (final - float(before.iloc[-1])) if len(before) else math.nan
    test = float(run["test_acc"].iloc[-1]) if "test_acc" in run else math.nan  # no test curve: trainer.curves
    return {"epochs": epochs, "final_train_acc": final, "rise": rise, "final_test_acc": test}


def convergence_table(curves: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One row per setting and head: final train accuracy, its rise over the last quarter, plateau or not."""
    needed = {"epoch", "train_acc", "seed", *keys}
    if curves.empty or not needed <= set(curves.columns):
        return pd.DataFrame(columns=[*keys, *COLUMNS])
    rows = []
    for values, group in curves.dropna(subset=["train_acc"]).groupby(list(keys), sort=True, dropna=False):
        runs = [_per_run(run) for _, run in group.groupby("seed")]
        rise = float(pd.Series([r["rise"] for r in runs]).mean())
        row = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        row.update(
            epochs=max(r["epochs"] for r in runs),
            seeds=len(runs),
            final_train_acc=float(pd.Series([r["final_train_acc"] for r in runs]).mean()),
            last_quarter_rise_pp=rise,
            final_test_acc=float(pd.Series([r["final_test_acc"] for r in runs]).mean()),
            plateau="yes" if math.isfinite(rise) and rise < PLATEAU_PP else "no",
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *(column for column in COLUMNS if column not in keys)])


def convergence_markdown(table: pd.DataFrame, keys: Sequence[str]) -> str:
    lines = [
        "# Convergence: did each setting train to its plateau?",
        "",
        f"Train accuracy (eval mode) at the last epoch, mean over seeds, and its rise over the last quarter of the "
        f"epochs; plateau: a rise below {PLATEAU_PP:g} pp. A setting still rising was stopped before it fit.",
        "",
    ]
    if table.empty:
        why = "No learning curves with a train curve found (a run whose `trainer.curves` lacks train records none)."
        return "\n".join([*lines, why, ""])
    header = [*keys, "epochs", "seeds", "train acc %", "rise last quarter (pp)", "test acc %", "plateau"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.to_dict("records"):
        cells = [str(row[key]) for key in keys]
        cells += [str(row["epochs"]), str(row["seeds"]), f"{100 * row['final_train_acc']:.1f}"]
        test = "—" if math.isnan(row["final_test_acc"]) else f"{100 * row['final_test_acc']:.1f}"
        cells += [f"{row['last_quarter_rise_pp']:+.1f}", test, row["plateau"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def write_convergence(curves: pd.DataFrame, keys: Sequence[str], out: Path) -> pd.DataFrame:
    """``convergence.csv`` and ``convergence.md`` in ``out``; returns the table."""
    table = convergence_table(curves, keys)
    atomic_write_text(out / "convergence.csv", table.to_csv(index=False))
    atomic_write_text(out / "convergence.md", convergence_markdown(table, keys))
    return table
