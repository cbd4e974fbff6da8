"""Datasets that torchvision publishes (MNIST, KMNIST, CIFAR-10/100, SVHN, STL-10), read local-first.

Each ``Source`` names where torchvision puts the files under ``data_dir``, the archive a manual download leaves
there, torchvision's published MD5 of each file, and the reader of its on-disk format (one reader per format:
IDX for MNIST and KMNIST, pickled batches for CIFAR, MATLAB for SVHN, raw bytes for STL-10). ``load_torchvision_set``
tries, in order: the files in place, the archive (extracted), torchvision's download (``dataset.download``);
then it checks the MD5s (``dataset.verify_checksums``) and reads the files. Nothing found: one message listing
where it looked and the remedies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from poolbench.config.settings import DatasetSettings
from poolbench.data.cifar import read_cifar
from poolbench.data.formats import emnist_files, read_emnist, read_idx_folder, read_stl10, read_svhn
from poolbench.data.idx import IDX_FILES
from poolbench.data.raw import RawDataset
from poolbench.errors import DataError, one_line

TRAIN_TEST_FLAGS = ({"train": True}, {"train": False})
TRAIN_TEST_SPLITS = ({"split": "train"}, {"split": "test"})


@dataclass(frozen=True)
class Source:
    title: str  # for messages: "CIFAR-100"
    torchvision_class: str  # in torchvision.datasets, used for downloads and its published MD5s
    folder: str  # the files' folder, relative to data_dir, as torchvision lays it out
    files: tuple[str, ...]  # the files the reader needs ("X.gz": the uncompressed "X" is accepted too)
    read: Callable[[Path], RawDataset]
    url: str  # where a manual download comes from
    archive: str | None = None  # left in data_dir by a manual download; extracted into data_dir
    download_root: str = ""  # torchvision's ``root`` for this class, relative to data_dir
    download_calls: tuple[dict[str, Any], ...] = TRAIN_TEST_FLAGS


IDX_GZ = tuple(f"{stem}.gz" for stem in IDX_FILES.values())

SOURCES = {
    "mnist": Source("MNIST", "MNIST", "MNIST/raw", IDX_GZ, read_idx_folder, "https://yann.lecun.com/exdb/mnist/"),
    "kmnist": Source(
        "KMNIST", "KMNIST", "KMNIST/raw", IDX_GZ, read_idx_folder, "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
    ),
    "cifar10": Source(
        "CIFAR-10",
        "CIFAR10",
        "cifar-10-batches-py",
        (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
        partial(read_cifar, kind="cifar10"),
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        archive="cifar-10-python.tar.gz",
    ),
    "cifar100": Source(
        "CIFAR-100",
        "CIFAR100",
        "cifar-100-python",
        ("train", "test", "meta"),
        partial(read_cifar, kind="cifar100"),
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        archive="cifar-100-python.tar.gz",
    ),
    "svhn": Source(
        "SVHN",
        "SVHN",
        "SVHN",
        ("train_32x32.mat", "test_32x32.mat"),
        read_svhn,
        "http://ufldl.stanford.edu/housenumbers/ (train_32x32.mat, test_32x32.mat)",
        download_root="SVHN",
        download_calls=TRAIN_TEST_SPLITS,
    ),
    "stl10": Source(
        "STL-10",
        "STL10",
        "stl10_binary",
        ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"),
        read_stl10,
        "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
        archive="stl10_binary.tar.gz",
        download_calls=TRAIN_TEST_SPLITS,
    ),
}


def emnist_source(split: str) -> Source:
    """EMNIST's files for one split, as torchvision leaves them in EMNIST/raw (extracted from its gzip.zip), or
    still gzipped as the zip holds them (``.gz``, like MNIST's and KMNIST's)."""
    return Source(
        "EMNIST",
        "EMNIST",
        "EMNIST/raw",
        tuple(f"{name}.gz" for name in emnist_files(split).values()),
        partial(read_emnist, split=split),
        "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip (extract gzip/emnist-SPLIT-*.gz into EMNIST/raw)",
        download_calls=({"split": split, "train": True}, {"split": split, "train": False}),
    )


def source_for(dataset: DatasetSettings) -> Source | None:
    """The source of a torchvision dataset kind (EMNIST: of its configured split), or None for other kinds."""
    if dataset.kind == "emnist":
        return emnist_source(dataset.split or "balanced")
    return SOURCES.get(dataset.kind)


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, or its uncompressed sibling for a ``.gz`` name (torchvision keeps both after a download)."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def missing_files(source: Source, folder: Path) -> list[str]:
    return [name for name in source.files if find_file(folder, name) is None]


def published_md5s(source: Source) -> dict[str, str]:
    """{file name: MD5} as torchvision publishes them for this dataset."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, source.torchvision_class)
    pairs: list[Any] = []
    for attribute in ("resources", "train_list", "test_list"):
        pairs += list(getattr(cls, attribute, []))
    meta = getattr(cls, "meta", None)
    if isinstance(meta, dict) and "filename" in meta:
        pairs.append((meta["filename"], meta["md5"]))
    split_list = getattr(cls, "split_list", {})
    pairs += [(entry[1], entry[2]) for entry in split_list.values()]
    named = {str(pair[0]).rsplit("/", 1)[-1]: str(pair[1]) for pair in pairs}
    return {name: md5 for name, md5 in named.items() if name in source.files}


def checksum_problem(source: Source, folder: Path) -> str | None:
    """The first file that fails its published MD5 (a file kept only uncompressed has no published MD5: its
    reader still checks its size and header)."""
    from torchvision.datasets.utils import check_integrity

    for name, md5 in published_md5s(source).items():
        path = folder / name
        if path.is_file() and not check_integrity(str(path), md5):
            return f"{path} fails its MD5 checksum (truncated or not the official file)"
    return None


def extract(archive: Path, data_dir: Path) -> None:
    from torchvision.datasets.utils import extract_archive

    try:
        extract_archive(str(archive), str(data_dir))
    except Exception as error:
        raise DataError(f"Cannot extract {archive}: {error}. Delete it and download {archive.name} again.") from None


def download(source: Source, data_dir: Path) -> str:
    """torchvision's download of the train and test files; '' when it worked, else why not (for the message)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, source.torchvision_class)
    try:
        for call in source.download_calls:
            cls(str(data_dir / source.download_root), download=True, **call)
    except Exception as error:  # network errors come in many types
        return f" (download failed: {one_line(error)})"
    return ""


def load_torchvision_set(source: Source, data_dir: Path, download_allowed: bool, verify_checksums: bool) -> RawDataset:
    folder = data_dir / source.folder
    archive = data_dir / source.archive if source.archive else None
    if missing_files(source, folder) and archive is not None and archive.is_file():
        extract(archive, data_dir)
    detail = " (dataset.download=false)"
    if missing_files(source, folder) and download_allowed:
        detail = download(source, data_dir)
    missing = missing_files(source, folder)
    if missing:
        raise DataError(not_found_message(source, data_dir, folder, detail, missing))
    if verify_checksums:
        problem = checksum_problem(source, folder)
        if problem:
            raise DataError(
                f"{source.title} in {folder}: {problem}. Delete {folder}{' (and the archive)' if archive else ''} "
                "and fetch it again, or set dataset.verify_checksums=false for a deliberately modified copy."
            )
    return source.read(folder)


def not_found_message(source: Source, data_dir: Path, folder: Path, detail: str, missing: list[str]) -> str:
    looked = f"{folder}" + (f" and {data_dir / source.archive}" if source.archive else "")
    manual = (
        f"put the archive (or its extracted {source.folder} folder) in {data_dir}"
        if source.archive
        else (f"put {', '.join(source.files)} in {folder}")
    )
    return (
        f"{source.title} not found{detail}. Looked for {looked} (missing: {', '.join(missing)}). Remedies: connect "
        f"to the internet and keep dataset.download=true; or download {source.url} and {manual}; or point "
        "data_dir=... at the folder that holds it."
    )
