"""Did each setting train to convergence? A claim about overfitting or about which pool is best is an artifact if
the net was still learning when training stopped: "GAP overfits less" means nothing while GAP does not even fit
its training set. The report states it per setting and head, from the run records alone.

The criterion cannot be faked by a schedule that anneals the learning rate to zero (a flat learning curve at
the end of such a schedule says only that the steps got small). A setting has converged when either

- **fits**: every run ends with a train accuracy (eval mode, the whole train split: ``result.json``) within
  ``SESOI_PP`` of 100 %, so more training could raise its train accuracy, and with it its train - test gap, by
  less than the smallest effect of interest; or
- **longer run**: the records also hold the same setting trained for more epochs (``trainer.epochs`` differs,
  nothing else), and the mean test accuracy of the longer runs differs from this setting's by less than
  ``SESOI_PP`` (for a training set too large to fit cheaply, such as all of FashionMNIST).

Shown beside it, never deciding it: the rise of the per-epoch train curve over the last quarter of the epochs
(what an annealed schedule flattens) and the epochs to 90 % train accuracy ("easier to train"). Written as
``convergence.csv`` and ``convergence.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.aggregate import ok_runs

# The smallest effect of interest on accuracy, in percentage points (as the claims' analysis plan): the margin
# below 100 % train accuracy that counts as "fits", and the test-accuracy change a longer run may bring.
SESOI_PP = 1.0
FIT_ACC = 1.0 - SESOI_PP / 100.0
EPOCHS_KEY = "trainer.epochs"
COLUMNS = (
    "epochs",
    "seeds",
    "runs_fitting",
    "final_train_acc",
    "min_train_acc",
    "final_test_acc",
    "epochs_to_train_acc_90",
    "last_quarter_rise_pp",
    "longer_run_change_pp",
    "criterion",
    "converged",
)


def _last_quarter_rise(run: pd.DataFrame) -> float:
    """Percentage points the per-epoch train curve gained over the last quarter of the epochs (NaN: no curve)."""
    run = run.dropna(subset=["train_acc"]).sort_values("epoch")
    if run.empty:
        return math.nan
    epochs = int(run["epoch"].max())
    before = run.loc[run["epoch"] <= epochs - max(1, math.ceil(epochs / 4)), "train_acc"]
    return 100.0 * (float(run["train_acc"].iloc[-1]) - float(before.iloc[-1])) if len(before) else math.nan


def _mean(values: pd.Series) -> float:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else math.nan


def _setting_row(keys: Sequence[str], values: tuple[object, ...], group: pd.DataFrame, curves: pd.DataFrame) -> dict:
    train = pd.to_numeric(group["train_acc"], errors="coerce")
    rises = []
    if not curves.empty and {"epoch", "train_acc", "seed"} <= set(curves.columns):
        mine = curves
        for key, value in zip(keys, values):
            mine = mine[mine[key].astype(str) == str(value)] if key in mine.columns else mine
        rises = [_last_quarter_rise(run) for _, run in mine.groupby("seed")]
    row = dict(zip(keys, values))
    row.update(
        epochs=int(pd.to_numeric(group["epochs"], errors="coerce").max()),
        seeds=int(group["seed"].nunique()),
        runs_fitting=f"{int((train >= FIT_ACC).sum())}/{len(group)}",
        final_train_acc=_mean(train),
        min_train_acc=float(train.min()) if train.notna().any() else math.nan,
        final_test_acc=_mean(group["test_acc"]),
        epochs_to_train_acc_90=_mean(group.get("epochs_to_train_acc_90", pd.Series(dtype=float))),
        last_quarter_rise_pp=_mean(pd.Series(rises, dtype=float)),
        longer_run_change_pp=math.nan,
    )
    fits = bool(train.notna().all() and (train >= FIT_ACC).all())
    row["criterion"] = "fits" if fits else "—"
    return row


def _longer_runs(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Settings that do not fit but have a longer-trained twin: the change in mean test accuracy it brought."""
    if EPOCHS_KEY not in keys or table.empty:
        return table
    others = [key for key in keys if key != EPOCHS_KEY]
    epochs = pd.to_numeric(table[EPOCHS_KEY], errors="coerce")
    for index, row in table.iterrows():
        if row["criterion"] == "fits":
            continue
        same = (table[others].astype(str) == row[others].astype(str)).all(axis=1) & (epochs > epochs[index])
        if same.any():
            longest = table[same].loc[epochs[same].idxmax()]
            change = 100.0 * (float(longest["final_test_acc"]) - float(row["final_test_acc"]))
            table.loc[index, "longer_run_change_pp"] = change
            if math.isfinite(change) and abs(change) < SESOI_PP:
                table.loc[index, "criterion"] = "longer run"
    return table


def convergence_table(runs: pd.DataFrame, curves: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One row per setting and head (``keys``): whether it converged, by which criterion, and the evidence."""
    ok = ok_runs(runs)
    needed = {"train_acc", "test_acc", "seed", "epochs", *keys}
    columns = [*keys, *(column for column in COLUMNS if column not in keys)]  # a key may be a column ("epochs")
    if ok.empty or not needed <= set(ok.columns):
        return pd.DataFrame(columns=columns)
    rows = [
        _setting_row(keys, values if isinstance(values, tuple) else (values,), group, curves)
        for values, group in ok.groupby(list(keys), sort=True, dropna=False)
    ]
    table = _longer_runs(pd.DataFrame(rows), keys)
    table["converged"] = ["yes" if criterion != "—" else "no" for criterion in table["criterion"]]
    return table[columns].reset_index(drop=True)


def _number(value: object, pattern: str, scale: float = 1.0) -> str:
    number = float(value)  # type: ignore[arg-type]
    return pattern.format(scale * number) if math.isfinite(number) else "—"


def convergence_markdown(table: pd.DataFrame, keys: Sequence[str]) -> str:
    lines = [
        "# Convergence: did each setting train to convergence?",
        "",
        f"Converged (yes) when **every run fits**: final train accuracy (eval mode, whole train split) of at "
        f"least {100 * FIT_ACC:g} %, within the {SESOI_PP:g} pp smallest effect of interest of 100 %; or when "
        f"**a longer run** of the same setting (more `trainer.epochs`, nothing else changed) moved mean test "
        f"accuracy by less than {SESOI_PP:g} pp. A learning rate annealed to zero flattens any curve, so the "
        "rise over the last quarter is shown, not counted. Epochs to 90 %: the first epoch whose per-epoch train "
        "accuracy reached 90 % (mean over the runs that reached it).",
        "",
    ]
    if table.empty:
        return "\n".join([*lines, "No run records with train accuracy found.", ""])
    epochs = [] if "epochs" in keys else ["epochs"]
    header = [*keys, *epochs, "seeds", "runs fitting", "train acc %", "min train acc %", "test acc %"]
    header += ["epochs to 90 %", "rise last quarter (pp)", "longer run (pp)", "converged"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.to_dict("records"):
        cells = [str(row[key]) for key in keys]
        cells += [str(row[c]) for c in (*epochs, "seeds", "runs_fitting")]
        cells += [_number(row[c], "{:.1f}", 100) for c in ("final_train_acc", "min_train_acc", "final_test_acc")]
        cells += [_number(row["epochs_to_train_acc_90"], "{:.1f}"), _number(row["last_quarter_rise_pp"], "{:+.1f}")]
        cells += [_number(row["longer_run_change_pp"], "{:+.1f}")]
        cells.append(row["converged"] + (f" ({row['criterion']})" if row["converged"] == "yes" else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def write_convergence(runs: pd.DataFrame, curves: pd.DataFrame, keys: Sequence[str], out: Path) -> pd.DataFrame:
    """``convergence.csv`` and ``convergence.md`` in ``out``; returns the table."""
    table = convergence_table(runs, curves, keys)
    atomic_write_text(out / "convergence.csv", table.to_csv(index=False))
    atomic_write_text(out / "convergence.md", convergence_markdown(table, keys))
    return table
