"""The convergence table: a flat learning curve is a plateau, one still rising in its last quarter is not."""

from __future__ import annotations

import pandas as pd
import pytest

from poolbench.report.convergence import convergence_markdown, convergence_table, write_convergence

KEYS = ["dataset", "head"]


def curve(head: str, seed: int, train_acc: list[float]) -> pd.DataFrame:
    epochs = range(1, len(train_acc) + 1)
    return pd.DataFrame(
        {"dataset": "d", "head": head, "seed": seed, "epoch": list(epochs), "train_acc": train_acc, "test_acc": 0.5}
    )


def test_flat_curve_is_a_plateau_and_a_rising_one_is_not(tmp_path) -> None:
    flat = [0.5, 0.8, 0.9, 0.95, 0.99, 1.0, 1.0, 1.0]
    rising = [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.86]
    curves = pd.concat([curve("gap", s, rising) for s in (0, 1)] + [curve("flatten", s, flat) for s in (0, 1)])
    table = convergence_table(curves, KEYS).set_index("head")
    assert table.loc["flatten", "plateau"] == "yes" and table.loc["flatten", "last_quarter_rise_pp"] == pytest.approx(0)
    assert table.loc["gap", "plateau"] == "no"
    assert table.loc["gap", "last_quarter_rise_pp"] == pytest.approx(100 * (0.86 - 0.75))  # epochs 6 -> 8
    assert table.loc["gap", "seeds"] == 2 and table.loc["gap", "final_train_acc"] == pytest.approx(0.86)
    write_convergence(curves, KEYS, tmp_path)
    text = (tmp_path / "convergence.md").read_text()
    assert "| d | gap | 8 | 2 | 86.0 | +11.0 | 50.0 | no |" in text


def test_no_curves_gives_an_empty_table() -> None:
    table = convergence_table(pd.DataFrame(), KEYS)
    assert table.empty
    assert "No learning curves" in convergence_markdown(table, KEYS)
