"""The convergence table: a setting converged when every run fits its training set (or a longer run of it moves
test accuracy by less than the SESOI); a curve flattened by an annealed schedule does not count."""

from __future__ import annotations

import pandas as pd
import pytest

from poolbench.report.convergence import FIT_ACC, convergence_markdown, convergence_table, write_convergence

KEYS = ["dataset", "head"]


def curve(head: str, seed: int, train_acc: list[float]) -> pd.DataFrame:
    epochs = range(1, len(train_acc) + 1)
    return pd.DataFrame(
        {"dataset": "d", "head": head, "seed": seed, "epoch": list(epochs), "train_acc": train_acc, "test_acc": 0.5}
    )


def record(head: str, seed: int, train_acc: float, test_acc: float = 0.8, epochs: int = 8, **extra) -> dict:
    return dict(
        dataset="d", head=head, seed=seed, status="ok", train_acc=train_acc, test_acc=test_acc, epochs=epochs, **extra
    )


def test_a_setting_converges_when_every_run_fits_and_a_flat_curve_alone_does_not_count(tmp_path) -> None:
    annealed_flat = [0.5, 0.7, 0.8, 0.85, 0.86, 0.86, 0.86, 0.86]  # lr annealed to zero: flat, but far from fit
    fitted = [0.5, 0.8, 0.9, 0.95, 0.99, 1.0, 1.0, 1.0]
    curves = pd.concat([curve("gap", s, annealed_flat) for s in (0, 1)] + [curve("flatten", s, fitted) for s in (0, 1)])
    runs = pd.DataFrame(
        [record("gap", s, 0.86, epochs_to_train_acc_90=None) for s in (0, 1)]
        + [record("flatten", s, 1.0, epochs_to_train_acc_90=3 + s) for s in (0, 1)]
    )
    table = convergence_table(runs, curves, KEYS).set_index("head")
    assert table.loc["gap", "last_quarter_rise_pp"] == pytest.approx(0)  # flat ...
    assert table.loc["gap", "converged"] == "no" and table.loc["gap", "runs_fitting"] == "0/2"  # ... yet not fit
    assert table.loc["flatten", "converged"] == "yes" and table.loc["flatten", "criterion"] == "fits"
    assert table.loc["flatten", "epochs_to_train_acc_90"] == pytest.approx(3.5)
    write_convergence(runs, curves, KEYS, tmp_path)
    text = (tmp_path / "convergence.md").read_text()
    assert "| d | flatten | 8 | 2 | 2/2 | 100.0 | 100.0 | 80.0 | 3.5 | +0.0 | — | yes (fits) |" in text
    assert "| d | gap | 8 | 2 | 0/2 | 86.0 | 86.0 | 80.0 | — | +0.0 | — | no |" in text


def test_one_run_short_of_the_ceiling_fails_the_setting() -> None:
    runs = pd.DataFrame([record("gap", 0, 1.0), record("gap", 1, FIT_ACC - 0.001), record("gap", 2, 1.0)])
    table = convergence_table(runs, pd.DataFrame(), KEYS)
    assert table.loc[0, "converged"] == "no" and table.loc[0, "runs_fitting"] == "2/3"
    assert table.loc[0, "final_train_acc"] > FIT_ACC  # the mean would pass: every run must fit


@pytest.mark.parametrize("longer_test_acc, converged", [(0.805, "yes"), (0.83, "no")])
def test_a_longer_run_that_barely_moves_test_accuracy_counts(longer_test_acc: float, converged: str) -> None:
    keys = ["dataset", "trainer.epochs", "head"]
    runs = pd.DataFrame(
        [record("gap", s, 0.9, 0.80, epochs=10, **{"trainer.epochs": 10}) for s in (0, 1)]
        + [record("gap", s, 0.95, longer_test_acc, epochs=20, **{"trainer.epochs": 20}) for s in (0, 1)]
    )
    table = convergence_table(runs, pd.DataFrame(), keys).set_index("trainer.epochs")
    assert table.loc[10, "converged"] == converged
    assert table.loc[10, "longer_run_change_pp"] == pytest.approx(100 * (longer_test_acc - 0.80))
    assert table.loc[20, "converged"] == "no"  # nothing longer to compare the longest with, and it does not fit


def test_failed_runs_and_missing_records_give_an_empty_table() -> None:
    failed = pd.DataFrame([{**record("gap", 0, 1.0), "status": "failed"}])
    assert convergence_table(failed, pd.DataFrame(), KEYS).empty
    table = convergence_table(pd.DataFrame(), pd.DataFrame(), KEYS)
    assert table.empty
    assert "No run records" in convergence_markdown(table, KEYS)


def test_epochs_to_train_acc_is_the_first_epoch_at_the_threshold() -> None:
    from poolbench.training.evaluate import epochs_to_train_acc

    history = [{"epoch": e + 1, "train_acc": a} for e, a in enumerate([0.5, 0.89, float("nan"), 0.9, 0.95])]
    assert epochs_to_train_acc(history) == 4
    assert epochs_to_train_acc(history, threshold=0.99) is None  # never reached
    assert epochs_to_train_acc([{"epoch": 1, "train_acc": None}]) is None  # no per-epoch train curve


def test_a_grouping_key_named_like_a_column_appears_once() -> None:
    """poolbench-report --group-by epochs: the key is the column, not a second one beside it."""
    keys = ["dataset", "epochs", "head"]
    runs = pd.DataFrame([record("gap", s, 1.0, epochs=e) for s in (0, 1) for e in (4, 8)])
    table = convergence_table(runs, pd.DataFrame(), keys)
    assert list(table.columns).count("epochs") == 1 and len(table) == 2
    text = convergence_markdown(table, keys)
    assert "| dataset | epochs | head | seeds |" in text and "| d | 4 | gap | 2 | 2/2 |" in text
