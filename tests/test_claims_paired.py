"""Every sweep's paired table gets the claims engine's words: better / worse / equivalent within ±δ / undecided,
with the seeds that would decide an undecided head, and δ a report option (``poolbench-report --delta PP``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_report import write_run

from poolbench.report.aggregate import runs_frame
from poolbench.report.collect import collect_runs
from poolbench.report.command import main as report_main
from poolbench.report.decide import Endpoint, paired_estimate, seeds_needed
from poolbench.report.paired import paired_comparison

GAP = [0.800, 0.810, 0.790, 0.805, 0.795]
DIFFS = {  # head - gap per seed (5 seeds): the word each should get at delta = 1 pp
    "gem": [0.030, 0.032, 0.028, 0.031, 0.029],  # better
    "gmp": [-0.030, -0.032, -0.028, -0.031, -0.029],  # worse
    "lse": [0.001, -0.001, 0.0005, 0.0, 0.0002],  # equivalent within +-1 pp
    "avgmax": [0.04, -0.03, 0.02, -0.01, 0.03],  # undecided
}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    for seed, acc in enumerate(GAP):
        write_run(tmp_path / "runs", "gap", seed, acc)
        for head, diffs in DIFFS.items():
            write_run(tmp_path / "runs", head, seed, acc + diffs[seed])
    return tmp_path / "runs"


def test_each_head_gets_the_engines_word_and_undecided_ones_the_seeds_needed(sweep: Path) -> None:
    paired = paired_comparison(runs_frame(collect_runs([sweep])), "gap").set_index("head")
    assert paired["verdict"].to_dict() == {
        "avgmax": "undecided",
        "gem": "better",
        "gmp": "worse",
        "lse": "equivalent",
    }
    assert (paired["delta"] == 0.01).all()
    undecided = paired.loc["avgmax"]
    # Holm over the panel's 4 tests: the seeds needed are planned at alpha / 4
    expected = seeds_needed(paired_estimate(DIFFS["avgmax"]), Endpoint("greater", 0.01), 0.05 / 4)
    assert undecided["seeds_needed"] == expected and expected > 5
    assert pd.isna(paired.loc["gem", "seeds_needed"])


def test_delta_is_a_report_option_in_pp(sweep: Path, tmp_path: Path) -> None:
    """At delta = 5 pp, GeM's +3 pp is inside the margin: equivalent within ±5.0 pp."""
    assert report_main([str(sweep), "--out", str(tmp_path / "wide"), "--delta", "5", "--no-figures"]) == 0
    paired = pd.read_csv(tmp_path / "wide" / "paired.csv").set_index("head")
    assert paired.loc["gem", "verdict"] == "equivalent" and paired.loc["gem", "delta"] == pytest.approx(0.05)
    table = (tmp_path / "wide" / "paired.md").read_text()
    assert "verdict (δ = 5.0 pp)" in table and "equivalent within ±5.0 pp" in table and "seeds needed" in table


def test_a_delta_that_is_not_a_positive_number_of_points_is_a_usage_error(sweep: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        report_main([str(sweep), "--delta", "-1"])
    assert exit_info.value.code == 2 and "percentage points" in capsys.readouterr().err
