"""The robustness map from hand-written records with a known truth: GAP beats flatten by 5 pp in the base cell
and at weight decay 5e-3, loses by 5 pp at weight decay 0 (a flip), and a cell with 2 seeds is shown but not
counted. The plan's robustness section (base: a declared cell, levels re-pin it) is checked field by field at
load time and is part of the plan's hash."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import matplotlib.style
import pandas as pd
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from poolbench.errors import ConfigError
from poolbench.report.build import write_report
from poolbench.report.canvas import fit_titles, style_path
from poolbench.report.claims.plan_load import load_plan
from poolbench.report.claims.robustness import RobustnessPlan
from poolbench.report.claims.rules import verdict_of
from poolbench.report.claims.spec_curve import curve_figure
from tests.claims_records import endpoint, write_plan, write_run

FLATTEN = [0.840, 0.845, 0.835, 0.842, 0.838]
GAP_AHEAD = [0.050, 0.060, 0.055, 0.050, 0.060]
REFERENCE: dict[str, dict[str, Any]] = {
    "backbone": {"widths": [16, 32, 64]},
    "dataset": {"train_samples": 1000},
    "trainer": {"epochs": 30},
}
CLAIMS = [
    {"id": "A", "words": "GAP beats flatten", "primary": [endpoint("accuracy")]},
    {
        "id": "B",
        "words": "GAP overfits less",
        "primary": [endpoint("overfitting", metric="overfit_acc", direction="less", converged=True)],
    },
    {"id": "C", "words": "on the probe", "primary": [endpoint("probe", cell="presence")]},
]


def section(extra_level: dict[str, Any] | None = None) -> dict[str, Any]:
    decay = [
        {"name": "0", "pins": {"trainer.weight_decay": 0.0}},
        {"name": "5e-4", "pins": {"trainer.weight_decay": 0.0005}},
        {"name": "5e-3", "pins": {"trainer.weight_decay": 0.005}},
    ]
    noise = [
        {"name": "none", "pins": {"dataset.label_noise": None}},
        {"name": "20 %", "pins": {"dataset.label_noise": 0.2}, "waive_convergence": "fitting is what it measures"},
    ]
    metric = [{"name": "accuracy"}, {"name": "loss", "metrics": {"overfit_acc": "overfit_loss"}, "sesoi": "loss"}]
    return {
        "why": "One corner or a law?",
        "base": "fashion",
        "results": ["robust"],
        "min_seeds": 3,
        "factors": [
            {"name": "weight decay", "reference": "5e-4", "levels": decay + ([extra_level] if extra_level else [])},
            {"name": "label noise", "reference": "none", "levels": noise},
            {"name": "metric", "reference": "accuracy", "levels": metric},
        ],
        "pairs": [["weight decay", "label noise"]],
    }


def plan_file(path: Path, robustness: dict[str, Any]) -> Path:
    write_plan(path, copy.deepcopy(CLAIMS))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["sesoi"]["loss"] = {"value": 0.05, "unit": "", "reason": "a twentieth of a nat"}
    data["robustness"] = robustness
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def cell(root: Path, decay: float, diffs: list[float], seeds: int = 5, noise: float | None = None) -> None:
    config = copy.deepcopy(REFERENCE)
    config["trainer"]["weight_decay"] = decay
    if noise is not None:
        config["dataset"]["label_noise"] = noise
    for seed in range(seeds):
        loss = 0.1 + diffs[seed]  # GAP's loss gap moves with its accuracy lead (the metric variant)
        write_run(root, "fashion_mnist", "flatten", seed, config, test_acc=FLATTEN[seed], overfit_acc=0.10)
        acc, gap = FLATTEN[seed] + diffs[seed], 0.10 - diffs[seed]
        write_run(root, "fashion_mnist", "gap", seed, config, test_acc=acc, overfit_acc=gap, overfit_loss=loss)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("robust")
    cell(base / "claims", 0.0005, GAP_AHEAD)
    for seed in range(5):  # the probe claim: outside the map, decided the same in every specification
        probe = {"dataset": {"task": "presence"}}
        write_run(base / "claims", "probe_presence", "flatten", seed, probe, test_acc=0.5)
        write_run(base / "claims", "probe_presence", "gap", seed, probe, test_acc=0.5 + GAP_AHEAD[seed])
    cell(base / "robust", 0.005, GAP_AHEAD)
    cell(base / "robust", 0.0, [-d for d in GAP_AHEAD])
    cell(base / "robust", 0.0005, GAP_AHEAD, seeds=2, noise=0.2)
    write_report([base / "claims"], plan=plan_file(base / "plan.yaml", section()))
    return base / "claims" / "report"


def frame(report: Path) -> pd.DataFrame:
    return pd.read_csv(report / "robustness.csv").fillna({"note": ""})


def test_one_row_per_claim_endpoint_and_specification(report: Path) -> None:
    rows = frame(report)
    specs = {"reference", "weight decay 0", "weight decay 5e-3", "label noise 20 %", "metric loss"}
    specs |= {"weight decay 0 × label noise 20 %", "weight decay 5e-3 × label noise 20 %"}
    assert set(rows["specification"]) == specs
    assert len(rows) == 2 * len(specs) and not rows.duplicated(["claim", "endpoint", "specification"]).any()
    assert set(rows["claim"]) == {"A", "B"}  # C's probe cell is outside the map
    assert {"level: weight decay", "level: label noise", "level: metric"} <= set(rows.columns)


def test_each_specification_decides_its_own_cell(report: Path) -> None:
    words = frame(report).set_index(["claim", "specification"])["word"]
    assert words[("A", "reference")] == "supported" and words[("A", "weight decay 5e-3")] == "supported"
    assert words[("A", "weight decay 0")] == "contradicted"  # GAP 5 pp behind flatten there
    assert words[("B", "weight decay 0")] == "contradicted"  # and its gap 5 pp larger
    assert words[("A", "weight decay 0 × label noise 20 %")] == "not measured"  # no such runs
    effect = frame(report).set_index(["claim", "specification"])["effect"]
    assert effect[("A", "weight decay 0")] == pytest.approx(-0.055)


def test_the_metric_variant_reads_the_other_metric_with_its_sesoi(report: Path) -> None:
    rows = frame(report).set_index(["claim", "specification"])
    loss = rows.loc[("B", "metric loss")]
    assert loss["metric"] == "overfit_loss" and loss["sesoi"] == 0.05
    assert loss["effect"] == pytest.approx(0.055) and loss["word"] == "contradicted"  # the loss gap grows


def test_too_few_seeds_are_shown_not_counted(report: Path) -> None:
    noisy = frame(report).set_index(["claim", "specification"]).loc[("A", "label noise 20 %")]
    assert noisy["word"] == "not measured" and "2 seeds" in noisy["note"] and noisy["n"] == 2


def test_claims_md_says_how_far_each_word_holds(report: Path) -> None:
    text = (report / "claims.md").read_text(encoding="utf-8")
    section = text.split("## How far each verdict holds", 1)[1]
    row_a = next(line for line in section.splitlines() if line.startswith("| A "))
    assert "supported" in row_a and "holds in 2 of 3 specifications" in row_a
    assert "fragile (flips under weight decay 0 → contradicted)" in row_a
    assert "label noise 20 %" in row_a  # named: judged nowhere there (too few seeds)
    row_c = next(line for line in section.splitlines() if line.startswith("| C "))
    assert "outside the map" in row_c
    assert (report / "robustness.md").is_file() and "\\begin{tabular" in (report / "robustness.tex").read_text()
    summary = pd.read_csv(report / "claims.csv")
    assert summary.set_index("claim").loc["A", "verdict"] == "supported"  # the headline stays pre-registered


def test_a_specification_curve_per_claim_fits_seven_inches(report: Path) -> None:
    for claim in ("A", "B"):
        assert (report / "figures" / f"robustness_claim_{claim}.png").stat().st_size > 0
        assert (report / "figures" / f"robustness_claim_{claim}.pdf").stat().st_size > 0
    assert not (report / "figures" / "robustness_claim_C.png").exists()


def test_the_curve_text_fits_at_print_width(tmp_path: Path) -> None:
    from poolbench.report.claims.robust_output import decide_map
    from poolbench.report.collect import collect_runs

    cell(tmp_path / "claims", 0.0005, GAP_AHEAD)
    cell(tmp_path / "claims", 0.0, [-d for d in GAP_AHEAD])
    plan = load_plan(plan_file(tmp_path / "plan.yaml", section()))
    robustness = plan.robustness
    assert robustness is not None
    results = decide_map(collect_runs([tmp_path / "claims"]), plan, robustness)
    with matplotlib.style.context(style_path()):
        figure = curve_figure(results, "A", "supported")
        assert figure is not None
        fit_titles(figure)  # as save_figure does
        box = figure.get_tightbbox(FigureCanvasAgg(figure).get_renderer())
        assert box.width <= 7.0 + 1e-6 and figure.get_size_inches()[0] == pytest.approx(7.0)
        sizes = [float(text.get_fontsize()) for text in figure.findobj(Text)]
        assert min(sizes) >= 7


def test_the_plan_hash_changes_when_a_level_is_added(tmp_path: Path) -> None:
    before = load_plan(plan_file(tmp_path / "a.yaml", section())).sha256
    extra = {"name": "1e-2", "pins": {"trainer.weight_decay": 0.01}}
    after = load_plan(plan_file(tmp_path / "b.yaml", section(extra))).sha256
    assert before != after


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda s: s.update(factorz=[]), "robustness.factorz"),
        (lambda s: s["factors"][0]["levels"][0].update(cells={}), r"robustness.factors\[0\].levels\[0\].cells"),
        (lambda s: s["factors"][0].update(reference="5e-5"), r"robustness.factors\[0\].reference"),
        (lambda s: s.update(pairs=[["weight decay", "width"]]), r"robustness.pairs\[0\]"),
        (lambda s: s["factors"][2]["levels"][1].update(sesoi="lose"), r"robustness.factors\[2\].levels\[1\].sesoi"),
        (lambda s: s["factors"][2]["levels"][1].update(metrics={"overfit_acc": "x"}), r"levels\[1\].metrics"),
        (lambda s: s["factors"][0]["levels"][0].update(pins={"trainer.wd": 0}), r"levels\[0\].pins.trainer.wd"),
        (lambda s: s.update(base="nowhere"), "robustness.base"),
        (lambda s: s.update(min_seeds=1), "robustness.min_seeds"),
    ],
)
def test_a_wrong_field_is_named_in_one_line(tmp_path: Path, edit: Any, field: str) -> None:
    robustness = section()
    edit(robustness)
    with pytest.raises(ConfigError, match=field) as caught:
        load_plan(plan_file(tmp_path / "plan.yaml", robustness))
    assert caught.value.exit_code == 2


def test_the_reference_specification_keeps_the_base_cells_own_pins() -> None:
    """A reference level pins only what the base cell leaves open (label noise: unset); a moved level re-pins,
    and a base cell the user re-pinned (3 epochs on their own data) stays so in the reference."""
    from poolbench.report.claims.specifications import specification_plan

    plan = load_plan()
    robustness = plan.robustness
    assert robustness is not None
    specs = {spec.name: spec for spec in robustness.specifications()}
    short = specs["reference"].pins({"trainer.epochs": 3})
    assert "trainer.epochs" not in short and short["dataset.label_noise"] is None
    assert specs["epochs 60"].pins({"trainer.epochs": 3})["trainer.epochs"] == 60
    assert specification_plan(plan, robustness, specs["reference"]).cell(robustness.base).pins == {
        **plan.cell(robustness.base).pins,
        "dataset.label_noise": "—",
    }
    ten = specification_plan(plan, robustness, specs["train images 10k"]).cell(robustness.base).pins
    assert ten["dataset.train_samples"] == "10000" and ten["trainer.epochs"] == "20"  # its own epochs win


def test_the_shipped_plan_declares_the_map() -> None:
    plan = load_plan()
    robustness = plan.robustness
    assert isinstance(robustness, RobustnessPlan) and robustness.base in {cell.name for cell in plan.cells}
    assert plan.cell(robustness.base).pins["dataset"] == "$real"  # the sweep's real dataset, whatever it is
    names = {factor.name: {level.name for level in factor.levels} for factor in robustness.factors}
    assert {"16-32-64", "32-64-128"} <= names["width"] and {"1", "2"} <= names["depth"]
    assert len(names["train images"]) >= 3 and {"0", "5e-4", "5e-3"} <= names["weight decay"]
    assert len(names["crop"]) == 2 and len(names["label noise"]) == 2 and len(names["epochs"]) == 2
    assert len(names["shift"]) >= 2 and ("width", "depth") in robustness.pairs


def test_poolbench_report_refuses_a_wrong_section_in_one_line_exit_2(tmp_path: Path, capsys: Any) -> None:
    from poolbench.report.command import main

    cell(tmp_path / "claims", 0.0005, GAP_AHEAD, seeds=1)
    robustness = section()
    robustness["min_seed"] = robustness.pop("min_seeds")
    plan = plan_file(tmp_path / "plan.yaml", robustness)
    assert main([str(tmp_path / "claims"), "--plan", str(plan), "--no-figures"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "robustness.min_seed" in err and "min_seeds" in err
    assert not (tmp_path / "claims" / "report").exists()  # refused before any work


def test_a_level_that_waives_convergence_counts_a_head_still_learning(tmp_path: Path) -> None:
    """GAP never fits its (noisy) training set: the reference's overfitting row is shown, not counted; the
    label-noise level waives the requirement with its reason, and decides."""
    from poolbench.report.claims.robust_output import decide_map
    from poolbench.report.collect import collect_runs

    for noise in (None, 0.2):
        config = copy.deepcopy(REFERENCE)
        config["trainer"]["weight_decay"] = 0.0005
        if noise is not None:
            config["dataset"]["label_noise"] = noise
        for seed in range(5):
            write_run(tmp_path, "fashion_mnist", "flatten", seed, config, test_acc=FLATTEN[seed], overfit_acc=0.10)
            gap = 0.10 - GAP_AHEAD[seed]
            write_run(tmp_path, "fashion_mnist", "gap", seed, config, False, test_acc=0.8, overfit_acc=gap)
    plan = load_plan(plan_file(tmp_path / "plan.yaml", section()))
    robustness = plan.robustness
    assert robustness is not None
    results = {r.spec.name: r for r in decide_map(collect_runs([tmp_path]), plan, robustness)}
    (reference,) = results["reference"].mapped_rows("B")
    (noisy,) = results["label noise 20 %"].mapped_rows("B")
    assert not reference.counts and reference.note.startswith("not converged")
    assert noisy.counts and noisy.note == "convergence not required: fitting is what it measures"
    assert verdict_of(noisy) == "supported"
    (accuracy,) = results["label noise 20 %"].mapped_rows("A")
    assert accuracy.note == ""  # no convergence requirement there: nothing to waive


def test_fragile_names_flips_apart_from_inconclusive_specifications() -> None:
    from poolbench.report.claims.robust_tables import ClaimMap

    claim = load_plan().claims[0]
    item = ClaimMap(
        claim, "contradicted", ["reference"], [("depth 2", "inconclusive"), ("metric loss", "supported")], [], True
    )
    assert item.holds_text == "holds in 1 of 3 specifications"
    assert item.standing == "fragile (flips under metric loss → supported; inconclusive under depth 2)"
    assert ClaimMap(claim, "supported", ["reference", "depth 2"], [], ["crop 2 px"], True).standing == "robust"
    assert ClaimMap(claim, "supported", ["reference"], [], [], True).standing == "not judged"


def test_the_reference_specification_decides_as_the_verdict(report: Path) -> None:
    """Same cell, same engine, same Holm family: every claim's word in the reference is the verdict's."""
    words = frame(report).drop_duplicates("claim").set_index("claim")
    reference = frame(report)[lambda f: f["specification"] == "reference"].drop_duplicates("claim")
    verdicts = pd.read_csv(report / "claims.csv").set_index("claim")["verdict"]
    assert all(verdicts[c] == w for c, w in zip(reference["claim"], reference["claim_word"])) and len(words) == 2


def test_robustness_tex_fits_the_text_width(report: Path, tmp_path: Path) -> None:
    from tests.test_report_latex import MAX_OVERFULL_PT, PDFLATEX, compile_in_two_columns, overfull_points

    if PDFLATEX is None:
        pytest.skip("pdflatex not installed")
    code, log = compile_in_two_columns(report / "robustness.tex", "text", tmp_path)
    assert code == 0, log[-2000:]
    assert all(points <= MAX_OVERFULL_PT for points in overfull_points(log))
