"""The claims presets compose into valid, distinct runs: every cell a preset sweeps exists and validates, the probe
cells never flip or crop (that would move a motif to another quadrant), and the two position cells differ in
their padding alone."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from poolbench.record import compute_run_key
from poolbench.sweep.rundir import variant_suffix
from tests.conftest import CONF_DIR, compose_settings

PRESETS = ("claims", "claims_deep", "claims_full")


def swept(preset: str, key: str) -> list[str]:
    """The values a preset's own file sweeps ``key`` over (each preset lists all of its sweep keys)."""
    params = OmegaConf.load(CONF_DIR / "experiment" / f"{preset}.yaml").hydra.sweeper.params
    return [value.strip() for value in str(params[key]).split(",")]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_swept_cell_exists_and_validates(preset: str) -> None:
    cells = swept(preset, "claims_cell")
    assert set(cells) <= {path.stem for path in (CONF_DIR / "claims_cell").glob("*.yaml")}
    keys = set()
    for cell in cells:
        settings = compose_settings([f"experiment={preset}", f"claims_cell={cell}"])
        keys.add(compute_run_key(settings.resolved))
        if settings.dataset.kind == "probe":
            assert settings.dataset.augment.crop_padding == 0 and not settings.dataset.augment.flip
    assert len(keys) == len(cells)


def test_the_grid_covers_every_claim() -> None:
    """Heads gap, gmp, gem and flatten; 3+ seeds; two training-set sizes; the three probe tasks; two depths."""
    assert {"gap", "gmp", "gem", "flatten"} <= set(swept("claims", "head"))
    assert len(swept("claims", "seed")) >= 3
    datasets = {
        cell: compose_settings(["experiment=claims", f"claims_cell={cell}"]).dataset
        for cell in swept("claims", "claims_cell")
    }
    sizes = {d.train_samples for d in datasets.values() if d.kind == "fashion_mnist"}
    assert len(sizes) >= 2
    assert {d.task for d in datasets.values() if d.kind == "probe"} == {"presence", "density", "position"}
    depths = {
        compose_settings(["experiment=claims"]).backbone["depth"],
        *map(int, swept("claims_deep", "backbone.depth")),
    }
    assert depths == {1, 2}


def test_position_cells_differ_only_in_padding() -> None:
    circular = compose_settings(["experiment=claims", "claims_cell=position"])
    zeros = compose_settings(["experiment=claims", "claims_cell=position_zeros"])
    assert circular.backbone["padding_mode"] == "circular" and zeros.backbone["padding_mode"] == "zeros"
    assert circular.dataset == zeros.dataset and circular.trainer == zeros.trainer


def test_presets_write_to_run_dirs_of_their_own() -> None:
    """claims and claims_deep share results/claims/: the depth must be an override (it names the run dir), or
    a depth-2 run would land in the depth-1 run's folder and be refused."""

    def suffixes(preset: str) -> set[str]:
        params = OmegaConf.load(CONF_DIR / "experiment" / f"{preset}.yaml").hydra.sweeper.params
        fixed = [f"{key}={value}" for key, value in params.items() if key not in ("claims_cell", "head", "seed")]
        return {variant_suffix([f"claims_cell={cell}", *fixed]) for cell in swept(preset, "claims_cell")}

    assert not suffixes("claims") & suffixes("claims_deep")
