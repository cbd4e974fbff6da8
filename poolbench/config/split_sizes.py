"""The split sizes a config asks for, checked against the splits it will get: the validation carve-out (or an
image folder's own val/), ``dataset.train_samples`` and ``dataset.test_samples``. Checked at validation where
the catalog knows the sizes, and again by the preflight once the data is loaded (``poolbench.sweep.preflight``).
"""

from __future__ import annotations

import math

from poolbench.config.catalog import split_sizes
from poolbench.config.settings import DatasetSettings
from poolbench.errors import ConfigError

MIN_VAL_PER_CLASS = 1  # validation images per class, at least (check_validation_size)


def check_split_sizes(
    dataset: DatasetSettings, sizes: tuple[int, int] | None = None, own_val: int | None = None
) -> None:
    """The validation carve-out and the train/test subsets fit the splits: ``sizes`` (train, test) as loaded,
    or as the catalog knows them before loading; ``own_val``: the size of the source's own validation split
    (an image folder's val/), which replaces the carve-out."""
    sizes = sizes or split_sizes(dataset.kind, dataset.train_size, dataset.test_size, dataset.split)
    if sizes is None:
        return
    num_train, num_test = sizes
    num_val = round(num_train * dataset.val_fraction) if own_val is None else 0
    check_validation_size(dataset, num_train, num_val if own_val is None else own_val, own_val is not None)
    available = num_train - num_val
    if available < 1:
        raise ConfigError(
            "dataset.val_fraction",
            dataset.val_fraction,
            f"a fraction that leaves train images (the train split has {num_train})",
            "lower dataset.val_fraction",
        )
    if dataset.train_samples is not None and dataset.train_samples > available:
        raise ConfigError(
            "dataset.train_samples",
            dataset.train_samples,
            f"at most {available} (the {num_train} train images minus {num_val} carved out for validation), or null",
            f"set dataset.train_samples={available} or null for all, or lower dataset.val_fraction",
        )
    if dataset.test_samples is not None and dataset.test_samples > num_test:
        raise ConfigError(
            "dataset.test_samples",
            dataset.test_samples,
            f"at most {num_test} (the test split), or null",
            "set dataset.test_samples=null for the whole test split",
        )


def check_validation_size(dataset: DatasetSettings, num_train: int, num_val: int, own_split: bool) -> None:
    """Every run selects on validation (``objective``, the best epoch, a sweeper): a split with fewer images than
    classes (``MIN_VAL_PER_CLASS`` each) cannot tell the heads apart, and none at all records val_acc NaN as an
    ok run. The minimum: one validation image per class."""
    needed = MIN_VAL_PER_CLASS * dataset.num_classes
    if num_val >= needed:
        return
    if own_split:
        raise ConfigError(
            "dataset.root",
            dataset.root,
            f"a val/ split of at least {needed} images (one per class; it has {num_val})",
            "add validation images to val/, or remove val/ to carve them out of train/ (dataset.val_fraction)",
        )
    lowest = math.ceil(needed / num_train * 1000) / 1000 if num_train else 1.0
    raise ConfigError(
        "dataset.val_fraction",
        dataset.val_fraction,
        f"a fraction leaving at least {needed} validation images (one per class) of the {num_train} train images, "
        f"i.e. >= {lowest:g}; models are selected on validation",
        f"e.g. dataset.val_fraction={max(lowest, 0.1):g}",
    )
