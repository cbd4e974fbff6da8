"""Probe tasks: procedural images whose label is a known function of where and how often small motifs occur,
so theory predicts which pooling head should win.

- ``presence``: class k means motif k occurs exactly once, anywhere, among distractor motifs of other kinds.
  The telling feature is rare, so a max separates the classes better than an average (Boureau, Ponce & LeCun,
  ICML 2010).
- ``density``: many instances of two motif kinds A and B; the class is which kind is more frequent. A max
  saturates once one instance is present; an average counts.
- ``position``: one target motif; the class is its quadrant. A global pool discards position, flatten + dense
  keeps it (with zero padding a CNN can still infer absolute position from the border: Islam et al., ICLR 2020;
  ``backbone.padding_mode=circular`` removes that leak).

Every motif is a binary ``motif_size`` x ``motif_size`` pattern with the same number of lit pixels, so an image's
mean brightness carries no label. Pixels are ``BACKGROUND + CONTRAST * motif + noise``, clamped and stored as
uint8 like the real datasets. Generation is vectorised (one scatter per instance slot, never per pixel).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from poolbench.config.probe_layout import Layout
from poolbench.config.settings import DatasetSettings
from poolbench.data.raw import RawDataset

BACKGROUND, CONTRAST = 0.1, 0.8
LIT_FRACTION = 0.5  # share of a motif's pixels that are lit (the same count for every motif)


@dataclass(frozen=True)
class ProbeSpec:
    """What one probe task generates (the typed dataset settings, minus the split sizes and seeds)."""

    task: str
    num_classes: int
    channels: int
    image_size: int
    motif_size: int
    distractors: int = 0
    majority: tuple[int, int] = (6, 7)
    minority: tuple[int, int] = (4, 5)
    noise: float = 0.0

    @property
    def layout(self) -> Layout:
        return Layout(self.image_size, self.motif_size)

    @property
    def telling(self) -> int:
        """Motif kinds that decide the label: one per class (presence), A and B (density), the target (position)."""
        return {"presence": self.num_classes, "density": 2, "position": 1}[self.task]

    @property
    def kinds(self) -> int:
        """All motif kinds: the telling ones first (bank indices 0 ..), then the distractor kinds (at least 2)."""
        return self.telling + max(self.telling, 2)


def motif_bank(kinds: int, size: int, seed: int) -> torch.Tensor:
    """(kinds, size, size) distinct binary motifs, each with the same number of lit pixels."""
    generator = torch.Generator().manual_seed(int(seed))
    lit = max(1, round(LIT_FRACTION * size * size))
    bank: list[torch.Tensor] = []
    while len(bank) < kinds:
        pattern = torch.zeros(size * size)
        pattern[torch.randperm(size * size, generator=generator)[:lit]] = 1.0
        if all(not torch.equal(pattern, other) for other in bank):
            bank.append(pattern)
    return torch.stack(bank).view(kinds, size, size)


def balanced_labels(count: int, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """Labels with every class equally often (up to one), in a random order."""
    labels = torch.arange(count) % num_classes
    return labels[torch.randperm(count, generator=generator)]


def _distractor_ids(count: int, distractors: int, kinds: int, first: int, generator: torch.Generator) -> torch.Tensor:
    """(N, distractors) kinds drawn uniformly from the distractor kinds ``first`` .. ``kinds - 1``."""
    return torch.randint(first, kinds, (count, distractors), generator=generator)


def instance_motifs(labels: torch.Tensor, spec: ProbeSpec, generator: torch.Generator) -> torch.Tensor:
    """(N, I) motif kind of each instance, -1 where the instance is absent; instance 0 is the telling one
    (presence, position). The task's rule maps these to the labels."""
    count = len(labels)
    if spec.task == "density":
        major = torch.randint(spec.majority[0], spec.majority[1] + 1, (count, 1), generator=generator)
        minor = torch.randint(spec.minority[0], spec.minority[1] + 1, (count, 1), generator=generator)
        index = torch.arange(spec.majority[1] + spec.minority[1]).view(1, -1)
        label = labels.view(-1, 1)
        ids = torch.where(index < major, label, torch.where(index < major + minor, 1 - label, -1))
    else:
        ids = (labels if spec.task == "presence" else torch.zeros_like(labels)).view(-1, 1)
    extra = _distractor_ids(count, spec.distractors, spec.kinds, spec.telling, generator)
    return torch.cat([ids, extra], dim=1)


def instance_slots(labels: torch.Tensor, instances: int, spec: ProbeSpec, generator: torch.Generator) -> torch.Tensor:
    """(N, I) distinct slot of each instance (row-major in the grid). For ``position`` instance 0 lies in the
    quadrant its label names; otherwise slots are uniformly random."""
    layout = spec.layout
    scores = torch.rand(len(labels), layout.slots, generator=generator)
    if spec.task == "position":
        quadrant = torch.tensor([layout.quadrant_of(s // layout.grid, s % layout.grid) for s in range(layout.slots)])
        allowed = quadrant.view(1, -1) == labels.view(-1, 1)
        target = torch.where(allowed, scores, torch.full_like(scores, 2.0)).argmin(dim=1)
        scores[torch.arange(len(labels)), target] = -1.0  # sorts first: instance 0 takes it
    return scores.argsort(dim=1)[:, :instances]


def render(
    ids: torch.Tensor, slots: torch.Tensor, bank: torch.Tensor, spec: ProbeSpec, generator: torch.Generator
) -> torch.Tensor:
    """(N, H, W) float canvas in [0, 1] units, noise-free: each present instance pasted into its slot."""
    layout, size = spec.layout, spec.motif_size
    count, instances = ids.shape
    jitter = torch.randint(0, layout.slot - size + 1, (count, instances, 2), generator=generator)
    top = layout.offset + (slots // layout.grid) * layout.slot + jitter[..., 0]
    left = layout.offset + (slots % layout.grid) * layout.slot + jitter[..., 1]
    canvas = torch.zeros(count, spec.image_size * spec.image_size)
    steps = torch.arange(size)
    for instance in range(instances):
        rows = top[:, instance].view(-1, 1, 1) + steps.view(1, -1, 1)
        cols = left[:, instance].view(-1, 1, 1) + steps.view(1, 1, -1)
        index = (rows * spec.image_size + cols).view(count, -1)
        present = (ids[:, instance] >= 0).float().view(-1, 1, 1)
        pattern = bank[ids[:, instance].clamp(min=0)] * present
        canvas.scatter_add_(1, index, pattern.view(count, -1))
    return canvas.view(count, spec.image_size, spec.image_size)


def make_probe(spec: ProbeSpec, count: int, seed: int, bank_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` uint8 images (N, C, H, W) and balanced int64 labels of ``spec.task``; the same seeds give the
    same images. ``bank_seed`` fixes the motifs (shared by train and test), ``seed`` everything else."""
    generator = torch.Generator().manual_seed(int(seed))
    labels = balanced_labels(count, spec.num_classes, generator)
    ids = instance_motifs(labels, spec, generator)
    slots = instance_slots(labels, ids.shape[1], spec, generator)
    canvas = render(ids, slots, motif_bank(spec.kinds, spec.motif_size, bank_seed), spec, generator)
    images = BACKGROUND + CONTRAST * canvas.unsqueeze(1).expand(-1, spec.channels, -1, -1)
    if spec.noise > 0:
        images = images + spec.noise * torch.randn(images.shape, generator=generator)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels


def occurrences(images: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """(N, kinds, H', W') True where a motif's exact pattern sits (top-left corner) in noise-free images."""
    binary = (images[:, :1].float() / 255.0 > BACKGROUND + CONTRAST / 2).float()
    windows = F.unfold(binary, bank.shape[-1])  # (N, m*m, L)
    flat = bank.view(len(bank), -1, 1)
    matches = (windows.unsqueeze(1) == flat.unsqueeze(0)).all(dim=2)  # (N, kinds, L)
    side = images.shape[-1] - bank.shape[-1] + 1
    return matches.view(len(images), len(bank), side, side)


def rule_labels(images: torch.Tensor, spec: ProbeSpec, bank_seed: int) -> torch.Tensor:
    """The label each noise-free image earns by its task's rule, read off the pixels (tests, documentation):
    presence, the class motif that occurs; density, 0 if motif A outnumbers motif B else 1; position, the
    quadrant holding the target motif's centre."""
    bank = motif_bank(spec.kinds, spec.motif_size, bank_seed)
    found = occurrences(images, bank)
    if spec.task == "presence":
        return found[:, : spec.num_classes].flatten(2).sum(2).argmax(1)
    if spec.task == "density":
        counts = found[:, :2].flatten(2).sum(2)
        return (counts[:, 1] > counts[:, 0]).long()
    where = found[:, 0].flatten(1).float().argmax(1)
    side, half = found.shape[-1], (spec.image_size - 1) / 2
    centre_row = where // side + (spec.motif_size - 1) / 2
    centre_col = where % side + (spec.motif_size - 1) / 2
    return (2 * (centre_row > half) + (centre_col > half)).long()


def spec_of(dataset: DatasetSettings, noise: float | None = None) -> ProbeSpec:
    assert dataset.task and dataset.motif_size  # validated (poolbench.config.probe_layout.check_probe)
    return ProbeSpec(
        task=dataset.task,
        num_classes=dataset.num_classes,
        channels=dataset.channels,
        image_size=dataset.image_size,
        motif_size=dataset.motif_size,
        distractors=dataset.distractors or 0,
        majority=(int(dataset.majority[0]), int(dataset.majority[1])),
        minority=(int(dataset.minority[0]), int(dataset.minority[1])),
        noise=(dataset.noise or 0.0) if noise is None else noise,
    )


@functools.lru_cache(maxsize=4)
def test_split(spec: ProbeSpec, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images of generator seed ``seed``, made once per process: every seed's run of a cell (each with
    its own train draw) is scored on these, and 10k of them take seconds to generate. Callers never modify them
    (``prepare_data`` copies what it keeps)."""
    return make_probe(spec, count, seed=3 * seed + 2, bank_seed=seed)


def load_probe(dataset: DatasetSettings, train_stream: int | None = None) -> RawDataset:
    """Train and test splits of the configured probe task: motifs from ``generator_seed``, train and test images
    from two streams derived from it (the test split never shares an image stream with train). ``train_stream``
    (``dataset.redraw_per_seed``, see ``poolbench.data.draws``) draws the train images from that stream instead;
    the motifs and the test images stay those of ``generator_seed``."""
    assert dataset.train_size and dataset.test_size and dataset.generator_seed is not None  # validated
    spec, seed = spec_of(dataset), int(dataset.generator_seed)
    stream = 3 * seed + 1 if train_stream is None else int(train_stream)
    train_x, train_y = make_probe(spec, dataset.train_size, seed=stream, bank_seed=seed)
    test_x, test_y = test_split(spec, dataset.test_size, seed)
    drawn = "" if train_stream is None else f", train stream {stream}"
    return RawDataset(train_x, train_y, test_x, test_y, source=f"probe(task={spec.task}, seed={seed}{drawn})")
