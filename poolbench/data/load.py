"""``load_raw``: a dataset's raw splits from the source its kind names, kept for the rest of the process.

The preflight check loads the dataset before Hydra starts the run; a run in the same process (a single run, or
the basic launcher's sweep) reuses those tensors instead of reading the files again, and logs that it did.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from poolbench.config.catalog import KINDS
from poolbench.config.settings import DatasetSettings
from poolbench.data.raw import RawDataset, check_matches_config
from poolbench.errors import ConfigError

log = logging.getLogger("poolbench.data")

# (dataset settings, data_dir) -> what was loaded: DatasetSettings is frozen, so it is its own key.
_LOADED: dict[tuple[DatasetSettings, str], RawDataset] = {}


def read_source(dataset: DatasetSettings, root: Path) -> RawDataset:
    """Read the dataset from the source its kind names (no caching)."""
    if dataset.kind == "fashion_mnist":
        from poolbench.data.idx import load_fashion_mnist

        return load_fashion_mnist(root, dataset.download)
    if dataset.kind == "synthetic":
        from poolbench.data.synthetic import load_synthetic

        return load_synthetic(dataset)
    if dataset.kind == "probe":
        from poolbench.data.probes import load_probe

        return load_probe(dataset)
    if dataset.kind == "image_folder":
        from poolbench.data.image_folder import load_image_folder

        return load_image_folder(dataset, root)
    from poolbench.data.torchvision_sets import load_torchvision_set, source_for

    source = source_for(dataset)
    if source is not None:
        return load_torchvision_set(source, root, dataset.download, dataset.verify_checksums)
    raise ConfigError("dataset.kind", dataset.kind, ", ".join(KINDS), "pick dataset=fashion_mnist")


def load_raw(dataset: DatasetSettings, data_dir: str | os.PathLike[str]) -> RawDataset:
    """A dataset's train and test splits, read once per process (later calls with the same settings reuse them)."""
    root = Path(data_dir).expanduser()
    key = (dataset, str(root.resolve()))
    if key in _LOADED:
        log.debug(
            "dataset %s: reusing the tensors loaded earlier in this process from %s", dataset.name, _LOADED[key].source
        )
        return _LOADED[key]
    raw = read_source(dataset, root)
    check_matches_config(raw, dataset)
    _LOADED[key] = raw
    return raw


def forget_loaded() -> None:
    """Drop every dataset kept by ``load_raw`` and every image folder listed (tests; a long-lived process that
    changes files)."""
    from poolbench.config.folder_layout import forget_scans

    _LOADED.clear()
    forget_scans()
