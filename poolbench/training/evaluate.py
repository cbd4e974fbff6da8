"""Evaluation in eval mode: loss and accuracy over a split, the per-epoch row, the final metrics and the
translation test. Train metrics are measured here too (eval mode, on the train split), not averaged over the
noisy training batches, so the generalization gap is honest.

Every evaluation runs in the step's precision (``StepContext.autocast``): a run that trains in bf16 also
evaluates in bf16 (logits are cast to fp32 for the loss). After each epoch only the splits of
``trainer.curves`` are evaluated (the claims grid: the train curve alone); the final metrics cover the whole
train, val and test splits regardless, with one pass over the test images that also gives the per-image
predictions (predictions.npz) and the translation test's reference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from poolbench.data.batches import SHIFT_MODES, epoch_batches, shift_images
from poolbench.data.splits import DataBundle, ImageSplit, spread_sample
from poolbench.step import StepContext

SPLIT_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
CURVE_SEED = 0xC0FE  # the train curve's sample: the same images in every run on the same train split


@dataclass
class Scores:
    """One pass over a split, image by image, in the split's order and on its device: the predicted class
    (argmax of the logits) and the cross-entropy. The split's loss and accuracy are computed from these, so a
    run's stored per-image predictions agree with its recorded test accuracy exactly."""

    pred: torch.Tensor  # int64
    loss: torch.Tensor  # float32

    def summary(self, labels: torch.Tensor) -> tuple[float, float]:
        """(mean cross-entropy, accuracy); NaN for an empty split."""
        count = int(labels.numel())
        if count == 0:
            return float("nan"), float("nan")
        # float64 sums keep 60k-sample losses exact to print precision; MPS has no float64.
        sum_dtype = torch.float32 if self.loss.device.type == "mps" else torch.float64
        return float(self.loss.to(sum_dtype).sum()) / count, int((self.pred == labels).sum()) / count


@torch.inference_mode()
def score(model: nn.Module, split: ImageSplit, data: DataBundle, batch_size: int, ctx: StepContext) -> Scores:
    """Every image of ``split`` through ``model`` in eval mode, once: its predicted class and its loss."""
    was_training = model.training
    model.eval()
    preds, losses = [], []
    for images, labels in epoch_batches(split, batch_size, data.mean, data.std, memory_format=ctx.memory_format):
        with ctx.autocast():
            logits = model(images)
        losses.append(F.cross_entropy(logits.float(), labels, reduction="none"))
        preds.append(logits.argmax(1))
    model.train(was_training)
    if not preds:
        device = split.x.device
        return Scores(torch.empty(0, dtype=torch.int64, device=device), torch.empty(0, device=device))
    return Scores(torch.cat(preds), torch.cat(losses))


def evaluate(
    model: nn.Module, split: ImageSplit, data: DataBundle, batch_size: int, ctx: StepContext
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` in eval mode over a whole split."""
    return score(model, split, data, batch_size, ctx).summary(split.y)


@dataclass
class ShiftTest:
    """The translation test's results, keyed by shift in pixels (as text, JSON keys): accuracy and consistency
    (the share of test images whose predicted class is the one the unshifted image gets; Zhang, ICML 2019,
    "Making Convolutional Networks Shift-Invariant Again") with zero fill and with circular shifts.
    ``zero_pred``: the zero-fill predictions per shift (pixels -> class per test image), for predictions.npz."""

    acc: dict[str, float] = field(default_factory=dict)
    consistency: dict[str, float] = field(default_factory=dict)
    circular_acc: dict[str, float] = field(default_factory=dict)
    circular_consistency: dict[str, float] = field(default_factory=dict)
    zero_pred: dict[int, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class FinalTest:
    """The final metrics (loss and accuracy on the whole train, val and test splits) and the test split's
    per-image scores they were computed from (the translation test's reference and predictions.npz)."""

    metrics: dict[str, float]
    test: Scores


def agreement(first: torch.Tensor, second: torch.Tensor) -> float:
    """The share of positions where two equally long tensors agree (predictions vs labels or vs predictions)."""
    return int((first == second).sum()) / first.numel() if first.numel() else float("nan")


def train_subset(split: ImageSplit, size: int) -> ImageSplit:
    """A fixed sample of the train split for a cheap per-epoch train curve: seeded, random and stratified by
    class (``spread_sample``), as the first images would be one class where the data is stored in class order."""
    if size >= len(split):
        return split
    picked = spread_sample(split.y, size, CURVE_SEED).to(split.y.device)
    return ImageSplit(split.x[picked], split.y[picked])


@dataclass
class Evaluator:
    """Evaluates one model on one dataset; ``curve`` is the train subset of the per-epoch train curve;
    ``splits`` are the splits evaluated after every epoch (``trainer.curves``)."""

    model: nn.Module
    data: DataBundle
    batch_size: int
    ctx: StepContext
    curve: ImageSplit
    splits: tuple[str, ...] = ("train", "val", "test")
    # The test split's scores from the latest epoch row (a test curve), reused by ``final`` for the same weights.
    last_test: Scores | None = field(default=None, init=False, repr=False)

    def scores(self, split: ImageSplit) -> Scores:
        return score(self.model, split, self.data, self.batch_size, self.ctx)

    def on(self, split: ImageSplit) -> tuple[float, float]:
        return self.scores(split).summary(split.y)

    def epoch_row(self, epoch: int, lr: float, seconds: float) -> dict[str, Any]:
        """One row of ``epochs.csv``: the metrics of ``splits`` (train: the curve subset; a split not evaluated
        stays empty), plus learned pool params."""
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "seconds": seconds}
        self.last_test = None
        for name, split in (("train", self.curve), ("val", self.data.val), ("test", self.data.test)):
            if name in self.splits:
                scores = self.scores(split)
                if name == "test":
                    self.last_test = scores
                row[f"{name}_loss"], row[f"{name}_acc"] = scores.summary(split.y)
        listed = getattr(self.model, "pool_params", None)
        pool = listed() if callable(listed) else {}
        row.update({key: value for key, value in pool.items() if isinstance(value, (int, float))})
        return row

    def final(self, last_row: dict[str, Any] | None) -> FinalTest:
        """Loss and accuracy of the trained model on the whole train, val and test splits, and the test split's
        per-image scores (one pass over the test images serves the metrics, the translation test and the
        stored predictions).

        The last epoch row already evaluated these very weights on val (and on the train split, when the curve
        subset is the whole split; on test, when this process evaluated a test curve): those are reused instead
        of being computed again."""
        final: dict[str, float] = {}
        whole_train = len(self.curve) == len(self.data.train)
        for name, split in (("train", self.data.train), ("val", self.data.val)):
            if last_row is not None and last_row.get(f"{name}_acc") is not None and (name != "train" or whole_train):
                final[f"{name}_loss"], final[f"{name}_acc"] = last_row[f"{name}_loss"], last_row[f"{name}_acc"]
            else:
                final[f"{name}_loss"], final[f"{name}_acc"] = self.on(split)
        reusable = last_row is not None and last_row.get("test_acc") is not None and self.last_test is not None
        test = self.last_test if reusable and self.last_test is not None else self.scores(self.data.test)
        final["test_loss"], final["test_acc"] = test.summary(self.data.test.y)
        return FinalTest(final, test)

    def shift_accuracy(self, shifts: Sequence[int], plain: Scores, fills: Sequence[str] = SHIFT_MODES) -> ShiftTest:
        """The translation test at each of ``shifts`` pixels (``shift_images``, with each of ``fills``: zero fill
        and circular by default): test accuracy and consistency with the unshifted predictions (``plain``, the final
        test pass), one pass over the test images per shift and fill (a fill not asked for is not recorded). At 0
        the accuracy is the plain test accuracy and the consistency 1.
        A global pool sums over positions and should lose less than flatten + dense, whose weights are tied to
        where each feature was in training: "where features are matters less"."""
        result = ShiftTest()
        pixels_list = sorted({int(p) for p in shifts})
        if not pixels_list:
            return result
        test = self.data.test
        test_acc = agreement(plain.pred, test.y)
        for pixels in pixels_list:
            key = str(pixels)
            if pixels == 0:
                if "zero" in fills:
                    result.acc[key], result.consistency[key] = test_acc, 1.0
                    result.zero_pred[pixels] = plain.pred
                if "circular" in fills:
                    result.circular_acc[key], result.circular_consistency[key] = test_acc, 1.0
                continue
            for mode in (mode for mode in SHIFT_MODES if mode in fills):
                shifted = ImageSplit(shift_images(test.x, pixels, mode), test.y)
                predicted = self.scores(shifted).pred
                accuracy, consistency = agreement(predicted, test.y), agreement(predicted, plain.pred)
                if mode == "zero":
                    result.acc[key], result.consistency[key] = accuracy, consistency
                    result.zero_pred[pixels] = predicted
                else:
                    result.circular_acc[key], result.circular_consistency[key] = accuracy, consistency
        return result


def best_val_acc(history: list[dict[str, Any]]) -> float | None:
    values = [row["val_acc"] for row in history if row.get("val_acc") is not None and math.isfinite(row["val_acc"])]
    return max(values) if values else None


# "Easier to train", measured: the first epoch whose train accuracy (the per-epoch curve, eval mode) reaches this.
TRAIN_ACC_THRESHOLD = 0.90


def epochs_to_train_acc(history: list[dict[str, Any]], threshold: float = TRAIN_ACC_THRESHOLD) -> int | None:
    """The first epoch (1-based) whose ``train_acc`` reaches ``threshold``; None if none did, or if the run
    recorded no per-epoch train curve. Steps to the threshold are this times the steps per epoch."""
    for row in history:
        value = row.get("train_acc")
        if value is not None and math.isfinite(value) and value >= threshold:
            return int(row["epoch"])
    return None
