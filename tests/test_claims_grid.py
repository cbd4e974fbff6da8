"""The claims presets compose into valid, distinct runs: every cell a preset sweeps exists and validates, the probe
cells never flip or crop (that would move a motif to another quadrant), the two position cells differ in their
padding alone, every claims cell redraws its training data per seed, and the presets that share results/claims/
never share a run directory."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from omegaconf import OmegaConf

from poolbench.config.presets import claims_presets, sweep_axes
from poolbench.config.settings import DatasetSettings
from poolbench.record import compute_run_key
from poolbench.sweep.rundir import variant_suffix
from tests.conftest import CONF_DIR, compose_settings

CLAIMS_PRESETS = claims_presets()  # what `make claims` runs (conf/experiment/claims_presets.txt)
PRESETS = (*CLAIMS_PRESETS, "claims_full", "calibrate_probes")


def params(preset: str) -> dict[str, list[str]]:
    """The values a preset's own file sweeps each key over (each preset lists all of its sweep keys)."""
    return sweep_axes(preset, CONF_DIR)


def swept(preset: str, key: str) -> list[str]:
    return params(preset)[key]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_swept_cell_exists_and_validates(preset: str) -> None:
    cells = swept(preset, "claims_cell")
    assert set(cells) <= {path.stem for path in (CONF_DIR / "claims_cell").glob("*.yaml")}
    keys = set()
    for cell in cells:
        settings = compose_settings([f"experiment={preset}", f"claims_cell={cell}"])
        keys.add(compute_run_key(settings.resolved))
        assert settings.dataset.redraw_per_seed  # variance from data too: each seed draws its own training data
        if settings.dataset.kind == "probe":
            assert settings.dataset.augment.crop_padding == 0 and not settings.dataset.augment.flip
    assert len(keys) == len(cells)


def test_the_grid_covers_every_claim() -> None:
    """Heads gap, gmp, flatten and flatten + dropout; 5+ seeds per cell and 10 for claim 3's primary endpoint at
    depth 1; two training-set sizes; the three probe tasks; two depths."""
    heads = {"gap", "gmp", "flatten", "flatten_dropout"}
    assert heads <= set(swept("claims", "head")) and heads <= set(swept("claims_deep", "head"))
    assert len(swept("claims", "seed")) >= 5 and len(swept("claims_deep", "seed")) >= 5
    datasets = {
        cell: compose_settings(["experiment=claims", f"claims_cell={cell}"]).dataset
        for cell in swept("claims", "claims_cell")
    }
    assert len({d.train_samples for d in datasets.values() if d.kind == "fashion_mnist"}) >= 2
    assert {d.task for d in datasets.values() if d.kind == "probe"} == {"presence", "density", "position"}
    depths = {
        compose_settings(["experiment=claims"]).backbone["depth"],
        *map(int, swept("claims_deep", "backbone.depth")),
        *map(int, swept("claims_deep_probes", "backbone.depth")),
    }
    assert depths == {1, 2}
    for depth, cell in itertools.product(("1", "2"), ("presence", "density")):  # claim 3: GMP vs GAP
        base = "claims" if depth == "1" else "claims_deep_probes"
        extra = set(swept("claims_seeds", "seed")) if depth in swept("claims_seeds", "backbone.depth") else set()
        assert cell in swept(base, "claims_cell") and cell in swept("claims_seeds", "claims_cell")
        assert {"gap", "gmp"} <= set(swept("claims_seeds", "head"))
        assert len(extra | set(swept(base, "seed"))) >= (10 if depth == "1" else 5)  # presence is bimodal


def test_position_cells_differ_only_in_padding() -> None:
    circular = compose_settings(["experiment=claims", "claims_cell=position"])
    zeros = compose_settings(["experiment=claims", "claims_cell=position_zeros"])
    assert circular.backbone["padding_mode"] == "circular" and zeros.backbone["padding_mode"] == "zeros"
    assert circular.dataset == zeros.dataset and circular.trainer == zeros.trainer


def trained(dataset: DatasetSettings) -> DatasetSettings:
    """The dataset settings without the keys that only choose the trained model's extra tests."""
    return dataclasses.replace(dataset, eval_shifts=(), shift_fills=())


def test_presence_and_position_pair_under_zero_padding_too() -> None:
    """Claim 4's arrangement interaction is measured under both paddings: presence_zeros is presence with zero
    padding (nothing else), and claims_zeros runs the two heads the endpoint compares."""
    for circular_cell, zeros_cell in (("presence", "presence_zeros"), ("position", "position_zeros")):
        circular = compose_settings(["experiment=claims", f"claims_cell={circular_cell}"])
        zeros = compose_settings(["experiment=claims_zeros", f"claims_cell={zeros_cell}"])
        assert circular.backbone["padding_mode"] == "circular" and zeros.backbone["padding_mode"] == "zeros"
        # the same training; the tests a model takes are each cell's own (what the plan reads there)
        assert trained(circular.dataset) == trained(zeros.dataset) and circular.trainer == zeros.trainer
    assert {"gap", "flatten"} <= set(swept("claims_zeros", "head")) and len(swept("claims_zeros", "seed")) >= 5


def test_presets_write_to_run_dirs_of_their_own() -> None:
    """The presets of `make claims` that share a results folder (their `name`: results/claims/ or
    results/claims_robust/): no two of their runs may get one run dir (the depth is an override, so it names the
    dir; claims_seeds' seeds are new), or a run would be refused or run twice."""
    dirs: dict[tuple[str, str], str] = {}
    for preset in CLAIMS_PRESETS:
        folder = compose_settings([f"experiment={preset}"]).name
        axes = params(preset)
        fixed = [key for key in axes if key not in ("seed", "head")]
        for values in itertools.product(*(axes[key] for key in fixed)):
            suffix = variant_suffix([f"{key}={value}" for key, value in zip(fixed, values)])
            for head, seed in itertools.product(axes["head"], axes["seed"]):
                where = (folder, f"{head}/seed{seed}{suffix}")
                assert where not in dirs, f"{preset} and {dirs[where]} share {where}"
                dirs[where] = preset


def test_calibration_draws_never_meet_the_reference() -> None:
    """The probe noise is calibrated on another generator seed: other motifs, other test and train images."""
    for cell in swept("calibrate_probes", "claims_cell"):
        calibration = compose_settings(["experiment=calibrate_probes", f"claims_cell={cell}"]).dataset
        reference = compose_settings(["experiment=claims", f"claims_cell={cell}"]).dataset
        assert calibration.generator_seed is not None and reference.generator_seed is not None
        assert calibration.generator_seed >= 1000 > reference.generator_seed
        assert calibration.task == reference.task and calibration.noise == reference.noise
    assert set(swept("calibrate_probes", "dataset.noise")) >= {"0.2", "0.3", "0.4"}


def test_a_cell_trains_as_its_own_file_says() -> None:
    """The preset composes before its cells (``_self_`` first), so a cell's epochs, lr and data win over the
    preset's own keys; the FashionMNIST cells train without augmentation, until every head fits (convergence)."""
    for cell in ("fmnist_small", "fmnist_large"):
        expected = OmegaConf.load(CONF_DIR / "claims_cell" / f"{cell}.yaml")
        for preset in ("claims", "claims_deep"):
            settings = compose_settings([f"experiment={preset}", f"claims_cell={cell}"])
            assert settings.trainer.lr == expected.trainer.lr and settings.trainer.epochs == expected.trainer.epochs
            assert settings.dataset.augment.crop_padding == 0 and not settings.dataset.augment.flip


def test_make_claims_runs_exactly_these_presets() -> None:
    """The Makefile's claims target loops over the one list (claims_presets.txt); every name there is a preset."""
    makefile = (CONF_DIR.parent.parent / "Makefile").read_text(encoding="utf-8")
    assert "CLAIMS_PRESETS := $(shell sed -e 's/\\#.*//' poolbench/conf/experiment/claims_presets.txt)" in makefile
    target = makefile.split("\nclaims:", 1)[1].split("\n\n", 1)[0]
    assert "for preset in $(CLAIMS_PRESETS)" in target and "experiment=$$preset" in target
    assert CLAIMS_PRESETS[0] == "claims" and len(set(CLAIMS_PRESETS)) == len(CLAIMS_PRESETS) >= 4
    assert all((CONF_DIR / "experiment" / f"{preset}.yaml").is_file() for preset in CLAIMS_PRESETS)


def test_time_to_verdict_covers_every_claims_preset() -> None:
    """One short run per cell of every preset, and the cells' runs add up to the whole grid."""
    from poolbench.bench.time_to_verdict import grid_cells

    cells = grid_cells(CONF_DIR)
    assert {label.split("/", 1)[0] for label, _, _ in cells} == set(CLAIMS_PRESETS)
    total = sum(len(list(itertools.product(*params(preset).values()))) for preset in CLAIMS_PRESETS)
    assert sum(runs for _, _, runs in cells) == total
