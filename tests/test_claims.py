"""The claims verdict from hand-written run records: exact effects and CIs (checked against scipy), each verdict
(supported, contradicted, inconclusive, not measured) and the files the report writes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import stats

from poolbench.record import RunRecord, write_config, write_result
from poolbench.report.build import write_report
from poolbench.report.claims.output import claims_runs, write_claims
from poolbench.report.claims.rules import (
    AVG_WINS,
    CONTRADICTED,
    COUNTER,
    INCONCLUSIVE,
    MAX_WINS,
    NOT_MEASURED,
    REPORTED,
    SUPPORTED,
    TEST,
    Measurement,
    ci_verdict,
    claim_verdict,
    threshold_verdict,
)
from poolbench.report.claims.verdict import judge_claims
from poolbench.report.collect import collect_runs

PARAMS = {"gap": 94186, "gmp": 94186, "flatten": 155626}
BYTES = {"gap": 385_000, "gmp": 385_000, "flatten": 636_000}
MACS = {"gap": 7_452_416, "gmp": 7_452_416, "flatten": 7_515_136}


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval, computed independently with scipy."""
    data = np.asarray(values)
    low, high = stats.t.interval(0.95, len(data) - 1, loc=data.mean(), scale=stats.sem(data))
    return float(data.mean()), float(low), float(high)


def write(root: Path, dataset: str, head: str, seed: int, config: dict, **fields) -> None:
    """One run record (result.json + config.yaml) under root/<cell>/<head>/seed<k>."""
    cell = "-".join(f"{v}" for v in config.get("dataset", {}).values()) or dataset
    run_dir = root / dataset / cell / head / f"seed{seed}"
    values = dict(
        test_acc=0.8,
        train_acc=0.85,
        gap_acc=0.05,
        test_loss=0.5,
        train_loss=0.4,
        gap_loss=0.1,
        params_total=PARAMS[head],
        params_backbone=93000,
        params_head=PARAMS[head] - 93000,
        macs_per_image=MACS[head],
        flops_per_image=2 * MACS[head],
        model_bytes=BYTES[head],
    )
    values.update(fields)
    record = RunRecord(
        status="ok",
        run_key=f"{cell}-{head}-{seed}",
        dataset=dataset,
        backbone="small_cnn",
        head=head,
        seed=seed,
        epochs=5,
        epochs_completed=5,
        **values,
    )
    write_config(run_dir, OmegaConf.to_yaml({"seed": seed, **config}))
    write_result(run_dir, record)


FASHION_1K = {"dataset": {"name": "fashion_mnist", "train_samples": 1000}}
# Train - test accuracy per seed: flatten overfits more than GAP on every seed (paired differences .15 .16 .20).
GAP_ACC_GAP = {"flatten": [0.20, 0.22, 0.24], "gap": [0.05, 0.06, 0.04]}
# GMP - GAP test accuracy per seed: presence favours max, density favours average, position neither.
PROBE_ACC = {
    "presence": {"gap": [0.60, 0.62, 0.64], "gmp": [0.79, 0.82, 0.85], "flatten": [0.50, 0.52, 0.51]},
    "density": {"gap": [0.80, 0.81, 0.82], "gmp": [0.74, 0.76, 0.75], "flatten": [0.78, 0.79, 0.80]},
    "position": {"gap": [0.40, 0.45, 0.42], "gmp": [0.41, 0.44, 0.42], "flatten": [0.95, 0.96, 0.97]},
}
CONSISTENCY = {"gap": [0.90, 0.92, 0.91], "flatten": [0.70, 0.75, 0.72]}
CIRCULAR = {"gap": [1.00, 0.99, 1.00], "flatten": [0.60, 0.65, 0.62]}
LATENCY = {"gap": [0.30, 0.31, 0.29], "flatten": [0.33, 0.35, 0.32]}


@pytest.fixture
def records(tmp_path: Path) -> Path:
    return write_records(tmp_path / "runs")


def write_records(root: Path) -> Path:
    """Fashion-MNIST at 1k images (GAP, flatten) and the three probe tasks (GAP, GMP, flatten), 3 seeds each."""
    for head in ("gap", "flatten"):
        for seed in range(3):
            write(
                root,
                "fashion_mnist",
                head,
                seed,
                FASHION_1K,
                gap_acc=GAP_ACC_GAP[head][seed],
                gap_loss=0.1 + GAP_ACC_GAP[head][seed],
                shift_acc={"0": 0.8, "4": 0.7 if head == "gap" else 0.6},
                shift_consistency={"0": 1.0, "4": CONSISTENCY[head][seed]},
                shift_circular_consistency={"0": 1.0, "4": CIRCULAR[head][seed]},
                latency_ms=LATENCY[head][seed],
                throughput_ips=3000.0 if head == "gap" else 2900.0 + seed,
                runs_other_sizes=head != "flatten",
                size_acc={"32": 0.7} if head == "gap" else {"32": None},
            )
    for task, accuracy in PROBE_ACC.items():
        for head, values in accuracy.items():
            for seed, acc in enumerate(values):
                config = {"dataset": {"name": "probe", "task": task}}
                write(root, "probe", head, seed, config, test_acc=acc, train_acc=acc + 0.05)
    return root


def verdicts_of(root: Path) -> dict:
    runs, extra = claims_runs(collect_runs([root]))
    return {item.claim.key: item for item in judge_claims(runs, extra)}


def rows_of(item, quantity: str, head: str | None = None, setting: str = "") -> list[Measurement]:
    return [
        r
        for r in item.rows
        if r.quantity.startswith(quantity) and (head is None or r.head == head) and setting in r.setting
    ]


def test_claim_2_overfitting_gap_is_paired_on_seed_with_the_t_interval(records):
    item = verdicts_of(records)["2"]
    [row] = rows_of(item, "train − test accuracy", "gap", "Fashion-MNIST")
    mean, low, high = t_interval([0.15, 0.16, 0.20])
    assert (row.effect, row.ci_low, row.ci_high, row.n) == pytest.approx((mean, low, high, 3))
    assert row.effect == pytest.approx(0.17) and row.comparison == "Flatten + FC − GAP"
    assert row.verdict == SUPPORTED  # low = 0.104 > 0


def test_claim_3_sign_flips_between_presence_and_density(records):
    item = verdicts_of(records)["3"]
    by_task = {task: rows_of(item, "test accuracy", "gmp", task)[0] for task in PROBE_ACC}
    mean, low, high = t_interval([0.19, 0.20, 0.21])
    assert (by_task["presence"].effect, by_task["presence"].ci_low, by_task["presence"].ci_high) == pytest.approx(
        (mean, low, high)
    )
    assert by_task["presence"].verdict == MAX_WINS
    assert by_task["density"].effect == pytest.approx(-0.06) and by_task["density"].verdict == AVG_WINS
    assert by_task["position"].verdict == INCONCLUSIVE  # differences 0.01, -0.01, 0.00
    assert item.verdict == SUPPORTED and "flips" in item.basis


def test_claim_4_consistency_and_the_position_counter_case(records):
    item = verdicts_of(records)["4"]
    [zero] = rows_of(item, "consistency at 4 px (zero fill)", "gap")
    mean, low, high = t_interval([0.20, 0.17, 0.19])
    assert (zero.effect, zero.ci_low, zero.ci_high) == pytest.approx((mean, low, high))
    [circular] = rows_of(item, "consistency at 4 px (circular)", "gap")
    assert circular.effect == pytest.approx(np.mean([0.40, 0.34, 0.38])) and circular.verdict == SUPPORTED
    [drop] = rows_of(item, "accuracy drop at 4 px", "gap")
    assert drop.effect == pytest.approx(0.10) and drop.verdict == SUPPORTED  # flatten loses 20 pp, GAP 10 pp
    counter = [r for r in item.rows if r.role == COUNTER]
    assert {r.head for r in counter} == {"gap", "gmp"} and all("position" in r.setting for r in counter)
    gap_counter = next(r for r in counter if r.head == "gap")
    assert gap_counter.effect == pytest.approx(np.mean([0.55, 0.51, 0.55]))
    assert not any(r.role == TEST and "position" in r.setting for r in item.rows)  # shifts change its label
    assert item.verdict == SUPPORTED and item.basis.startswith("3 of 3 rows supported")


def test_claims_1_and_5_deterministic_reductions_and_other_sizes(records):
    verdicts = verdicts_of(records)
    [params] = rows_of(verdicts["1"], "total parameters removed", "gap", "Fashion-MNIST")
    assert params.effect == pytest.approx(1 - 94186 / 155626) and params.n == 1 and params.verdict == SUPPORTED
    assert verdicts["1"].verdict == SUPPORTED
    [size] = rows_of(verdicts["5"], "serialized size saved", "gap", "Fashion-MNIST")
    assert size.effect == pytest.approx(1 - 385 / 636) and size.verdict == SUPPORTED
    [elsewhere] = rows_of(verdicts["5"], "runs at other input sizes", "gap", "Fashion-MNIST")
    assert elsewhere.effect == 1.0 and elsewhere.verdict == SUPPORTED
    [latency] = rows_of(verdicts["5"], "CPU latency saved", "gap", "Fashion-MNIST")
    saved = [(f - g) / f for f, g in zip(LATENCY["flatten"], LATENCY["gap"])]
    mean, low, high = t_interval(saved)
    assert (latency.effect, latency.ci_low, latency.ci_high) == pytest.approx((mean, low, high))
    [accuracy_32] = [r for r in verdicts["5"].rows if r.role == REPORTED and r.head == "gap"]
    assert accuracy_32.effect == pytest.approx(0.7) and "32 px" in accuracy_32.quantity
    [macs] = rows_of(verdicts["5b"], "multiply-adds saved", "gap", "Fashion-MNIST")
    assert macs.effect == pytest.approx(1 - 7_452_416 / 7_515_136)  # 0.8%: real but below 5%
    assert macs.verdict == INCONCLUSIVE


def test_missing_runs_give_not_measured_and_no_files(tmp_path):
    root = tmp_path / "runs"
    for seed in range(3):
        write(root, "fashion_mnist", "gap", seed, FASHION_1K)  # no flatten, no gmp: no claim can be measured
    verdicts = verdicts_of(root)
    assert {item.verdict for item in verdicts.values()} == {NOT_MEASURED}
    assert write_claims(collect_runs([root]), tmp_path / "out") is None
    assert not (tmp_path / "out").exists()


def test_a_single_seed_is_inconclusive(tmp_path):
    root = tmp_path / "runs"
    for head in ("gap", "flatten"):
        write(root, "fashion_mnist", head, 0, FASHION_1K, gap_acc=GAP_ACC_GAP[head][0])
    item = verdicts_of(root)["2"]
    [row] = rows_of(item, "train − test accuracy", "gap")
    assert row.n == 1 and math.isnan(row.ci_low) and row.verdict == INCONCLUSIVE
    assert item.verdict == INCONCLUSIVE


def test_labels_name_only_the_keys_that_tell_settings_apart(tmp_path):
    """Two Fashion-MNIST cells differ in training-set size and, with it, epochs: the label says the size, the
    full label (claims_detail.csv) both."""
    root = tmp_path / "runs"
    for size, epochs in ((1000, 25), (10000, 10)):
        config = {"dataset": {"name": "fashion_mnist", "train_samples": size}, "trainer": {"epochs": epochs}}
        for head in ("gap", "flatten"):
            for seed in range(2):
                write(root, "fashion_mnist", head, seed, config)
    rows = verdicts_of(root)["2"].rows
    assert {r.setting for r in rows} == {
        "Fashion-MNIST · Small CNN · train samples = 1000",
        "Fashion-MNIST · Small CNN · train samples = 10000",
    }
    assert {r.setting_full for r in rows} == {
        "Fashion-MNIST · Small CNN · train samples = 1000 · epochs = 25",
        "Fashion-MNIST · Small CNN · train samples = 10000 · epochs = 10",
    }


def test_verdict_rules():
    assert ci_verdict(0.01, 0.2, 3) == SUPPORTED
    assert ci_verdict(-0.2, -0.01, 3) == CONTRADICTED
    assert ci_verdict(-0.01, 0.2, 3) == INCONCLUSIVE
    assert ci_verdict(math.nan, math.nan, 1) == INCONCLUSIVE
    assert ci_verdict(math.nan, math.nan, 0) == NOT_MEASURED
    assert threshold_verdict(0.30, 0.25) == SUPPORTED
    assert threshold_verdict(0.10, 0.25) == INCONCLUSIVE
    assert threshold_verdict(-0.01, 0.25) == CONTRADICTED

    def rows(*verdicts: str) -> list[Measurement]:
        return [Measurement("2", "s", "c", "q", 0.0, 0.0, 0.0, 3, "pp", v) for v in verdicts]

    assert claim_verdict("2", rows(SUPPORTED, SUPPORTED, INCONCLUSIVE))[0] == SUPPORTED
    assert claim_verdict("2", rows(SUPPORTED, INCONCLUSIVE, INCONCLUSIVE))[0] == INCONCLUSIVE  # under half
    assert claim_verdict("2", rows(SUPPORTED, CONTRADICTED))[0] == INCONCLUSIVE  # mixed
    assert claim_verdict("2", rows(CONTRADICTED, CONTRADICTED))[0] == CONTRADICTED
    assert claim_verdict("2", [])[0] == NOT_MEASURED
    sign = [Measurement("3", "s", "c", "q", 0.0, 0.0, 0.0, 3, "pp", v) for v in (MAX_WINS, MAX_WINS)]
    assert claim_verdict("3", sign)[0] == CONTRADICTED  # one pool wins on every task: no task dependence
    assert claim_verdict("3", sign[:1])[0] == INCONCLUSIVE  # one task cannot show a dependence on the task


def test_report_writes_the_claims_files(records, tmp_path):
    result = write_report([records], tmp_path / "out")
    out = tmp_path / "out"
    assert result.claims_md == out / "claims.md"
    text = (out / "claims.md").read_text()
    assert "**Rule.**" in text and "significant reduction in the number of parameters" in text
    for name in ("claims.csv", "claims_detail.csv", "claims.tex"):
        assert (out / name).is_file()
    summary = (out / "claims.csv").read_text().splitlines()
    assert len(summary) == 1 + 6  # header + claims 1, 2, 3, 4, 5, 5b
    tex = (out / "claims.tex").read_text()
    assert r"\begin{tabular*}{\textwidth}" in tex and r"\toprule" in tex
    figures = {f.kind for f in write_claims(collect_runs([records]), tmp_path / "again").figures}
    assert figures == {"claim_1", "claim_2", "claim_3", "claim_4", "claim_5", "claim_5b"}
    assert (tmp_path / "again" / "figures" / "claim_3.pdf").read_bytes().startswith(b"%PDF-")


def test_claims_tex_compiles_and_fits_the_text_width(records, tmp_path):
    from tests.test_report_latex import MAX_OVERFULL_PT, PDFLATEX, compile_in_two_columns, overfull_points

    if PDFLATEX is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    result = write_claims(collect_runs([records]), tmp_path / "out", figures=False)
    assert result is not None
    code, log = compile_in_two_columns(tmp_path / "out" / "claims.tex", "text", tmp_path)
    assert code == 0, log[-3000:]
    assert all(points <= MAX_OVERFULL_PT for points in overfull_points(log)), overfull_points(log)


def test_claim_figures_are_one_column_wide_with_readable_fonts_and_head_colours(records):
    import matplotlib.style
    from matplotlib.text import Text

    from poolbench.report.canvas import MIN_FONT_PT, SINGLE_COLUMN_IN, style_path
    from poolbench.report.claims.figures import claim_figure
    from poolbench.report.names import HEAD_STYLES
    from tests.test_report_figures import colours_of

    runs, extra = claims_runs(collect_runs([records]))
    with matplotlib.style.context(style_path()):
        figures = {item.claim.key: claim_figure(item) for item in judge_claims(runs, extra)}
    assert set(figures) == {"1", "2", "3", "4", "5", "5b"} and all(f is not None for f in figures.values())
    for key, figure in figures.items():
        assert figure is not None
        assert figure.get_size_inches()[0] == SINGLE_COLUMN_IN, key
        texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert not [t.get_text() for t in texts if t.get_fontsize() < MIN_FONT_PT], key
    claim3 = figures["3"]
    assert claim3 is not None
    gmp = [a for a in claim3.findobj() if getattr(a, "get_gid", lambda: None)() == "head:gmp"]
    painted = set().union(*(colours_of(a) for a in gmp))
    assert painted == {HEAD_STYLES["gmp"].color.lower()}
