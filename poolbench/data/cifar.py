"""CIFAR-10 from its pickled batches (``cifar-10-batches-py/`` or the archive) through torchvision's loader."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from poolbench.data.raw import RawDataset
from poolbench.errors import DataError


def _cifar10_class(verify_checksums: bool):
    from torchvision.datasets import CIFAR10

    if verify_checksums:
        return CIFAR10

    class UnverifiedCIFAR10(CIFAR10):
        """CIFAR-10 read exactly as torchvision does, without the per-file MD5 check (for subsets/tests)."""

        def _check_integrity(self) -> bool:
            base = Path(self.root) / self.base_folder
            return all((base / name).is_file() for name, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            meta = Path(self.root) / self.base_folder / self.meta["filename"]
            with open(meta, "rb") as handle:
                self.classes = pickle.load(handle, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {name: index for index, name in enumerate(self.classes)}

    return UnverifiedCIFAR10


def _cifar_checksum_problem(data_dir: Path) -> str | None:
    """Name the first CIFAR-10 batch file that is missing or fails torchvision's MD5, if any."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    base = data_dir / CIFAR10.base_folder
    for name, md5 in CIFAR10.train_list + CIFAR10.test_list + [(CIFAR10.meta["filename"], CIFAR10.meta["md5"])]:
        if not (base / name).is_file():
            return f"{base / name} is missing"
        if not check_integrity(str(base / name), md5):
            return f"{base / name} fails its MD5 checksum (truncated or not the official file)"
    return None


def _cifar_unreadable_file(batches: Path) -> str | None:
    """Name the first CIFAR-10 batch file that is missing or does not unpickle (truncated), if any."""
    import pickle

    from torchvision.datasets import CIFAR10

    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        path = batches / name
        if not path.is_file():
            return f"{path} is missing"
        try:
            with open(path, "rb") as handle:
                pickle.load(handle, encoding="latin1")
        except Exception as error:
            return f"{path} is truncated or corrupt ({type(error).__name__})"
    return None


def load_cifar10(data_dir: Path, download: bool, verify_checksums: bool = True) -> RawDataset:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import extract_archive

    batches = data_dir / CIFAR10.base_folder
    archive = data_dir / CIFAR10.filename
    if not batches.is_dir() and archive.is_file():
        try:
            extract_archive(str(archive), str(data_dir))
        except Exception as error:
            raise DataError(
                f"Cannot extract {archive}: {error}. Delete it and download cifar-10-python.tar.gz again."
            ) from None
    if not batches.is_dir() and download:
        try:
            CIFAR10(str(data_dir), train=True, download=True)
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DataError(_cifar_missing_message(data_dir, f" (download failed: {message})")) from None
    if not batches.is_dir():
        raise DataError(_cifar_missing_message(data_dir, "" if download else " (dataset.download=false)"))
    if verify_checksums:
        problem = _cifar_checksum_problem(data_dir)
        if problem:
            raise DataError(
                f"CIFAR-10 in {batches}: {problem}. Delete {batches} (and the archive) and fetch it again, "
                "or set dataset.verify_checksums=false for a deliberately modified copy."
            )
    cls = _cifar10_class(verify_checksums)
    try:
        train, test = cls(str(data_dir), train=True), cls(str(data_dir), train=False)
    except Exception as error:
        problem = _cifar_unreadable_file(batches) or f"cannot read the batches in {batches} ({error})"
        raise DataError(f"CIFAR-10: {problem}. Delete it and fetch the dataset again.") from None

    def to_nchw(array):
        return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()

    return RawDataset(
        train_x=to_nchw(train.data),
        train_y=torch.tensor(train.targets, dtype=torch.int64),
        test_x=to_nchw(test.data),
        test_y=torch.tensor(test.targets, dtype=torch.int64),
        source=str(batches),
    )


def _cifar_missing_message(data_dir: Path, detail: str) -> str:
    return (
        f"CIFAR-10 not found{detail}. Looked for {data_dir / 'cifar-10-batches-py'} and "
        f"{data_dir / 'cifar-10-python.tar.gz'}. Remedies: connect to the internet and keep dataset.download=true; "
        "or download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and put the archive (or its "
        f"extracted cifar-10-batches-py folder) in {data_dir}; or point data_dir=... at the folder that holds it."
    )
