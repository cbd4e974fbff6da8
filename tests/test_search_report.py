"""A tuning sweep's report on real records: the tuned protocol's stage 1 (one Optuna search per head, committed
under results/reference/tuned/tuned_search) gets one trials table, each search's selected trial the one the
protocol chose on validation, test accuracy on the selected rows only; a grid sweep is not a search."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from poolbench.report.build import write_report
from poolbench.report.collect import collect_runs
from poolbench.report.search import search_sweeper
from poolbench.report.tuned import choose_settings
from tests.conftest import REPO_ROOT

SEARCH = REPO_ROOT / "results" / "reference" / "tuned" / "tuned_search"


def test_each_search_selects_the_trial_the_tuned_protocol_chose(tmp_path: Path) -> None:
    result = write_report([SEARCH], tmp_path / "out")
    assert result.figures == [] and not (tmp_path / "out" / "figures").exists()
    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    selected = trials[trials["selected"]]
    chosen = choose_settings(collect_runs([SEARCH]).runs)
    assert sorted(selected["head"]) == sorted(chosen) == ["flatten", "gap", "gem", "gmp"]
    for row in selected.itertuples():
        assert Path(row.run_dir) == chosen[row.head].run_dir
    assert trials["test_acc_of_selected"].notna().sum() == 4  # test accuracy of the selected trials only
    text = result.report_md.read_text()
    assert "24 trial(s) of 4 Optuna searches" in text and text.count("✓ selected") == 4
    assert "`trainer.lr`, `trainer.weight_decay`" in text  # what the searches varied; a head's own keys are not


def test_a_grid_sweep_is_not_a_search() -> None:
    assert search_sweeper(collect_runs([REPO_ROOT / "results" / "reference" / "demo"])) is None
