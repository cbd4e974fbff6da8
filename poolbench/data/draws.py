"""Which draw of the training data a run trains on: fixed (the default), or one per seed.

By default the data do not depend on the run's seed: the validation carve-out and any training subset come from
``dataset.split_seed``, a probe task's images from ``dataset.generator_seed``. Seeds then change initialisation,
batch order and augmentation only, and a confidence interval over seeds leaves out the variance that comes from
which images a small training set happens to hold.

``dataset.redraw_per_seed=true`` makes every seed draw its own training data (the claims grid does):

- the validation carve-out and the training subset use a split seed derived from (``split_seed``, seed);
- a probe task's train (and validation) images come from an image stream derived from (``generator_seed``,
  seed); the motifs and the test images stay those of ``generator_seed``.

``dataset.label_noise`` (a fraction in [0, 1); ``poolbench.data.splits.noisy_labels``) moves exactly that
fraction of the TRAINING labels, rounded to whole images, each to one of the other classes chosen uniformly
(symmetric noise that never "flips" a label to itself): the seed's capacity to memorise noise, tested with labels
no image supports. Which images and which new classes follow the draw's split seed, so a seed's noise is
reproducible and, with ``redraw_per_seed``, its own. Validation labels stay clean: the validation split is the
user's view of the true task (model selection, the validation curve), and clean labels there keep its accuracy
comparable across noise levels. Test labels are always clean.

The test split never changes with the seed, so every seed is scored on the same images. Derived seeds are
hashes of the parts, so they never coincide with the default streams or with those of another generator seed
(``scripts/calibrate_probes.py`` calibrates on generator seeds the reference never uses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from poolbench.config.settings import DatasetSettings


def derived_seed(purpose: str, *parts: int) -> int:
    """A 63-bit seed for ``purpose`` from integer ``parts``; distinct parts give unrelated seeds."""
    text = ":".join(["poolbench", purpose, *(str(int(part)) for part in parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Draw:
    """The seeds one run's training data come from."""

    split_seed: int  # the validation carve-out and the training subset
    probe_stream: int | None = None  # a probe task's train images (None: the task's default stream)


def draw_for(dataset: DatasetSettings, seed: int) -> Draw:
    """The training data of run ``seed``: the configured ones, or (``redraw_per_seed``) a draw of its own."""
    if not dataset.redraw_per_seed:
        return Draw(split_seed=dataset.split_seed)
    stream = None
    if dataset.kind == "probe" and dataset.generator_seed is not None:
        stream = derived_seed("probe-train", dataset.generator_seed, seed)
    return Draw(split_seed=derived_seed("split", dataset.split_seed, seed), probe_stream=stream)
