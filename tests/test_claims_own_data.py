"""Your data, your verdict: ``poolbench experiment=claims dataset=image_folder dataset.root=DIR`` trains the real-data
cell of the claims grid on a user's image folder, and the shipped plan (its real-data cells are the role
``$real``, not the name fashion_mnist) decides claims 1, 2, 4 and 5 on it. Kept cheap: a tiny three-class
folder, 16 px, 2 seeds, 3 epochs, its own test split, the real-data cell only (``claims_cell=fmnist_small``);
the plan's real-data cell follows the training length and seeds, nothing else of the plan changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from poolbench.report.claims.plan import default_plan_path
from poolbench.report.command import main as report_main
from tests.conftest import run_cli

EPOCHS, SEEDS = 3, 2


def write_folder(root: Path, per_class: int = 440, size: int = 16) -> Path:
    """Three classes any head tells apart (a colour each, with noise): every head fits it in a few epochs. 1,320
    images: the cell's 1,000 training images after the test (20 %) and validation (2 %) carve-outs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, colour in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200))):
        folder = root / f"class{label}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="RGB").save(folder / f"{i}.png")
    return root


@pytest.mark.slow
def test_experiment_claims_on_an_image_folder_decides_claims_1_2_4_and_5(tmp_path: Path) -> None:
    images = write_folder(tmp_path / "images")
    results = tmp_path / "results"
    args = [
        "experiment=claims",
        "dataset=image_folder",
        f"dataset.root={images}",
        "dataset.image_size=16",
        "claims_cell=fmnist_small",
        "dataset.test_samples=null",  # all of the folder's test images (the cell asks for FashionMNIST's count)
        f"seed={','.join(str(s) for s in range(SEEDS))}",
        f"trainer.epochs={EPOCHS}",
        "trainer.threads=1",
        "progress=false",
        "report_on_sweep_end=false",
        f"paths.results_dir={results}",
        f"data_dir={tmp_path / 'data'}",
    ]
    ran = run_cli(args, cwd=tmp_path, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    plan = yaml.safe_load(default_plan_path().read_text(encoding="utf-8"))
    real = plan["cells"]["fmnist_1k"]
    assert real["pins"]["dataset"] == "$real"  # the shipped plan's real-data cell is a role
    real["pins"]["trainer.epochs"], real["seeds"] = EPOCHS, SEEDS  # the cheap run's length and seeds, nothing else
    edited = tmp_path / "plan.yaml"
    edited.write_text(yaml.safe_dump(plan), encoding="utf-8")
    out = tmp_path / "report"
    assert report_main([str(results / "claims"), "--out", str(out), "--plan", str(edited), "--no-figures"]) == 0
    summary = pd.read_csv(out / "claims.csv", dtype={"claim": str}).set_index("claim")
    for claim in ("1", "2", "4", "5"):
        assert summary.loc[claim, "verdict"] != "not measured", (claim, summary.loc[claim, "basis"])
    text = (out / "claims.md").read_text(encoding="utf-8")
    assert "image_folder" in text and "History of this plan." in text
