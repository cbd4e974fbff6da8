"""The probe tasks: each label follows its task's rule, the same seed gives the same images, classes are balanced,
and the config check rejects a task its canvas cannot hold."""

from __future__ import annotations

import pytest
import torch

from poolbench.data.load import forget_loaded, load_raw
from poolbench.data.probes import (
    BACKGROUND,
    CONTRAST,
    ProbeSpec,
    make_probe,
    motif_bank,
    rule_labels,
)
from poolbench.errors import ConfigError
from tests.conftest import compose_settings

BANK_SEED = 7
SPECS = {
    "presence": ProbeSpec(task="presence", num_classes=4, channels=1, image_size=28, motif_size=5, distractors=6),
    "density": ProbeSpec(task="density", num_classes=2, channels=1, image_size=28, motif_size=5, distractors=2),
    "position": ProbeSpec(task="position", num_classes=4, channels=1, image_size=28, motif_size=5, distractors=3),
}


def hand_built(spec: ProbeSpec, placements: list[tuple[int, int, int]]) -> torch.Tensor:
    """One noise-free uint8 image with motif kind k pasted at (top, left) for each (k, top, left)."""
    bank = motif_bank(spec.kinds, spec.motif_size, BANK_SEED)
    canvas = torch.zeros(spec.image_size, spec.image_size)
    size = spec.motif_size
    for kind, top, left in placements:
        canvas[top : top + size, left : left + size] += bank[kind]
    pixels = BACKGROUND + CONTRAST * canvas
    return (pixels.clamp(0, 1) * 255).round().to(torch.uint8).view(1, 1, spec.image_size, spec.image_size)


CORNERS = [(0, 0), (0, 7), (0, 14), (0, 21), (7, 0), (7, 7), (7, 14), (7, 21), (14, 0), (14, 7), (14, 14), (21, 21)]


@pytest.mark.parametrize("label", range(4))
def test_presence_label_is_the_class_motif_that_occurs(label: int) -> None:
    spec = SPECS["presence"]
    distractors = [(4 + i % 4, *CORNERS[i + 1]) for i in range(6)]  # kinds 4..7 are the distractor kinds
    image = hand_built(spec, [(label, *CORNERS[0]), *distractors])
    assert rule_labels(image, spec, BANK_SEED).tolist() == [label]


@pytest.mark.parametrize(("count_a", "count_b", "label"), [(6, 4, 0), (7, 5, 0), (4, 6, 1), (5, 7, 1)])
def test_density_label_is_the_more_frequent_kind(count_a: int, count_b: int, label: int) -> None:
    spec = SPECS["density"]
    kinds = [0] * count_a + [1] * count_b
    image = hand_built(spec, [(kind, *CORNERS[i]) for i, kind in enumerate(kinds)])
    assert rule_labels(image, spec, BANK_SEED).tolist() == [label]


@pytest.mark.parametrize(("top", "left", "label"), [(1, 2, 0), (3, 20, 1), (22, 0, 2), (15, 15, 3)])
def test_position_label_is_the_quadrant_of_the_target(top: int, left: int, label: int) -> None:
    spec = SPECS["position"]
    distractor_spot = (21, 21) if label != 3 else (0, 0)
    image = hand_built(spec, [(0, top, left), (1, *distractor_spot)])
    assert rule_labels(image, spec, BANK_SEED).tolist() == [label]


@pytest.mark.parametrize("task", sorted(SPECS))
def test_generated_labels_follow_the_rule(task: str) -> None:
    """Noise-free generated images, read back by the rule, give the labels the generator assigned."""
    spec = SPECS[task]
    images, labels = make_probe(spec, 600, seed=3, bank_seed=BANK_SEED)
    assert torch.equal(rule_labels(images, spec, BANK_SEED), labels)


@pytest.mark.parametrize("task", sorted(SPECS))
def test_same_seed_same_images_and_balanced_classes(task: str) -> None:
    spec = ProbeSpec(**{**SPECS[task].__dict__, "noise": 0.3, "channels": 3})
    images, labels = make_probe(spec, 1000, seed=11, bank_seed=BANK_SEED)
    again, again_labels = make_probe(spec, 1000, seed=11, bank_seed=BANK_SEED)
    other, _ = make_probe(spec, 1000, seed=12, bank_seed=BANK_SEED)
    assert images.dtype == torch.uint8 and images.shape == (1000, 3, 28, 28)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    assert not torch.equal(images, other)
    counts = torch.bincount(labels, minlength=spec.num_classes)
    assert counts.max() - counts.min() <= 1


def test_motifs_are_distinct_and_equally_bright() -> None:
    """Equal lit-pixel counts: an image's mean brightness cannot tell the class (density, presence)."""
    bank = motif_bank(8, 5, BANK_SEED)
    lit = bank.flatten(1).sum(1)
    assert torch.all(lit == lit[0])
    assert len({tuple(m.flatten().tolist()) for m in bank}) == 8


def test_probe_loads_through_the_data_path(tmp_path) -> None:
    settings = compose_settings(["dataset=probe_density", "dataset.train_size=300", "dataset.test_size=100"])
    forget_loaded()
    raw = load_raw(settings.dataset, tmp_path)
    assert raw.train_x.shape == (300, 1, 28, 28) and raw.test_x.shape == (100, 1, 28, 28)
    assert raw.train_x.dtype == torch.uint8 and set(raw.train_y.tolist()) == {0, 1}
    assert not torch.equal(raw.train_x[:100], raw.test_x)  # train and test come from different streams


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["dataset=probe_position", "dataset.num_classes=3"], "dataset.num_classes"),
        (["dataset=probe_presence", "dataset.distractors=20"], "dataset.motif_size"),
        (["dataset=probe_position", "dataset.motif_size=7"], "dataset.motif_size"),  # 28 px: an odd 3x3 grid
        (["dataset=probe_density", "dataset.majority=[4,5]"], "dataset.majority/minority"),
        (["dataset=probe_density", "dataset.task=shape"], "dataset.task"),
    ],
)
def test_config_check_names_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compose_settings(overrides)
    assert caught.value.key == key
