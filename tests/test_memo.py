"""Shifted and resized test images are made once per process for the same images, and never served for others."""

from __future__ import annotations

import torch

from poolbench.data import memo
from poolbench.data.batches import shift_images
from poolbench.data.splits import resize_images


def images(seed: int, count: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (count, 1, 12, 12), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_the_same_images_get_the_same_transformed_copy_made_once():
    memo.forget()
    first, again = images(0), images(0)  # equal content, different tensors (another run of the cell)
    shifted = shift_images(first, 2, "zero")
    assert shift_images(again, 2, "zero") is shifted
    assert resize_images(again, 16) is resize_images(first, 16)
    memo.forget()
    assert torch.equal(shift_images(again, 2, "zero"), shifted)  # made again: the same images


def test_other_images_or_parameters_never_meet_a_stale_entry():
    memo.forget()
    base, other = images(0), images(1)
    assert not torch.equal(shift_images(base, 2, "zero"), shift_images(other, 2, "zero"))
    assert not torch.equal(shift_images(base, 2, "zero"), shift_images(base, 2, "circular"))
    assert not torch.equal(shift_images(base, 2, "zero"), shift_images(base, 3, "zero"))
    assert resize_images(base, 16).shape[-1] == 16 and resize_images(base, 8).shape[-1] == 8


def test_the_memo_stays_small(monkeypatch):
    memo.forget()
    for pixels in range(1, memo.MAX_ENTRIES + 4):
        shift_images(images(0), pixels, "circular")
    assert len(memo._MEMO) == memo.MAX_ENTRIES
    monkeypatch.setattr(memo, "MAX_BYTES", 10)
    memo.forget()
    first = shift_images(images(0), 2, "zero")
    assert shift_images(images(0), 2, "zero") is not first and not memo._MEMO  # too large to hold: made each time


def test_images_changed_in_place_are_hashed_again():
    memo.forget()
    base = images(0)
    before = shift_images(base, 2, "zero")
    base[0] = 255 - base[0]
    after = shift_images(base, 2, "zero")
    assert after is not before and not torch.equal(after, before)
