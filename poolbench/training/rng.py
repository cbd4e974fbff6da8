"""Every global random state a run may touch, as checkpointable tensors/ints (loadable with weights_only=True).

poolbench's own randomness does not depend on these for the data: each epoch's order, crops and flips come from a
generator seeded by (seed, epoch) (train.epoch_generator), so a resumed epoch sees the same batches without any
saved data state. The global torch RNG (dropout, init) is the one that matters; numpy's and Python's are saved
too, so a user head or backbone that draws from them resumes exactly as well.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def capture_rng() -> dict[str, Any]:
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy_rng": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gauss": float(cached_gauss),
        },
        "python_rng": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of ``capture_rng``; states missing from older checkpoints are left alone."""
    torch.set_rng_state(state["torch_rng"])
    if torch.cuda.is_available() and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state.get("numpy_rng") is not None:
        saved = state["numpy_rng"]
        keys = saved["keys"].numpy().astype(np.uint32)
        np.random.set_state((saved["kind"], keys, saved["position"], saved["has_gauss"], saved["cached_gauss"]))
    if state.get("python_rng") is not None:
        saved = state["python_rng"]
        random.setstate((saved["version"], tuple(saved["internal"]), saved["gauss_next"]))
