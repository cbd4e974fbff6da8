"""The claims verdict from hand-written run records and a small analysis plan whose truth is known: each of the
four verdicts, Holm's adjustment across all primary endpoints of all claims (by hand), the seeds-needed
number, exact endpoints, counter-case cells that never enter a claim they are not about, models that did not
converge, interactions (Welch), rows marked by construction, and the claim rule over several primaries."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from poolbench.report.aggregate import row_keys
from poolbench.report.claims.output import claims_runs
from poolbench.report.claims.plan_load import load_plan
from poolbench.report.claims.rows import Row
from poolbench.report.claims.rules import claim_verdict
from poolbench.report.claims.verdict import convergence_lookup, judge_claims
from poolbench.report.collect import collect_runs
from poolbench.report.convergence import convergence_table
from poolbench.report.curves import curves_frame
from poolbench.report.decide import (
    CONTRADICTED,
    INCONCLUSIVE,
    NEGLIGIBLE,
    NOT_MEASURED,
    SUPPORTED,
    Decision,
    Endpoint,
    seeds_to_detect,
)
from tests.claims_records import endpoint, write_plan, write_run

SEEDS = range(5)
FLATTEN = [0.840, 0.845, 0.835, 0.842, 0.838]
# head - flatten test accuracy per seed, by cell: the truth each claim of the test plan is built on
DIFFS = {
    "fashion_mnist": {"gap": [0.050, 0.060, 0.055, 0.050, 0.060], "gmp": [-0.050, -0.060, -0.055, -0.050, -0.060]},
    "probe_density": {"gap": [0.001, -0.001, 0.0005, 0.0, 0.0002], "gmp": [0.0] * 5},
    "probe_presence": {"gap": [0.05, -0.02, 0.03, 0.04, -0.01], "gmp": [0.20, 0.21, 0.19, 0.22, 0.20]},
    "probe_position": {"gap": [-0.60, -0.62, -0.61, -0.60, -0.63], "gmp": [-0.55, -0.56, -0.54, -0.57, -0.55]},
}
FASHION = {"dataset": {"name": "fashion_mnist", "train_samples": 1000}}


def write_records(root: Path, rising: set[tuple[str, str]] = frozenset()) -> Path:
    """Every cell of ``DIFFS`` with GAP, GMP and flatten, 5 seeds; ``rising``: (cell, head) still learning."""
    for cell, heads in DIFFS.items():
        config = FASHION if cell == "fashion_mnist" else {"dataset": {"name": cell, "task": cell.split("_")[1]}}
        for seed in SEEDS:
            write_run(root, cell, "flatten", seed, config, (cell, "flatten") not in rising, test_acc=FLATTEN[seed])
            for head, diffs in heads.items():
                acc = FLATTEN[seed] + diffs[seed]
                write_run(root, cell, head, seed, config, (cell, head) not in rising, test_acc=acc)
    return root


FOUR_VERDICTS = [
    {"id": "A", "words": "GAP beats flatten", "primary": [endpoint("acc", cell="fashion")]},
    {
        "id": "B",
        "words": "GMP beats flatten",
        "primary": [endpoint("acc", cell="fashion", head="gmp")],
    },
    {"id": "C", "words": "GAP beats flatten", "primary": [endpoint("acc", cell="density")]},
    {"id": "D", "words": "GAP beats flatten", "primary": [endpoint("acc", cell="presence")]},
    {
        "id": "E",
        "words": "fewer parameters and multiply-adds",
        "primary": [
            endpoint("params", cell="fashion", metric="params_total", effect="reduction", sesoi="cost"),
            endpoint("macs", cell="fashion", metric="macs_per_image", effect="reduction", sesoi="cost"),
        ],
    },
]


def judge(root: Path, plan_path: Path):
    return judge_plan(root, load_plan(plan_path))


def judge_plan(root: Path, plan):
    collection = collect_runs([root])
    runs, extra = claims_runs(collection, plan)
    keys = row_keys(extra)
    convergence = convergence_table(runs, curves_frame(collection, runs, extra), keys)
    verdicts = judge_claims(plan, runs, extra, convergence_lookup(runs, convergence, keys[:-1]))
    return {item.claim.id: item for item in verdicts}


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("four")
    return judge(write_records(base / "runs"), write_plan(base / "plan.yaml", FOUR_VERDICTS))


def test_records_with_known_truth_reach_each_of_the_four_verdicts(four) -> None:
    assert {key: item.verdict for key, item in four.items()} == {
        "A": SUPPORTED,  # +5.5 pp on every seed
        "B": CONTRADICTED,  # -5.5 pp: the other side, beyond the SESOI
        "C": NEGLIGIBLE,  # 0.01 pp +- 0.07: the 90% CI lies inside +-1 pp
        "D": INCONCLUSIVE,  # +1.8 pp +- 3: neither
        "E": NEGLIGIBLE,  # 39.5 % fewer parameters (supported) but 0.8 % fewer multiply-adds (negligible)
    }
    [row] = four["A"].primary
    mean, sd = np.mean(DIFFS["fashion_mnist"]["gap"]), np.std(DIFFS["fashion_mnist"]["gap"], ddof=1)
    assert row.estimate.effect == pytest.approx(mean) and row.estimate.sd == pytest.approx(sd)
    assert list(row.estimate.points) == pytest.approx(DIFFS["fashion_mnist"]["gap"])  # per seed, for the figure
    assert four["A"].headline is row


def test_holm_runs_across_every_primary_endpoint_of_every_claim(four) -> None:
    """Four statistical primaries (A-D; E's are exact and untested): Holm by hand over their raw p-values."""
    rows = {key: four[key].primary[0] for key in "ABCD"}
    cells = {
        "A": ("fashion_mnist", "gap"),
        "B": ("fashion_mnist", "gmp"),
        "C": ("probe_density", "gap"),
        "D": ("probe_presence", "gap"),
    }
    raw = {key: stats.ttest_1samp(DIFFS[cell][head], 0.0).pvalue for key, (cell, head) in cells.items()}
    assert {key: row.decision.p_zero for key, row in rows.items()} == pytest.approx(raw)
    ordered = sorted(raw, key=raw.get)
    expected, running = {}, 0.0
    for rank, key in enumerate(ordered):  # Holm 1979: (m - rank) p, made monotone
        running = max(running, min(1.0, (4 - rank) * raw[key]))
        expected[key] = running
    assert {key: row.decision.p_zero_holm for key, row in rows.items()} == pytest.approx(expected)
    assert all(math.isnan(row.decision.p_zero) for row in four["E"].primary)


def test_every_measured_endpoint_gets_the_seeds_to_detect_its_sesoi_a_planning_number(four) -> None:
    """The planning number: the n at which the test against 0 (alpha / 4: 4 tests) has 80 % power against a true
    effect of one SESOI at the observed spread; never the observed effect (it would jump near a boundary)."""
    [row] = four["D"].primary
    assert row.decision.verdict == INCONCLUSIVE
    assert row.decision.seeds_needed == seeds_to_detect(row.estimate, Endpoint("greater", 0.01), 0.05 / 4)
    normal = ((stats.norm.ppf(1 - 0.05 / 8) + stats.norm.ppf(0.8)) * row.estimate.sd / 0.01) ** 2
    assert normal < row.decision.seeds_needed < normal + 10  # the normal approximation, plus the t's few seeds
    shifted = dataclasses.replace(row.estimate, effect=0.0099)  # the effect does not move it
    assert seeds_to_detect(shifted, Endpoint("greater", 0.01), 0.05 / 4) == row.decision.seeds_needed
    [supported] = four["A"].primary
    assert supported.decision.seeds_needed is not None  # a design number for every measured endpoint


def test_exact_endpoints_are_judged_against_the_sesoi_alone(four) -> None:
    params, macs = four["E"].primary
    assert params.estimate.exact and params.estimate.effect == pytest.approx(1 - 94_186 / 155_626)
    assert params.decision.verdict == SUPPORTED
    assert macs.estimate.effect == pytest.approx(1 - 7_452_416 / 7_515_136)  # 0.8 %: certain, and negligible
    assert macs.decision.verdict == NEGLIGIBLE and macs.decision.seeds_needed is None
    assert four["E"].headline is macs  # the endpoint that decides the claim


def test_a_counter_case_cell_never_enters_a_claim_it_is_not_about(tmp_path: Path) -> None:
    claims = [
        {
            "id": "2",
            "words": "overfits less",
            "primary": [endpoint("acc", cell="fashion")],
            "secondary": [endpoint("acc everywhere", head=["gap", "gmp"])],  # every cell, position included
        },
        {"id": "4", "words": "arrangement", "primary": [endpoint("acc", cell="position")]},
    ]
    counter = [{"cells": ["position"], "about": ["4"], "why": "position is the label"}]
    verdicts = judge(write_records(tmp_path / "runs"), write_plan(tmp_path / "plan.yaml", claims, counter))
    settings_2 = {row.setting_full for row in verdicts["2"].rows}
    assert len(verdicts["2"].secondary) == 2 * 3  # 3 cells (not 4) x 2 heads
    assert not any("probe_position" in setting for setting in settings_2)
    assert all("probe_position" in row.setting_full for row in verdicts["4"].rows)  # about 4: it enters 4
    assert verdicts["4"].verdict == CONTRADICTED  # GAP loses by 61 pp where the position is the label


def test_models_that_did_not_converge_are_shown_and_never_counted(tmp_path: Path) -> None:
    fashion = endpoint("acc", cell="fashion", converged=True)
    presence = endpoint("acc", cell="presence", head="gmp", converged=True)
    claims = [
        {"id": "2", "words": "overfits less", "primary": [fashion]},
        {"id": "3", "words": "converged", "primary": [presence]},
    ]
    root = write_records(tmp_path / "runs", rising={("fashion_mnist", "flatten")})
    verdicts = judge(root, write_plan(tmp_path / "plan.yaml", claims))
    [late] = verdicts["2"].primary
    assert late.estimate.effect == pytest.approx(np.mean(DIFFS["fashion_mnist"]["gap"]))  # shown ...
    assert late.decision.verdict == NOT_MEASURED and "not converged: Flatten + FC" in late.note  # ... not counted
    assert verdicts["2"].verdict == NOT_MEASURED
    assert verdicts["3"].verdict == SUPPORTED and verdicts["3"].primary[0].counts


def test_the_interaction_compares_two_cells_of_one_backbone_with_welch(tmp_path: Path) -> None:
    interaction = endpoint(
        "task dependence",
        cell="presence",
        versus="density",
        head="gmp",
        against="gap",
        effect="interaction",
        sesoi="interaction",
    )
    claims = [{"id": "3", "words": "depends on the task", "primary": [interaction]}]
    verdicts = judge(write_records(tmp_path / "runs"), write_plan(tmp_path / "plan.yaml", claims))
    [row] = verdicts["3"].primary
    presence = np.subtract(DIFFS["probe_presence"]["gmp"], DIFFS["probe_presence"]["gap"])
    density = np.subtract(DIFFS["probe_density"]["gmp"], DIFFS["probe_density"]["gap"])
    welch = stats.ttest_ind(presence, density, equal_var=False)
    assert row.estimate.effect == pytest.approx(presence.mean() - density.mean())
    assert row.decision.p_zero == pytest.approx(welch.pvalue)
    assert "probe_presence" in row.setting and "probe_density" in row.setting
    assert verdicts["3"].verdict == SUPPORTED


def test_rows_true_by_construction_are_shown_never_counted(tmp_path: Path) -> None:
    secondary = endpoint("circular", by_construction="a global pool ignores circular shifts")
    claims = [
        {
            "id": "4",
            "words": "x",
            "primary": [endpoint("acc", cell="fashion")],
            "secondary": [secondary],
        }
    ]
    verdicts = judge(write_records(tmp_path / "runs"), write_plan(tmp_path / "plan.yaml", claims))
    marked = verdicts["4"].secondary
    assert marked and all(not row.counts and row.note.startswith("by construction") for row in marked)
    assert all(row.decision is None for row in marked)  # secondary rows are never decided


def test_the_claim_rule_over_several_primary_endpoints(tmp_path: Path) -> None:
    def rows(*verdicts: str) -> list[Row]:
        made = []
        for i, verdict in enumerate(verdicts):
            spec = load_plan(write_plan(tmp_path / "p.yaml", FOUR_VERDICTS)).claims[0].primary[0]
            row = Row("x", True, dataclasses.replace(spec, name=f"part {i}"), "gap", "s", None)  # type: ignore[arg-type]
            row.decision = Decision(verdict)
            made.append(row)
        return made

    assert claim_verdict(rows(SUPPORTED, SUPPORTED))[0] == SUPPORTED
    assert claim_verdict(rows(SUPPORTED, CONTRADICTED))[0] == CONTRADICTED  # any part contradicted
    assert claim_verdict(rows(SUPPORTED, INCONCLUSIVE))[0] == INCONCLUSIVE
    assert claim_verdict(rows(NEGLIGIBLE, NOT_MEASURED))[0] == INCONCLUSIVE  # a missing part decides nothing
    assert claim_verdict(rows(SUPPORTED, NEGLIGIBLE))[0] == NEGLIGIBLE  # a required part is negligible
    assert claim_verdict(rows(NOT_MEASURED))[0] == NOT_MEASURED
    assert claim_verdict(rows(SUPPORTED, CONTRADICTED))[1] == "part 0 supported, part 1 contradicted (all parts)"
    # "can": one supported part shows it; a contradicted one no longer sinks it
    assert claim_verdict(rows(SUPPORTED, CONTRADICTED), "any")[0] == SUPPORTED
    assert claim_verdict(rows(INCONCLUSIVE, CONTRADICTED), "any")[0] == INCONCLUSIVE
    assert claim_verdict(rows(NEGLIGIBLE, CONTRADICTED), "any")[0] == CONTRADICTED
    assert claim_verdict(rows(NEGLIGIBLE, NEGLIGIBLE), "any")[0] == NEGLIGIBLE
    assert claim_verdict(rows(NOT_MEASURED, NOT_MEASURED), "any")[0] == NOT_MEASURED


def test_a_ci_reads_the_same_in_claims_md_as_in_paired_md(tmp_path: Path) -> None:
    """One format for a confidence interval: clipped to what the effect can be, in claims.md as in paired.md
    (a paired difference of accuracies cannot pass ±100 pp; its t-interval on three wild seeds can)."""
    from poolbench.report.claims.tables import interval_text, possible_range
    from poolbench.report.decide import paired_estimate
    from poolbench.report.formatting import ci_text

    interaction = endpoint("i", effect="interaction", versus="density", sesoi="interaction")
    plan = load_plan(
        write_plan(
            tmp_path / "plan.yaml",
            [
                {"id": "A", "words": "x", "primary": [endpoint("acc"), endpoint("gap", minus="train_acc")]},
                {"id": "B", "words": "y", "primary": [interaction]},
            ],
        )
    )
    (acc, gap), (interaction_spec,) = plan.claims[0].primary, plan.claims[1].primary
    assert [possible_range(s) for s in (acc, gap, interaction_spec)] == [(-1, 1), (-2, 2), (-2, 2)]
    estimate = paired_estimate([0.95, -0.60, 0.90])  # mean 0.4167, 95% CI about [-1.85, 2.68]
    row = Row("A", True, acc, "gap", "all", estimate)
    low, high = estimate.interval(0.95)
    assert low < -1 and high > 1
    assert interval_text(row, 0.95) == "[\u2212100.0, 100.0]"
    assert ci_text(low, high, 1, (-1.0, 1.0)) == interval_text(row, 0.95)  # paired.md's CI, at claims' 1 decimal


@pytest.mark.parametrize(
    "failed",
    [
        {"metric": "train_acc", "below": 0.5},  # did not fit its training set
        {"metric": "test_acc", "below_median_by": 0.05},  # another mode: far below its head's median in the cell
    ],
)
def test_a_bimodal_endpoint_reports_its_failure_rate_as_a_row_of_its_own(tmp_path: Path, failed: dict) -> None:
    """Two of GMP's five seeds on presence failed (train and test accuracy 30 %): the endpoint's mean is shown as
    it is, and beside it, never voted, GMP's failure rate against GAP's (+40 pp, 2 of 5 vs 0)."""
    root = write_records(tmp_path / "runs")
    for seed in (1, 3):
        write_run(
            root,
            "probe_presence",
            "gmp",
            seed,
            {"dataset": {"name": "probe_presence", "task": "presence"}},
            test_acc=0.3,
            train_acc=0.3,
        )
    interaction = endpoint(
        "task", cell="presence", versus="density", head="gmp", against="gap", effect="interaction", sesoi="interaction"
    )
    claims = [{"id": "3", "words": "depends on the task", "primary": [interaction]}]
    plan = yaml.safe_load(write_plan(tmp_path / "plan.yaml", claims).read_text())
    plan["failed_run"] = {**failed, "reason": "did not fit"}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    verdicts = judge(root, tmp_path / "plan.yaml")
    [failure] = [row for row in verdicts["3"].secondary if row.failure]
    assert failure.estimate.effect == pytest.approx(0.4) and list(failure.estimate.points) == [0, 1, 0, 1, 0]
    assert "GMP 2 of 5 seeds, GAP 0 of 5 seeds" in failure.note and not failure.counts
    assert failure.decision is None and len(verdicts["3"].primary) == 1  # shown, never voted


def test_the_real_dataset_is_a_role_and_a_cell_must_name_one_setting(tmp_path: Path) -> None:
    """``dataset: $real`` is whatever real dataset the records hold (here a user's image folder); two real
    datasets, or two settings that match one cell's pins, leave its primaries unmeasured with the reason."""
    claims = [{"id": "A", "words": "GAP beats flatten", "primary": [endpoint("acc", cell="real")]}]
    plan = yaml.safe_load(write_plan(tmp_path / "plan.yaml", claims).read_text())
    plan["cells"]["real"] = {
        "pins": {"dataset": "$real", "dataset.train_samples": 1000},
        "heads": ["gap", "flatten"],
        "seeds": 5,
    }
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    own = tmp_path / "own"
    for seed in SEEDS:
        for head, acc in (("flatten", FLATTEN[seed]), ("gap", FLATTEN[seed] + 0.05)):
            write_run(
                own,
                "image_folder",
                head,
                seed,
                {"dataset": {"name": "image_folder", "train_samples": 1000}},
                test_acc=acc,
            )
    [row] = judge(own, tmp_path / "plan.yaml")["A"].primary
    assert row.decision.verdict == SUPPORTED and "real: " in row.setting_full
    both = write_records(own)  # FashionMNIST too: two real datasets
    [row] = judge(both, tmp_path / "plan.yaml")["A"].primary
    assert row.decision.verdict == NOT_MEASURED and "several real datasets (fashion_mnist, image_folder)" in row.note
    plan["cells"]["real"]["pins"] = {"dataset": "probe_presence"}  # the probe cell no longer pins its task
    for seed in SEEDS:
        write_run(own, "probe_presence", "gap", seed, {"dataset": {"name": "probe_presence", "task": "other"}})
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    [row] = judge(own, tmp_path / "plan.yaml")["A"].primary
    assert row.decision.verdict == NOT_MEASURED and "2 settings of the records match" in row.note
    assert "dataset.task" in row.note and "pin it" in row.note


def test_a_test_two_claims_share_is_one_test_in_the_holm_family(tmp_path: Path) -> None:
    """Claim B reads exactly claim A's endpoint (as claims 4 and 5 share native accuracy): one hypothesis, one
    test, so adding B changes neither A's Holm p nor its word."""
    acc = endpoint("acc", cell="presence")
    other = endpoint("other", cell="density")
    alone = judge(
        write_records(tmp_path / "runs"),
        write_plan(
            tmp_path / "a.yaml",
            [{"id": "A", "words": "x", "primary": [acc]}, {"id": "C", "words": "z", "primary": [other]}],
        ),
    )
    shared = judge(
        tmp_path / "runs",
        write_plan(
            tmp_path / "b.yaml",
            [
                {"id": "A", "words": "x", "primary": [acc]},
                {"id": "B", "words": "y", "primary": [acc]},
                {"id": "C", "words": "z", "primary": [other]},
            ],
        ),
    )
    assert shared["A"].primary[0].decision == shared["B"].primary[0].decision == alone["A"].primary[0].decision
    assert alone["A"].primary[0].decision.p_zero_holm == pytest.approx(2 * alone["A"].primary[0].decision.p_zero)
