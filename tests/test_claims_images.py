"""The claims verdict with per-image predictions (predictions.npz): accuracy rows decided on seeds+images, the
seed-only t interval still in claims_detail.csv, the fall-back to seeds (t) where a run has no predictions or
predictions that disagree with its record, and the numbers recomputed from the raw files with numpy alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from poolbench.record import PREDICTIONS_FILE, read_predictions, write_predictions
from poolbench.report.claims.output import write_claims
from poolbench.report.collect import collect_runs
from poolbench.report.decide import INCONCLUSIVE, SUPPORTED
from poolbench.report.image_ci import BOOTSTRAP_SEED, RESAMPLES
from tests.claims_records import endpoint, write_plan, write_run

N_IMAGES = 400
SEEDS = range(4)
FASHION = {"dataset": {"name": "fashion_mnist", "train_samples": 1000}}
TRAIN = {"gap": (0.97, 0.10), "flatten": (0.99, 0.05)}  # train accuracy, train loss (fixed per run)


def fake_predictions(correct: np.ndarray, shift_correct: np.ndarray, loss: np.ndarray) -> dict[str, np.ndarray]:
    label = (np.arange(correct.size) % 10).astype(np.int16)
    wrong = ((label + 1) % 10).astype(np.int16)
    return {
        "test_index": np.arange(correct.size, dtype=np.int32),
        "test_label": label,
        "test_pred": np.where(correct, label, wrong).astype(np.int16),
        "test_loss": loss.astype(np.float16),
        "shift_pred_4": np.where(shift_correct, label, wrong).astype(np.int16),
    }


def write_scored_run(
    root: Path, head: str, seed: int, correct: np.ndarray, predictions: bool = True, config: dict = FASHION
) -> Path:
    """An ok run whose result.json says what its predictions say (test accuracy, loss, 4 px shift, gaps)."""
    rng = np.random.default_rng(100 * seed + len(head))
    shift_correct = correct & (rng.random(correct.size) < 0.9)
    loss = np.where(correct, 0.2, 2.0) + rng.random(correct.size) * 0.1
    arrays = fake_predictions(correct, shift_correct, loss)
    test_acc = float(correct.mean())
    test_loss = float(arrays["test_loss"].astype(float).mean())
    train_acc, train_loss = TRAIN[head]
    run_dir = write_run(
        root,
        "fashion_mnist",
        head,
        seed,
        config,
        test_acc=test_acc,
        test_loss=test_loss,
        train_acc=train_acc,
        train_loss=train_loss,
        overfit_acc=train_acc - test_acc,
        overfit_loss=test_loss - train_loss,
        shift_acc={"4": float(shift_correct.mean())},
        size_acc={"32": test_acc - 0.01 * (seed + 1)},
    )
    if predictions:
        write_predictions(run_dir, arrays)
    return run_dir


def varied_correct(head: str, seed: int) -> np.ndarray:
    """GAP right on 85 % of the images, flatten on 80 %, each seed differing on a few images."""
    rng = np.random.default_rng(seed)
    base = rng.random(N_IMAGES)
    return base < (0.85 if head == "gap" else 0.80)


def identical_correct(head: str, seed: int) -> np.ndarray:
    """Every seed the same: GAP right and flatten wrong on 30 images, the reverse on 20 (+2.5 pp)."""
    correct = np.zeros(N_IMAGES, dtype=bool)
    correct[:300] = True  # both right
    if head == "gap":
        correct[300:330] = True  # only GAP right
    else:
        correct[330:350] = True  # only flatten right
    return correct


PLAN = [
    {
        "id": "1",
        "words": "GAP beats flatten and overfits less",
        "primary": [
            endpoint("accuracy"),
            endpoint("accuracy gap", metric="overfit_acc", direction="less"),
            endpoint("loss gap", metric="overfit_loss", direction="less", sesoi="loss"),
        ],
        "secondary": [
            endpoint("shift drop", metric="test_acc", minus="shift_acc_4", direction="less"),
            endpoint("at 32 px", metric="size_acc_32", minus="test_acc", effect="value", against=None),
        ],
    }
]


def plan_file(path: Path) -> Path:
    write_plan(path, PLAN)
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    plan["sesoi"]["loss"] = {"value": 0.01, "unit": "", "reason": "a hundredth of a nat"}
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def report(tmp_path: Path, correct, missing: tuple[str, int] | None = None) -> pd.DataFrame:
    root = tmp_path / "runs"
    for seed in SEEDS:
        for head in ("gap", "flatten"):
            write_scored_run(root, head, seed, correct(head, seed), predictions=(head, seed) != missing)
    result = write_claims(collect_runs([root]), tmp_path / "report", figures=False, plan=plan_file(tmp_path / "p.yaml"))
    assert result is not None
    return pd.read_csv(tmp_path / "report" / "claims_detail.csv").set_index("endpoint")


def raw_run(root: Path, head: str, seed: int) -> tuple[dict, dict]:
    """result.json and predictions.npz of one run, read with json and numpy alone (no poolbench)."""
    run_dir = next(root.glob(f"fashion_mnist/*/{head}/seed{seed}"))
    with np.load(run_dir / "predictions.npz") as data:
        arrays = {name: data[name] for name in data.files}
    return json.loads((run_dir / "result.json").read_text(encoding="utf-8")), arrays


def recompute(root: Path, metric: str) -> tuple[float, float, float, int, tuple[float, float]]:
    """effect, seed-only variance of the mean, image variance of the mean, seeds and the bootstrap check, by
    docs/reports.md's algorithm from the raw files alone."""
    per_seed, per_image, constants = [], [], []
    for seed in SEEDS:
        values, images, fixed = [], [], []
        for head in ("gap", "flatten"):
            record, arrays = raw_run(root, head, seed)
            correct = (arrays["test_pred"] == arrays["test_label"]).astype(float)
            loss = arrays["test_loss"].astype(float)
            image, constant = {
                "test_acc": (correct, 0.0),
                "overfit_acc": (-correct, record["train_acc"]),
                "overfit_loss": (loss, -record["train_loss"]),
            }[metric]
            values.append(record[metric])
            images.append(image)
            fixed.append(constant)
        per_seed.append(values[0] - values[1])
        per_image.append(images[0] - images[1])
        constants.append(fixed[0] - fixed[1])
    d, z = np.array(per_seed), np.vstack(per_image)
    m = z.mean(axis=0)
    rng, draws = np.random.default_rng(20210301), []
    for _ in range(2000):
        seeds = rng.integers(0, len(d), len(d))
        counts = np.bincount(rng.integers(0, m.size, m.size), minlength=m.size)
        draws.append((np.array(constants) + z @ counts / m.size)[seeds].mean())
    boot = tuple(np.quantile(draws, [0.025, 0.975]))
    return float(d.mean()), float(d.var(ddof=1) / d.size), float(m.var(ddof=1) / m.size), d.size, boot


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    base = tmp_path_factory.mktemp("varied")
    return base, report(base, varied_correct)


ROWS = [("accuracy", "test_acc"), ("accuracy gap", "overfit_acc"), ("loss gap", "overfit_loss")]


@pytest.mark.parametrize("name, metric", ROWS)
def test_each_accuracy_and_gap_row_is_decided_on_seeds_and_images_recomputed_from_raw_files(
    varied, name: str, metric: str
) -> None:
    base, detail = varied
    row = detail.loc[name]
    effect, seed_var, image_var, n, boot = recompute(base / "runs", metric)
    t = stats.t.ppf(0.975, n - 1)
    assert row["interval"] == "seeds+images" and row["n_images"] == N_IMAGES
    assert row["effect"] == pytest.approx(effect, abs=1e-9)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((effect - t * seed_var**0.5, effect + t * seed_var**0.5))
    half = t * math.sqrt(seed_var + image_var)
    assert (row["ci_low_images"], row["ci_high_images"]) == pytest.approx((effect - half, effect + half), abs=1e-9)
    assert row["se_images"] == pytest.approx(image_var**0.5) and row["se_seeds"] == pytest.approx(seed_var**0.5)
    p_zero = 2 * stats.t.sf(abs(effect) / math.sqrt(seed_var + image_var), n - 1)  # Holm's input: the same interval
    assert row["p_zero"] == pytest.approx(p_zero, rel=1e-9)
    assert (row["ci_low_boot"], row["ci_high_boot"]) == pytest.approx(boot, abs=1e-12)


def test_claims_md_names_the_interval_that_decides(varied) -> None:
    base, _ = varied
    text = (base / "report" / "claims.md").read_text(encoding="utf-8")
    assert "CI over" in text and "seeds+images" in text and "seeds (t)" in text


def test_the_shift_drop_uses_the_shifted_predictions_and_a_size_row_falls_back_to_seeds(varied) -> None:
    _, detail = varied
    assert detail.loc["shift drop", "interval"] == "seeds+images"
    assert detail.loc["at 32 px", "interval"] == "seeds (t)"
    assert "no per-image form" in detail.loc["at 32 px", "interval_reason"]
    assert math.isnan(detail.loc["at 32 px", "ci_low_images"])


def test_identical_seeds_get_their_interval_from_the_images_alone(tmp_path: Path) -> None:
    detail = report(tmp_path, identical_correct)
    row = detail.loc["accuracy"]
    assert row["effect"] == pytest.approx(0.025) and row["se_seeds"] == 0.0
    assert row["ci_low"] == row["ci_high"] == pytest.approx(0.025)  # the seed-only interval: no spread at all
    b, c = 30 / N_IMAGES, 20 / N_IMAGES
    se = math.sqrt((b + c - (b - c) ** 2) / (N_IMAGES - 1))  # paired proportions (McNemar), on N - 1
    half = stats.t.ppf(0.975, len(SEEDS) - 1) * se
    assert (row["ci_low_images"], row["ci_high_images"]) == pytest.approx((0.025 - half, 0.025 + half))
    assert row["verdict"] == INCONCLUSIVE  # the seed-only interval would call +2.5 pp on every seed supported


def test_a_run_without_predictions_leaves_its_rows_on_the_seed_interval(tmp_path: Path) -> None:
    detail = report(tmp_path, varied_correct, missing=("flatten", 2))
    row = detail.loc["accuracy"]
    assert row["interval"] == "seeds (t)" and PREDICTIONS_FILE in row["interval_reason"]
    assert "flatten/seed2" in row["interval_reason"]
    assert math.isnan(row["ci_low_images"])
    seeds_only_p = 2 * stats.t.sf(abs(row["effect"]) / row["se_seeds"], row["n"] - 1)
    assert row["p_zero"] == pytest.approx(seeds_only_p)
    assert row["verdict"] in (SUPPORTED, INCONCLUSIVE)


def test_predictions_that_disagree_with_the_record_are_reported_and_not_used(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for seed in SEEDS:
        for head in ("gap", "flatten"):
            write_scored_run(root, head, seed, varied_correct(head, seed))
    run_dir = next(root.glob("fashion_mnist/*/gap/seed1"))
    arrays = read_predictions(run_dir)
    assert arrays is not None
    right = np.flatnonzero(arrays["test_pred"] == arrays["test_label"])[:3]
    arrays["test_pred"][right] = (arrays["test_label"][right] + 5) % 10  # three right images now wrong
    write_predictions(run_dir, arrays)
    write_claims(collect_runs([root]), tmp_path / "report", figures=False, plan=plan_file(tmp_path / "p.yaml"))
    detail = pd.read_csv(tmp_path / "report" / "claims_detail.csv").set_index("endpoint")
    row = detail.loc["accuracy"]
    assert row["interval"] == "seeds (t)" and "disagree" in row["interval_reason"] and "gap/seed1" in row["note"]
    assert detail.loc["loss gap", "interval"] == "seeds+images"  # the losses still agree


def test_the_documented_bootstrap_constants() -> None:
    assert RESAMPLES == 2000 and BOOTSTRAP_SEED == 20210301  # docs/reports.md states both


def test_an_interaction_of_two_training_sizes_subtracts_on_the_shared_test_images(tmp_path: Path) -> None:
    root, per_image = tmp_path / "runs", {}
    for size in (1000, 2000):
        config = {"dataset": {"name": "fashion_mnist", "train_samples": size}}
        rows = []
        for seed in SEEDS:
            correct = {h: varied_correct(h, seed + size) for h in ("gap", "flatten")}
            for head in ("gap", "flatten"):
                write_scored_run(root, head, seed, correct[head], config=config)
            rows.append(correct["gap"].astype(float) - correct["flatten"])
        per_image[size] = np.mean(rows, axis=0)
    interaction = endpoint("size dependence", cell="small", versus="large", effect="interaction", sesoi="interaction")
    plan = write_plan(tmp_path / "p.yaml", [{"id": "3", "words": "depends on size", "primary": [interaction]}])
    declared = yaml.safe_load(plan.read_text(encoding="utf-8"))
    declared["cells"] = {  # the two training sizes: cells of their own, sharing the test images
        name: {"pins": {"dataset": "fashion_mnist", "dataset.train_samples": size}, "heads": ["gap", "flatten"]}
        | {"seeds": len(SEEDS)}
        for name, size in (("small", 1000), ("large", 2000))
    }
    plan.write_text(yaml.safe_dump(declared, sort_keys=False), encoding="utf-8")
    write_claims(collect_runs([root]), tmp_path / "report", figures=False, plan=plan)
    row = pd.read_csv(tmp_path / "report" / "claims_detail.csv").iloc[0]
    shared = per_image[1000] - per_image[2000]
    assert row["interval"] == "seeds+images"
    assert row["se_images"] == pytest.approx(math.sqrt(shared.var(ddof=1) / N_IMAGES))
