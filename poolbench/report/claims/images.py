"""The test images inside a claims row's CI: each run's per-image predictions (``predictions.npz``, read once
per run by ``PredictionStore``) turned into the per-image form of the row's metric (``metric_parts``), checked
against the run's result.json, and the row's seed-only estimate widened by the image term
(``poolbench.report.image_ci``). A row is decided on "seeds+images" when every run behind it has predictions
that agree with its record and its metric has a per-image form; otherwise on the seed-only t interval, "seeds
(t)", with the reason.

Per-image forms (N test images, the same ``test_index`` in every run of a cell): ``test_acc`` = mean of
[pred == label]; ``test_loss`` = mean of the per-image cross-entropy; ``shift_acc_k`` = mean of
[shift_pred_k == label]; ``shift_consistency_k`` = mean of [shift_pred_k == pred]; ``overfit_acc`` = train_acc -
test_acc and ``overfit_loss`` = test_loss - train_loss, with ``train_acc`` and ``train_loss`` fixed per run (the
training images are not the test images' sample); a ``minus`` column is subtracted image by image. Any other
metric (``size_acc_*``, the circular shift) has no stored per-image values: seeds (t).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from poolbench.errors import RecordError
from poolbench.record import PREDICTIONS_FILE, read_predictions
from poolbench.report.claims.cells import Cell, number
from poolbench.report.claims.plan import RELATIVE, EndpointSpec
from poolbench.report.decide import Estimate
from poolbench.report.image_ci import (
    SEEDS_AND_IMAGES,
    SEEDS_ONLY,
    CellImages,
    bootstrap_interval,
    image_variance,
    with_images,
)

FIXED_PER_RUN = ("train_acc", "train_loss")  # no test-image noise: a constant of the run
ACCURACY_TOLERANCE = 1e-6  # result.json against the mean of the stored predictions
FLOAT16_ROUNDING = 2.0**-11  # relative rounding of a float16 per-image loss: the loss tolerance per unit of loss


class PredictionStore:
    """Every run's predictions, read at most once per report (name -> array, or None: the run has none)."""

    def __init__(self) -> None:
        self._arrays: dict[str, dict[str, Any] | None] = {}
        self.problems: dict[str, str] = {}  # run dir -> why its predictions.npz could not be read

    def get(self, run_dir: object) -> dict[str, Any] | None:
        if not isinstance(run_dir, str) or not run_dir:
            return None
        if run_dir not in self._arrays:
            try:
                self._arrays[run_dir] = read_predictions(Path(run_dir))
            except RecordError as error:
                self.problems[run_dir] = str(error)
                self._arrays[run_dir] = None
        return self._arrays[run_dir]


@dataclass(frozen=True)
class Parts:
    """A run's metric as ``constant + mean(images)``; ``tolerance``: how far that may lie from result.json."""

    constant: float
    images: np.ndarray
    tolerance: float

    def minus(self, other: Parts) -> Parts:
        return Parts(self.constant - other.constant, self.images - other.images, self.tolerance + other.tolerance)

    @property
    def value(self) -> float:
        return self.constant + float(self.images.mean())


def metric_parts(metric: str, run: pd.Series, arrays: dict[str, Any]) -> Parts | None:
    """The per-image form of one metric of one run (the module docstring's table); None: it has none."""
    label, pred = np.asarray(arrays["test_label"]), np.asarray(arrays["test_pred"])
    correct = (pred == label).astype(float)
    loss = np.asarray(arrays["test_loss"], dtype=float)
    loss_tolerance = FLOAT16_ROUNDING * float(np.abs(loss).mean()) + ACCURACY_TOLERANCE
    if metric == "test_acc":
        return Parts(0.0, correct, ACCURACY_TOLERANCE)
    if metric == "test_loss":
        return Parts(0.0, loss, loss_tolerance)
    if metric == "overfit_acc":
        return Parts(number(run.get("train_acc")), -correct, ACCURACY_TOLERANCE)
    if metric == "overfit_loss":
        return Parts(-number(run.get("train_loss")), loss, loss_tolerance)
    if metric in FIXED_PER_RUN:
        return Parts(number(run.get(metric)), np.zeros(len(label)), 0.0)
    for prefix, compared in (("shift_acc_", label), ("shift_consistency_", pred)):
        if metric.startswith(prefix):
            shifted = arrays.get(f"shift_pred_{metric.removeprefix(prefix)}")
            return None if shifted is None else Parts(0.0, (np.asarray(shifted) == compared).astype(float), 1e-6)
    return None


def spec_parts(spec: EndpointSpec, run: pd.Series, arrays: dict[str, Any]) -> Parts | None:
    """The row's per-run value (``metric`` minus ``minus``) in per-image form; None unless both have one and
    something in it depends on the test images."""
    parts = metric_parts(spec.metric, run, arrays)
    if parts is not None and spec.minus:
        other = metric_parts(spec.minus, run, arrays)
        parts = None if other is None else parts.minus(other)
    fixed = spec.metric in FIXED_PER_RUN and (not spec.minus or spec.minus in FIXED_PER_RUN)
    return None if fixed else parts


def run_value(spec: EndpointSpec, run: pd.Series) -> float:
    """The per-run value result.json gives (as ``poolbench.report.claims.rows.per_run``)."""
    base = number(run.get(spec.metric))
    return base - number(run.get(spec.minus)) if spec.minus else base


@dataclass(frozen=True)
class CellPart:
    images: CellImages
    test_index: np.ndarray
    test_label: np.ndarray


def runs_by_seed(cell: Cell, head: str) -> pd.DataFrame:
    """The head's runs by seed; with the same seed twice the last one, as ``Cell.by_seed`` keeps."""
    rows = cell.runs[cell.runs["head"] == head]
    return rows.assign(seed=rows["seed"].astype(int)).drop_duplicates("seed", keep="last").set_index("seed")


def run_parts(spec: EndpointSpec, run: pd.Series, store: PredictionStore) -> tuple[Parts, dict[str, Any]] | str:
    """One run's per-image value, checked against its result.json, with its arrays; or why it has none."""
    where = str(run.get("run_dir"))
    arrays = store.get(run.get("run_dir"))
    if arrays is None:
        return store.problems.get(where, f"no {PREDICTIONS_FILE}: {where}")
    parts = spec_parts(spec, run, arrays)
    if parts is None:
        return f"{spec.metric}{' - ' + spec.minus if spec.minus else ''} has no per-image form"
    expected = run_value(spec, run)
    if not abs(parts.value - expected) <= parts.tolerance:
        return f"predictions disagree with result.json: {where} ({parts.value:.8g} vs {expected:.8g})"
    return parts, arrays


def cell_part(cell: Cell, spec: EndpointSpec, head: str, store: PredictionStore) -> CellPart | str:
    """One cell's per-seed and per-image effect (head minus against, or the head alone), or why it has none."""
    heads = [head] if spec.against is None else [head, spec.against]
    frames = [runs_by_seed(cell, h) for h in heads]
    seeds = sorted(set.intersection(*(set(f.index) for f in frames)))
    seeds = [s for s in seeds if all(math.isfinite(run_value(spec, f.loc[s])) for f in frames)]
    if len(seeds) < 2:
        return "fewer than 2 seeds"
    constants, rows, images = [], [], []
    for seed in seeds:
        per_head = []
        for frame in frames:
            found = run_parts(spec, frame.loc[seed], store)
            if isinstance(found, str):
                return found
            per_head.append(found[0])
            images.append((np.asarray(found[1]["test_index"]), np.asarray(found[1]["test_label"])))
            if not all(np.array_equal(a, b) for a, b in zip(images[0], images[-1])):
                return f"test images differ between the runs of {cell.label}: {frame.loc[seed].get('run_dir')}"
        total = per_head[0] if len(per_head) == 1 else per_head[0].minus(per_head[1])
        constants.append(total.constant)
        rows.append(total.images)
    return CellPart(CellImages(np.asarray(constants), np.vstack(rows)), *images[0])


@dataclass(frozen=True)
class ImageResult:
    """A row's two intervals: ``seeds`` (seed-only t) and ``estimate`` (the one that decides: seeds+images where
    ``interval`` says so, else the seed-only one again, with the ``reason``)."""

    seeds: Estimate
    estimate: Estimate
    interval: str
    reason: str = ""
    variance_images: float = math.nan
    n_images: int = 0
    bootstrap: tuple[float, float] = (math.nan, math.nan)

    @property
    def warning(self) -> str:
        """What the row's note must say: a run whose predictions disagree with its record."""
        return self.reason if self.reason.startswith("predictions disagree") else ""


def same_images(cells: Sequence[Cell], parts: Sequence[CellPart]) -> bool:
    """Do two cells share their test images (one dataset and task, the same indices and labels)?"""
    first, second = cells
    return (
        str(first.values[0]) == str(second.values[0])
        and first.task == second.task
        and np.array_equal(parts[0].test_index, parts[1].test_index)
        and np.array_equal(parts[0].test_label, parts[1].test_label)
    )


def images_for(
    spec: EndpointSpec, head: str, cells: Sequence[Cell], estimate: Estimate, store: PredictionStore
) -> ImageResult | None:
    """The row's seeds+images estimate where every run behind it allows one; None for an exact quantity."""
    if estimate.exact:
        return None
    if not estimate.measured or not math.isfinite(estimate.se):
        return ImageResult(estimate, estimate, SEEDS_ONLY, "fewer than 2 seeds")
    if spec.effect == RELATIVE:
        return ImageResult(estimate, estimate, SEEDS_ONLY, "a relative effect")
    parts = []
    for sign, cell in zip((1.0, -1.0), cells):
        part = cell_part(cell, spec, head, store)
        if isinstance(part, str):
            return ImageResult(estimate, estimate, SEEDS_ONLY, part)
        parts.append(replace(part, images=replace(part.images, sign=sign)))
    shared = len(cells) == 1 or same_images(cells, parts)
    pieces = [part.images for part in parts]
    variance = image_variance(pieces, shared)
    if not math.isfinite(variance):
        return ImageResult(estimate, estimate, SEEDS_ONLY, "fewer than 2 test images")
    return ImageResult(
        estimate,
        with_images(estimate, variance),
        SEEDS_AND_IMAGES,
        variance_images=variance,
        n_images=int(pieces[0].images.shape[1]),
        bootstrap=bootstrap_interval(pieces, shared),
    )
