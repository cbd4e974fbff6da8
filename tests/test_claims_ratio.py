"""A stored ratio with its own CI (poolbench-deploy's latency ratio against flatten) as a claims endpoint:
``effect: reduction_ci`` judges 1 - ratio on a normal approximation of the stored bootstrap CI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from poolbench.errors import ConfigError
from poolbench.record import DEPLOY_TIMING_FILE, find_run_dirs, read_result
from poolbench.report.claims.output import write_claims
from poolbench.report.claims.plan_load import load_plan
from poolbench.report.collect import collect_runs
from tests.claims_records import endpoint, write_plan
from tests.test_claims import write_records


def write_ratios(root: Path, ratios: dict[str, tuple[float, float, float]]) -> None:
    """deploy_timing.json in every fashion_mnist run dir: the head's latency ratio to flatten and its 95 % CI."""
    for run_dir in find_run_dirs(root):
        record = read_result(run_dir)
        if record.dataset != "fashion_mnist" or record.head not in ratios:
            continue
        ratio, low, high = ratios[record.head]
        timing = {"latency_ratio": ratio, "latency_ratio_ci_low": low, "latency_ratio_ci_high": high, "processes": 5}
        (run_dir / DEPLOY_TIMING_FILE).write_text(json.dumps(timing), encoding="utf-8")


LATENCY = endpoint("latency saved", metric="cell_latency_ratio", effect="reduction_ci", sesoi="cost")


@pytest.mark.parametrize(
    ("ratio", "ci", "word"),
    [
        ((0.80, 0.76, 0.84), (0.16, 0.24), "supported"),  # 20 % faster, the CI well past the 10 % SESOI
        ((1.00, 0.97, 1.03), (-0.03, 0.03), "negligible"),  # the noise floor: inside +-10 %
        ((0.85, 0.60, 1.10), (-0.10, 0.40), "inconclusive"),  # too noisy to tell
    ],
)
def test_a_stored_ratio_is_judged_on_its_own_ci(tmp_path: Path, ratio, ci, word) -> None:
    root = write_records(tmp_path / "runs")
    write_ratios(root, {"gap": ratio, "flatten": (1.0, 1.0, 1.0)})
    plan = write_plan(tmp_path / "p.yaml", [{"id": "5b", "words": "reduces the load", "primary": [LATENCY]}])
    write_claims(collect_runs([root]), tmp_path / "out", False, plan)
    row = pd.read_csv(tmp_path / "out" / "claims_detail.csv").iloc[0]
    assert row["effect"] == pytest.approx(1 - ratio[0])
    # the 95 % interval printed is the stored one, mirrored (1 - ratio), up to its normal approximation
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci, abs=1e-9)
    se = (ratio[2] - ratio[1]) / (2 * stats.norm.ppf(0.975))
    assert row["p_zero"] == pytest.approx(2 * stats.norm.sf(abs(1 - ratio[0]) / se))
    assert row["verdict"] == word and (math.isnan(row["seeds_to_detect_sesoi_planning"]))
    assert row["interval"] == "timing bootstrap"


def test_without_stored_ratios_the_endpoint_is_not_measured(tmp_path: Path) -> None:
    root = write_records(tmp_path / "runs")
    params = endpoint("params", metric="params_total", effect="reduction", sesoi="cost")
    plan = write_plan(tmp_path / "p.yaml", [{"id": "5b", "words": "reduces the load", "primary": [params, LATENCY]}])
    write_claims(collect_runs([root]), tmp_path / "out", False, plan)
    detail = pd.read_csv(tmp_path / "out" / "claims_detail.csv").set_index("endpoint")
    assert detail.loc["latency saved", "verdict"] == "not measured"


def test_a_ratio_against_another_head_than_flatten_is_refused(tmp_path: Path) -> None:
    wrong = {**LATENCY, "against": "gmp"}
    plan = write_plan(tmp_path / "p.yaml", [{"id": "5b", "words": "reduces the load", "primary": [wrong]}])
    with pytest.raises(ConfigError, match=r"against.*flatten"):
        load_plan(plan)
