"""The robustness presets (conf/experiment/claims_robust*.yaml) compose into valid runs that each move one factor
of the reference cell (or the width x depth pair), write to run dirs of their own under results/claims_robust/,
and never repeat a run of the claims grid."""

from __future__ import annotations

import itertools

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import OmegaConf

from poolbench.config.presets import claims_presets
from poolbench.config.settings import Settings
from tests.conftest import CONF_DIR, compose_settings

ROBUST_PRESETS = tuple(p for p in claims_presets() if p.startswith("claims_robust"))  # make claims runs them


def sweep(preset: str) -> list[list[str]]:
    """Every run's overrides (the sweep's product, as Hydra expands it: a bracketed list is one value)."""
    swept = OmegaConf.load(CONF_DIR / "experiment" / f"{preset}.yaml").hydra.sweeper.params
    parsed = OverridesParser.create().parse_overrides([f"{key}={value}" for key, value in swept.items()])
    axes = [[f"{str(o.input_line).split('=', 1)[0]}={show(v)}" for v in values(o)] for o in parsed]
    return [list(combo) for combo in itertools.product(*axes)]


def values(override: Override) -> list[object]:
    return list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]


def show(value: object) -> str:
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def reference() -> dict[str, object]:
    """The factors' values in the reference cell (claims preset, fmnist_small, depth 1)."""
    return factors(compose_settings(["experiment=claims", "claims_cell=fmnist_small"]))


def factors(settings: Settings) -> dict[str, object]:
    return {
        "widths": tuple(settings.backbone["widths"]),
        "depth": settings.backbone["depth"],
        "train_samples": settings.dataset.train_samples,
        "weight_decay": settings.trainer.weight_decay,
        "crop": settings.dataset.augment.crop_padding,
        "label_noise": settings.dataset.label_noise or 0.0,
        "epochs": settings.trainer.epochs,
    }


@pytest.mark.parametrize("preset", ROBUST_PRESETS)
def test_every_run_validates_and_moves_one_factor_or_the_width_depth_pair(preset: str) -> None:
    base = reference()
    for overrides in (run for run in sweep(preset) if "seed=0" in run):
        settings = compose_settings([f"experiment={preset}", *overrides])
        assert settings.name == "claims_robust" and settings.dataset.redraw_per_seed
        assert settings.head["name"] in ("gap", "flatten", "flatten_dropout")
        moved = {key for key, value in factors(settings).items() if value != base[key]}
        assert moved, f"{preset} {overrides} repeats the reference cell (results/claims/ has it)"
        size_cell = moved <= {"train_samples", "epochs"} and settings.dataset.train_samples == 10000
        assert len(moved) == 1 or moved == {"widths", "depth"} or size_cell, (preset, overrides, moved)


def test_seeds_per_specification_at_least_three() -> None:
    for preset in ROBUST_PRESETS:
        seeds = {o for run in sweep(preset) for o in run if o.startswith("seed=")}
        assert len(seeds) >= 3, preset


def test_make_claims_runs_every_robustness_preset_into_results_claims_robust() -> None:
    """claims_presets.txt lists each claims_robust*.yaml but the full factorial (the run dirs: test_claims_grid)."""
    files = {path.stem for path in (CONF_DIR / "experiment").glob("claims_robust*.yaml")}
    assert set(ROBUST_PRESETS) == files and len(ROBUST_PRESETS) == 6
    assert {compose_settings([f"experiment={preset}"]).name for preset in ROBUST_PRESETS} == {"claims_robust"}


def test_the_full_factorial_crosses_every_factor() -> None:
    runs = sweep("claims_full_robust")
    assert len(runs) == 2 * 2 * 3 * 3 * 2 * 2 * 2 * 3 * 5
    settings = compose_settings(["experiment=claims_full_robust", *runs[-1]])
    assert settings.name == "claims_full_robust" and settings.dataset.label_noise == 0.2


def test_every_specification_of_the_plan_is_one_configuration_make_claims_runs() -> None:
    """The plan's robustness map re-pins its base cell; in each specification (a metric level aside, which
    reads the reference's runs) that cell is one configuration of the runs make claims writes to results/claims/
    and results/claims_robust/, with the plan's minimum of seeds for every head the base cell declares."""
    from poolbench.report.claims.plan_load import load_plan
    from poolbench.report.claims.specifications import specification_plan
    from poolbench.report.variants import ABSENT  # a key a run's config leaves unset (label noise)
    from tests.test_claims_plan import grid_runs

    plan = load_plan()
    robustness = plan.robustness
    assert robustness is not None
    runs = grid_runs(("claims", "claims_robust"))
    for spec in robustness.specifications():
        cell = specification_plan(plan, robustness, spec).cell(robustness.base)
        pins = {k: ("fashion_mnist" if v == "$real" else v) for k, v in cell.pins.items()}
        hits = [(c, h, s) for c, h, s in runs if all(c.get(k, ABSENT) == v for k, v in pins.items())]
        configs = {tuple(sorted((k, v) for k, v in c.items() if k != "seed")) for c, _, _ in hits}
        assert len(configs) == 1, f"{spec.name}: {len(configs)} configurations match"
        for head in ("gap", "flatten"):  # the heads the base cell's primaries compare
            assert len({s for _, h, s in hits if h == head}) >= robustness.min_seeds, (spec.name, head)
