"""dataset.redraw_per_seed: each seed trains on its own draw of the data (split, subset, probe train images) while
the test split stays the same; off (the default), the data do not depend on the seed."""

from __future__ import annotations

import pytest
import torch

from poolbench.data.draws import derived_seed, draw_for
from poolbench.data.load import forget_loaded
from poolbench.data.splits import DataBundle, prepare_data
from poolbench.record import compute_run_key
from tests.conftest import compose_settings

PROBE = ["dataset=probe_presence", "dataset.train_size=200", "dataset.test_size=60"]
SYNTHETIC = ["dataset=synthetic", "dataset.train_size=300", "dataset.test_size=50", "dataset.train_samples=100"]
REDRAW = "+dataset.redraw_per_seed=true"


def data(overrides: list[str], seed: int) -> DataBundle:
    forget_loaded()
    return prepare_data(compose_settings([*overrides, f"seed={seed}"]).dataset, "unused", torch.device("cpu"), seed)


def same(first: DataBundle, second: DataBundle, split: str) -> bool:
    a, b = getattr(first, split), getattr(second, split)
    return torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


@pytest.mark.parametrize("overrides", [PROBE, SYNTHETIC], ids=["probe", "subset"])
def test_off_every_seed_trains_on_the_same_data(overrides: list[str]) -> None:
    first, second = data(overrides, 0), data(overrides, 1)
    assert same(first, second, "train") and same(first, second, "val") and same(first, second, "test")


@pytest.mark.parametrize("overrides", [PROBE, SYNTHETIC], ids=["probe", "subset"])
def test_on_each_seed_draws_its_own_training_data_and_the_test_split_stays(overrides: list[str]) -> None:
    first, second, again = data([*overrides, REDRAW], 0), data([*overrides, REDRAW], 1), data([*overrides, REDRAW], 0)
    assert not same(first, second, "train") and not same(first, second, "val")
    assert same(first, second, "test")  # every seed is scored on the same images
    assert same(first, again, "train") and same(first, again, "val")  # a seed's draw is reproducible
    assert len(first.train) == len(second.train) and len(first.val) == len(second.val)


def test_probe_redraw_keeps_the_task_and_its_test_images() -> None:
    """The redrawn probe images are new draws of the same task: balanced labels, no image shared with test."""
    drawn = data([*PROBE, REDRAW], 3)
    default = data(PROBE, 3)
    assert same(drawn, default, "test")
    labels = torch.cat([drawn.train.y, drawn.val.y])
    assert torch.bincount(labels).tolist() == [50, 50, 50, 50]
    train_images = {bytes(image.numpy()) for image in drawn.train.x}
    assert not train_images & {bytes(image.numpy()) for image in drawn.test.x}


def test_derived_seeds_differ_by_seed_by_base_and_from_the_default_streams() -> None:
    settings = compose_settings([*PROBE, REDRAW])
    draws = [draw_for(settings.dataset, seed) for seed in range(20)]
    assert len({d.split_seed for d in draws}) == 20 and len({d.probe_stream for d in draws}) == 20
    held_out = compose_settings([*PROBE, REDRAW, "dataset.generator_seed=1000"]).dataset
    assert not {draw_for(held_out, s).probe_stream for s in range(20)} & {d.probe_stream for d in draws}
    assert not {d.probe_stream for d in draws} & {1, 2, 3 * 1000 + 1, 3 * 1000 + 2}  # the fixed streams
    assert derived_seed("split", 0, 1) != derived_seed("probe-train", 0, 1) and derived_seed("x", 1) < 2**63
    assert draw_for(compose_settings(PROBE).dataset, 7).split_seed == 0  # off: the configured split seed


def test_the_option_is_part_of_the_run_key() -> None:
    assert compute_run_key(compose_settings(PROBE).resolved) != compute_run_key(
        compose_settings([*PROBE, REDRAW]).resolved
    )
