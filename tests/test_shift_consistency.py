"""The translation test: zero-fill and circular shifts of hand-built images, and consistency (the share of test
images whose predicted class stays that of the unshifted image) for models whose prediction is a known function
of where the content is."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from poolbench.data.batches import SHIFT_DIRECTIONS, shift_images
from poolbench.data.splits import DataBundle, ImageSplit
from poolbench.step import StepContext
from poolbench.training.evaluate import Evaluator, ShiftTest, agreement

SIZE = 12


def dot_images(rows: list[int], cols: list[int]) -> torch.Tensor:
    """uint8 images (N, 1, SIZE, SIZE), black but for one white pixel at (rows[i], cols[i])."""
    images = torch.zeros(len(rows), 1, SIZE, SIZE, dtype=torch.uint8)
    for i, (row, col) in enumerate(zip(rows, cols)):
        images[i, 0, row, col] = 255
    return images


class ColumnParity(nn.Module):
    """Predicts class 1 when the brightest pixel is in an odd column, else 0: a function of position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        column = x.flatten(1).argmax(1) % x.shape[-1]
        odd = (column % 2).float()
        return torch.stack([1 - odd, odd], dim=1)


class Brightness(nn.Module):
    """Predicts class 1 when the image holds any bright pixel: a global max, blind to position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = (x.flatten(1).amax(1) > 0.5).float()
        return torch.stack([1 - bright, bright], dim=1)


def evaluator_for(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Evaluator:
    mean, std = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
    split = ImageSplit(images, labels)
    data = DataBundle(split, split, split, mean, std, 2, 1, SIZE, "hand-built")
    return Evaluator(model, data, 5, StepContext(torch.device("cpu")), split)


def shift_test(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, shifts: list[int]) -> ShiftTest:
    """The translation test against the final test pass, as a run takes it."""
    evaluator = evaluator_for(model, images, labels)
    return evaluator.shift_accuracy(shifts, evaluator.final(None).test)


def test_zero_fill_and_circular_shifts_move_a_pixel_as_specified():
    images = dot_images([0] * 8, [SIZE - 1] * 8)  # top-right corner: most moves push it out of the frame
    for mode in ("zero", "circular"):
        shifted = shift_images(images, 2, mode)
        for i, (dy, dx) in enumerate(SHIFT_DIRECTIONS):
            row, col = 0 + 2 * dy, SIZE - 1 + 2 * dx
            inside = 0 <= row < SIZE and 0 <= col < SIZE
            if mode == "circular":
                assert shifted[i, 0, row % SIZE, col % SIZE] == 255 and int(shifted[i].sum()) == 255, (mode, i)
            elif inside:
                assert shifted[i, 0, row, col] == 255 and int(shifted[i].sum()) == 255, (mode, i)
            else:
                assert int(shifted[i].sum()) == 0, (mode, i)  # left the frame; zeros came in
    assert shift_images(images, 0, "circular") is images
    with pytest.raises(ValueError, match="circular"):
        shift_images(images, 1, "wrap")


def test_no_shift_is_fully_consistent_and_keeps_the_test_accuracy():
    images = dot_images([6] * 8, list(range(2, 10)))
    labels = torch.tensor([c % 2 for c in range(2, 10)])
    labels[:2] = 1 - labels[:2]  # two of eight mislabelled: test accuracy 0.75
    result = shift_test(ColumnParity(), images, labels, [0])
    assert result.consistency == {"0": 1.0} and result.circular_consistency == {"0": 1.0}
    assert result.acc == {"0": 0.75} and result.circular_acc == {"0": 0.75}
    assert shift_test(ColumnParity(), images, labels, []) == ShiftTest()


def test_consistency_of_a_position_dependent_model_follows_its_rule():
    """16 images, two per direction, dots in the centre (no shift moves them out of the frame). ColumnParity's
    prediction flips exactly for the images moved sideways by an odd number of pixels: 6 of every 8 directions
    move sideways, so consistency is 2/8 at 1 px and 1.0 at 2 px, with zero fill and circularly alike."""
    images = dot_images([6] * 16, [5 + (i % 2) for i in range(16)])
    labels = torch.tensor([(5 + (i % 2)) % 2 for i in range(16)])
    result = shift_test(ColumnParity(), images, labels, [1, 2, 0])
    assert result.consistency == {"0": 1.0, "1": 0.25, "2": 1.0}
    assert result.circular_consistency == {"0": 1.0, "1": 0.25, "2": 1.0}
    assert result.acc == {"0": 1.0, "1": 0.25, "2": 1.0}  # labels are the unshifted predictions here


def test_circular_shifts_keep_a_global_pool_consistent_where_zero_fill_does_not():
    """A global max never changes under a circular shift; with zero fill a dot in the corner can leave the
    frame, and the images it leaves lose their prediction: 5 of 8 directions move the top-right dot out."""
    images = dot_images([0] * 8, [SIZE - 1] * 8)
    labels = torch.ones(8, dtype=torch.int64)
    result = shift_test(Brightness(), images, labels, [3])
    assert result.circular_consistency == {"3": 1.0} and result.circular_acc == {"3": 1.0}
    assert result.consistency == {"3": 3 / 8} and result.acc == {"3": 3 / 8}


def test_agreement_is_an_exact_fraction():
    assert agreement(torch.tensor([1, 2, 3]), torch.tensor([1, 0, 3])) == 2 / 3
    assert agreement(torch.tensor([], dtype=torch.int64), torch.tensor([], dtype=torch.int64)) != 0.0  # nan


def test_the_report_shift_table_averages_consistency_over_seeds(tmp_path):
    from poolbench.report.aggregate import runs_frame
    from poolbench.report.collect import collect_runs
    from poolbench.report.shift import display_shift, shift_table
    from tests.test_report import write_run

    root = tmp_path / "runs"
    for seed, (zero, circular) in enumerate(((0.80, 0.90), (0.84, 0.96))):
        write_run(root, "gap", seed, 0.9, shift_acc={"0": 0.9, "4": 0.7})
        record_path = root / "fashion_mnist" / "small_cnn" / "gap" / f"seed{seed}" / "result.json"
        record = json.loads(record_path.read_text())
        record.update(shift_consistency={"0": 1.0, "4": zero}, shift_circular_consistency={"0": 1.0, "4": circular})
        record_path.write_text(json.dumps(record))
    table = shift_table(runs_frame(collect_runs([root])))
    assert table.loc[0, "consistency_4_mean"] == pytest.approx(0.82)
    assert table.loc[0, "circular_consistency_4_mean"] == pytest.approx(0.93)
    assert table.loc[0, "consistency_4_std"] == pytest.approx(0.04 / 2**0.5)
    shown = display_shift(table, ["head"])
    assert list(shown["consistency at 4 px %"]) == ["82.00 ± 2.83"]
    assert list(shown["circular consistency at 4 px %"]) == ["93.00 ± 4.24"]


class CountingPasses(nn.Module):
    """Brightness, counting the images it is shown: what a translation test costs, in test passes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return Brightness()(x)


def test_a_run_takes_only_the_fills_it_names():
    """dataset.shift_fills: one test pass per shift and named fill, and only those fills are recorded (the
    claims cells name what the analysis plan reads there: tests/test_claims_reads.py)."""
    images = dot_images([0] * 8, [SIZE - 1] * 8)
    labels = torch.ones(8, dtype=torch.int64)
    for fills, passes in ((("zero",), 2), (("circular",), 2), (("zero", "circular"), 4), ((), 0)):
        model = CountingPasses()
        evaluator = evaluator_for(model, images, labels)
        plain = evaluator.final(None).test
        model.seen = 0
        result = evaluator.shift_accuracy([0, 2, 3], plain, fills)
        assert model.seen == passes * len(images), fills  # shift 0 reuses the plain pass
        assert bool(result.acc) == ("zero" in fills) and bool(result.circular_acc) == ("circular" in fills)
        assert set(result.zero_pred) == ({0, 2, 3} if "zero" in fills else set())
        if "circular" in fills:
            assert result.circular_consistency == {"0": 1.0, "2": 1.0, "3": 1.0}
