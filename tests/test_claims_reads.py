"""Evaluation economy (docs/performance.md): every run of `make claims` takes the test passes the analysis plan
reads in its cell, and no other. A translation test (per shift and fill) or an input-size test costs one pass over
the test images each, as much as a tenth of a probe run's training; a cell that dropped one the plan reads would
leave an endpoint "not measured" in the committed reference, found only after a 40-minute run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from poolbench.config.presets import claims_presets, sweep_axes
from poolbench.config.run_folder import flatten
from poolbench.config.settings import Settings
from poolbench.report.claims.plan import REAL, EndpointSpec
from poolbench.report.claims.plan_load import load_plan
from tests.conftest import CONF_DIR, compose_settings

PLAN = load_plan()
ROBUST = {"claims_robust"}  # the `name` (results folder) of the robustness map's presets


def passes_of(settings: Settings) -> set[str]:
    """The extra test passes a run with these settings takes: one per shift and fill, one per input size."""
    dataset = settings.dataset
    shifts = {f"{fill} shift {pixels}" for pixels in dataset.eval_shifts for fill in dataset.shift_fills}
    return shifts | {f"size {size}" for size in settings.deploy.eval_sizes}


def pass_of(metric: str) -> str | None:
    """The test pass a metric comes from (None: the plain test pass or training)."""
    for prefix, fill in (("shift_circular_acc_", "circular"), ("shift_circular_consistency_", "circular")):
        if metric.startswith(prefix):
            return f"{fill} shift {metric.removeprefix(prefix)}"
    for prefix in ("shift_acc_", "shift_consistency_"):
        if metric.startswith(prefix):
            return f"zero shift {metric.removeprefix(prefix)}"
    return f"size {metric.removeprefix('size_acc_')}" if metric.startswith("size_acc_") else None


def read_metrics(endpoint: EndpointSpec) -> set[str]:
    return {m for m in (endpoint.metric, endpoint.minus) if m and pass_of(m)}


def plan_reads() -> dict[str, set[str]]:
    """Per declared cell, the keyed metrics a primary or secondary endpoint reads there (the map's metric swaps
    on its base cell included)."""
    reads: dict[str, set[str]] = {cell.name: set() for cell in PLAN.cells}
    for claim in PLAN.claims:
        for endpoint in (*claim.primary, *claim.secondary):
            for cell in (*endpoint.cells, *([endpoint.versus] if endpoint.versus else [])):
                reads[cell] |= read_metrics(endpoint)
    assert PLAN.robustness is not None
    base = PLAN.robustness.base
    for factor in PLAN.robustness.factors:
        for level in factor.levels:
            reads[base] |= {level.metrics.get(m, m) for m in reads[base] if m in level.metrics}
    return reads


def base_primary_reads() -> set[str]:
    """What every specification of the map re-decides on its moved base cell: the base cell's primaries."""
    assert PLAN.robustness is not None
    base = PLAN.robustness.base
    return {m for claim in PLAN.claims for e in claim.primary if base in e.cells for m in read_metrics(e)}


def pinned(settings: Settings, pins: dict[str, str]) -> bool:
    flat = flatten(dict(settings.resolved))
    for key, pin in pins.items():
        if key == "dataset":
            value, pin = settings.dataset.name, "fashion_mnist" if pin == REAL else pin
        elif key == "backbone":
            value = settings.backbone["name"]
        else:
            value = flat.get(key)
        if str(value) != pin:
            return False
    return True


def make_claims_settings() -> Iterator[tuple[str, Settings]]:
    """One composed setting per preset of `make claims` and value of its swept keys (heads and seeds aside)."""
    for preset in claims_presets():
        axes = sweep_axes(preset, CONF_DIR)
        fixed = [key for key in axes if key not in ("head", "seed")]
        for values in itertools.product(*(axes[key] for key in fixed)):
            overrides = [f"{key}={value}" for key, value in zip(fixed, values)]
            yield f"{preset} {' '.join(overrides)}", compose_settings([f"experiment={preset}", *overrides])


SETTINGS = list(make_claims_settings())


def test_every_declared_cell_is_run_by_make_claims() -> None:
    for cell in PLAN.cells:
        assert any(pinned(settings, dict(cell.pins)) for _, settings in SETTINGS), cell.name


@pytest.mark.parametrize("label,settings", SETTINGS, ids=[label for label, _ in SETTINGS])
def test_a_run_records_what_the_plan_reads_in_its_cell_and_no_more(label: str, settings: Settings) -> None:
    """A grid run: exactly the test passes its declared cell's endpoints read. A run of the map: the base
    cell's primaries (what each specification re-decides), nothing else."""
    taken = passes_of(settings)
    if settings.name in ROBUST:
        assert taken == {pass_of(m) for m in base_primary_reads()}, label
        return
    cells = [cell.name for cell in PLAN.cells if pinned(settings, dict(cell.pins))]
    assert len(cells) == 1, f"{label}: matches the declared cells {cells}"
    assert taken == {pass_of(m) for m in plan_reads()[cells[0]]}, label
