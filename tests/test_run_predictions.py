"""predictions.npz: every ok run stores its per-image test predictions beside its record, from the same passes
that gave its test and translation-test metrics, so they agree with the record exactly; a resumed run writes
them too; a run that did not finish ok leaves none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from poolbench.data.load import load_raw
from poolbench.record import PREDICTIONS_FILE, RESULT_FILE, read_predictions
from poolbench.run import run
from tests.conftest import TINY, compose_settings

SHIFTED = [*TINY, "dataset.eval_shifts=[4,0,2]", "trainer.checkpoint=true"]


def test_predictions_agree_with_the_record_exactly(tmp_path: Path):
    record = run(compose_settings(SHIFTED, output_dir=tmp_path))
    arrays = read_predictions(tmp_path)
    assert record.status == "ok" and arrays is not None
    assert set(arrays) == {
        "test_index",
        "test_label",
        "test_pred",
        "test_loss",
        "shift_pred_0",
        "shift_pred_2",
        "shift_pred_4",
    }
    dtypes = {name: arrays[name].dtype for name in ("test_index", "test_label", "test_pred", "test_loss")}
    assert dtypes == {"test_index": np.int32, "test_label": np.int16, "test_pred": np.int16, "test_loss": np.float16}
    label, pred = arrays["test_label"], arrays["test_pred"]
    np.testing.assert_array_equal(arrays["test_index"], np.arange(200))  # the whole test split, in order
    assert int((pred == label).sum()) / len(label) == record.test_acc
    loss = float(arrays["test_loss"].astype(np.float64).mean())
    assert abs(loss - record.test_loss) < 2e-3 * max(1.0, record.test_loss)  # float16 per image
    for pixels in ("0", "2", "4"):
        shifted = arrays[f"shift_pred_{pixels}"]
        assert shifted.dtype == np.int16
        assert int((shifted == label).sum()) / len(label) == record.shift_acc[pixels]
        assert int((shifted == pred).sum()) / len(label) == record.shift_consistency[pixels]
    assert not (pred == arrays["shift_pred_4"]).all()  # a 4 px shift of 12 px images changes some predictions


def test_test_index_names_the_sampled_test_images(tmp_path: Path):
    settings = compose_settings([*TINY, "dataset.test_samples=50"], output_dir=tmp_path)
    record = run(settings)
    arrays = read_predictions(tmp_path)
    assert arrays is not None and len(arrays["test_index"]) == 50
    index = arrays["test_index"].astype(np.int64)
    assert (np.diff(index) > 0).all() and index.min() >= 0 and index.max() < 200  # distinct images of the split
    raw = load_raw(settings.dataset, str(tmp_path))
    np.testing.assert_array_equal(arrays["test_label"], raw.test_y[torch.from_numpy(index)].numpy())
    assert int((arrays["test_pred"] == arrays["test_label"]).sum()) / 50 == record.test_acc
    again = compose_settings([*TINY, "dataset.test_samples=50", "seed=1"], output_dir=tmp_path / "seed1")
    run(again)
    other = read_predictions(tmp_path / "seed1")
    assert other is not None
    np.testing.assert_array_equal(other["test_index"], arrays["test_index"])  # runs of a cell line up


def test_a_run_resumed_after_its_last_epoch_still_writes_them(tmp_path: Path):
    settings = compose_settings(SHIFTED, output_dir=tmp_path)
    first = run(settings)
    before = read_predictions(tmp_path)
    (tmp_path / RESULT_FILE).unlink()  # as if the process died after training, before the record was written
    (tmp_path / PREDICTIONS_FILE).unlink()
    resumed = run(settings)
    after = read_predictions(tmp_path)
    assert resumed.status == "ok" and resumed.test_acc == first.test_acc
    assert before is not None and after is not None
    for name in ("test_index", "test_label", "test_pred", "shift_pred_4"):
        np.testing.assert_array_equal(after[name], before[name])


def test_a_diverged_run_leaves_no_predictions(tmp_path: Path):
    (tmp_path / PREDICTIONS_FILE).write_bytes(b"an earlier attempt's")
    diverging = [*TINY, "trainer.lr=1e12", "trainer.schedule=constant", "trainer.epochs=3"]
    record = run(compose_settings(diverging, output_dir=tmp_path))
    assert record.status == "diverged"
    assert not (tmp_path / PREDICTIONS_FILE).exists()  # the earlier attempt's file is gone with it
