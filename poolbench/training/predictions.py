"""A run's per-image test predictions as the arrays of ``predictions.npz`` (``poolbench.record.PREDICTIONS_FILE``):
what a confidence interval over test images needs (runs of one cell are scored on the same images, in the same
order, so their arrays line up on ``test_index``). Built from the final test pass and the translation test's
zero-fill passes: no pass of its own."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from poolbench.data.splits import DataBundle
from poolbench.training.evaluate import Scores


def _host(values: torch.Tensor, dtype: type) -> np.ndarray:
    return values.detach().to("cpu").numpy().astype(dtype)


def prediction_arrays(
    data: DataBundle, test: Scores, zero_shifted: Mapping[int, torch.Tensor]
) -> dict[str, np.ndarray]:
    """``test_index`` (int32: the image's index in the dataset's test split), ``test_label``, ``test_pred``
    (int16), ``test_loss`` (float16) and ``shift_pred_<k>`` (int16) for every translation-test shift k."""
    index = data.test_index if data.test_index is not None else torch.arange(len(data.test))
    arrays = {
        "test_index": _host(index, np.int32),
        "test_label": _host(data.test.y, np.int16),
        "test_pred": _host(test.pred, np.int16),
        "test_loss": _host(test.loss.float(), np.float16),
    }
    arrays.update({f"shift_pred_{pixels}": _host(pred, np.int16) for pixels, pred in sorted(zero_shifted.items())})
    return arrays
