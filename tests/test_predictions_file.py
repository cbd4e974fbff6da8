"""The per-image predictions file: written and read back exactly; a bad file is one RecordError naming it."""

from __future__ import annotations

import numpy as np
import pytest

from poolbench.errors import RecordError
from poolbench.record import PREDICTIONS_FILE, read_predictions, write_predictions


def test_predictions_round_trip(tmp_path):
    arrays = {
        "test_index": np.arange(5, dtype=np.int32),
        "test_label": np.array([0, 1, 2, 1, 0], dtype=np.int16),
        "test_pred": np.array([0, 1, 1, 1, 2], dtype=np.int16),
        "test_loss": np.array([0.1, 0.2, 1.5, 0.3, 2.0], dtype=np.float16),
        "shift_pred_4": np.array([0, 2, 1, 1, 2], dtype=np.int16),
    }
    write_predictions(tmp_path, arrays)
    back = read_predictions(tmp_path)
    assert back is not None and set(back) == set(arrays)
    for name, values in arrays.items():
        np.testing.assert_array_equal(back[name], values)
        assert back[name].dtype == values.dtype


def test_no_predictions_is_none_and_a_corrupt_file_names_itself(tmp_path):
    assert read_predictions(tmp_path) is None
    (tmp_path / PREDICTIONS_FILE).write_bytes(b"not a zip")
    with pytest.raises(RecordError, match=PREDICTIONS_FILE):
        read_predictions(tmp_path)


def test_arrays_of_different_lengths_are_refused(tmp_path):
    with pytest.raises(ValueError, match="different lengths"):
        write_predictions(
            tmp_path,
            {
                "test_index": np.arange(3),
                "test_label": np.arange(3),
                "test_pred": np.arange(2),
                "test_loss": np.ones(3),
            },
        )
