"""MNIST, KMNIST, CIFAR-100, SVHN and STL-10: read from small files written in each one's real on-disk format,
as torchvision lays them out under data_dir; checksums, archives and the "not found" message."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from poolbench.data.load import forget_loaded, load_raw
from poolbench.data.splits import prepare_data
from poolbench.errors import DataError
from tests.conftest import compose_settings, write_idx
from tests.test_data import write_fashion_mnist_layout

OFFLINE = ["dataset.download=false", "dataset.verify_checksums=false"]


def settings_for(name: str, *extra: str):
    return compose_settings([f"dataset={name}", *OFFLINE, *extra]).dataset


@pytest.mark.parametrize(("name", "folder", "compress"), [("mnist", "MNIST", True), ("kmnist", "KMNIST", False)])
def test_mnist_family_reads_torchvision_raw_folder(tmp_path, name, folder, compress):
    arrays = write_fashion_mnist_layout(tmp_path / folder / "raw", n_train=30, n_test=12, compress=compress)
    raw = load_raw(settings_for(name), tmp_path)
    assert raw.train_x.shape == (30, 1, 28, 28) and raw.test_x.shape == (12, 1, 28, 28)
    assert torch.equal(raw.train_x[:, 0], torch.from_numpy(arrays["train_x"].astype(np.uint8)))
    assert raw.test_y.tolist() == arrays["test_y"].tolist()


def test_mnist_checksums_are_torchvisions_published_md5s(tmp_path):
    write_fashion_mnist_layout(tmp_path / "MNIST" / "raw", n_train=30, n_test=12, compress=True)
    settings = compose_settings(["dataset=mnist", "dataset.download=false"]).dataset
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz fails its MD5.*verify_checksums=false"):
        load_raw(settings, tmp_path)


def test_missing_dataset_offline_lists_where_it_looked_and_the_remedies(tmp_path):
    with pytest.raises(DataError) as caught:
        load_raw(settings_for("kmnist"), tmp_path)
    message = str(caught.value)
    assert "KMNIST not found (dataset.download=false)" in message
    assert str(tmp_path / "KMNIST" / "raw") in message and "codh.rois.ac.jp" in message
    assert "dataset.download=true" in message and "data_dir=" in message


def write_cifar100_layout(root: Path, n_train: int = 20, n_test: int = 7) -> dict:
    """cifar-100-python as the official archive lays it out: ``train``, ``test`` and ``meta`` pickles whose
    ``data`` rows are 3072 bytes (R, G, B planes) and whose ``fine_labels`` are 0..99 (``coarse_labels``: 0..19)."""
    rng = np.random.default_rng(4)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for name, count in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        fine = rng.integers(0, 100, count).tolist()
        entry = {"filenames": [], "batch_label": name, "fine_labels": fine, "coarse_labels": [f // 5 for f in fine]}
        with open(folder / name, "wb") as handle:
            pickle.dump({**entry, "data": data}, handle, protocol=2)
        written[name] = (data, fine)
    with open(folder / "meta", "wb") as handle:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": []}, handle, protocol=2)
    return written


def test_cifar100_reads_fine_labels_from_the_real_pickles(tmp_path):
    written = write_cifar100_layout(tmp_path)
    raw = load_raw(settings_for("cifar100"), tmp_path)
    assert raw.train_x.shape == (20, 3, 32, 32) and raw.test_x.shape == (7, 3, 32, 32)
    assert torch.equal(raw.train_x[3], torch.from_numpy(written["train"][0][3].reshape(3, 32, 32)))
    assert raw.train_y.tolist() == written["train"][1] and raw.test_y.tolist() == written["test"][1]


def test_cifar100_archive_is_extracted_and_checksums_are_on_by_default(tmp_path):
    write_cifar100_layout(tmp_path / "staging")
    with tarfile.open(tmp_path / "cifar-100-python.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "staging" / "cifar-100-python", arcname="cifar-100-python")
    assert len(load_raw(settings_for("cifar100"), tmp_path).train_y) == 20
    with pytest.raises(DataError, match="CIFAR-100 in .*fails its MD5"):
        load_raw(compose_settings(["dataset=cifar100", "dataset.download=false"]).dataset, tmp_path)


def write_svhn_layout(folder: Path) -> dict:
    """SVHN's MATLAB files: X of shape (32, 32, 3, N) uint8, y of shape (N, 1) with the digit 0 stored as 10."""
    from scipy.io import savemat

    rng = np.random.default_rng(5)
    folder.mkdir(parents=True)
    written = {}
    for split, count in (("train", 9), ("test", 5)):
        images = rng.integers(0, 256, (32, 32, 3, count), dtype=np.uint8)
        labels = rng.integers(1, 11, (count, 1)).astype(np.uint8)
        labels[0, 0] = 10
        savemat(folder / f"{split}_32x32.mat", {"X": images, "y": labels})
        written[split] = (images, labels)
    return written


def test_svhn_reads_the_matlab_files_and_maps_label_10_to_digit_0(tmp_path):
    written = write_svhn_layout(tmp_path / "SVHN")
    raw = load_raw(settings_for("svhn"), tmp_path)
    images, labels = written["train"]
    assert raw.train_x.shape == (9, 3, 32, 32) and raw.test_x.shape == (5, 3, 32, 32)
    assert torch.equal(raw.train_x[2], torch.from_numpy(images[:, :, :, 2].transpose(2, 0, 1).copy()))
    assert raw.train_y[0] == 0 and raw.train_y.tolist()[1:] == [v % 10 for v in labels[1:, 0].tolist()]


def test_svhn_damaged_file_is_named(tmp_path):
    write_svhn_layout(tmp_path / "SVHN")
    (tmp_path / "SVHN" / "test_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    with pytest.raises(DataError, match=r"test_32x32.mat is truncated or not SVHN's format.*Delete it"):
        load_raw(settings_for("svhn"), tmp_path)


def test_stl10_reads_column_major_binaries(tmp_path):
    """STL-10's binaries: each image is C x W x H (column-major, as MATLAB wrote them); labels are 1..10."""
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (4, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
    images.transpose(0, 1, 3, 2).tofile(folder / "train_X.bin")
    np.array([1, 10, 3, 4], dtype=np.uint8).tofile(folder / "train_y.bin")
    images[:2].transpose(0, 1, 3, 2).tofile(folder / "test_X.bin")
    np.array([2, 5], dtype=np.uint8).tofile(folder / "test_y.bin")
    raw = load_raw(settings_for("stl10"), tmp_path)
    assert torch.equal(raw.train_x, torch.from_numpy(images))
    assert raw.train_y.tolist() == [0, 9, 2, 3] and raw.test_y.tolist() == [1, 4]
    (folder / "test_y.bin").write_bytes(b"\x01")
    from poolbench.data.load import forget_loaded

    forget_loaded()
    with pytest.raises(DataError, match="test_y.bin holds 1 labels for 2 images"):
        load_raw(settings_for("stl10"), tmp_path)


def test_new_sets_run_through_the_same_tensor_resident_data_path(tmp_path):
    write_svhn_layout(tmp_path / "SVHN")
    bundle = prepare_data(settings_for("svhn", "dataset.val_fraction=0.25"), tmp_path, torch.device("cpu"))
    assert bundle.train.x.dtype == torch.uint8 and len(bundle.train) + len(bundle.val) == 9
    assert bundle.mean.shape == (1, 3, 1, 1) and bundle.num_classes == 10


def write_emnist_split(
    folder: Path, split: str, labels: tuple[int, int], n_train: int = 12, n_test: int = 5, suffix: str = ""
):
    """EMNIST's IDX files of one split as torchvision leaves them in EMNIST/raw, images stored transposed
    (``suffix=".gz"``: gzipped, as NIST's gzip.zip holds them)."""
    rng = np.random.default_rng(7)
    upright = {"train": rng.integers(0, 256, (n_train, 28, 28)), "test": rng.integers(0, 256, (n_test, 28, 28))}
    targets = {"train": rng.integers(*labels, n_train), "test": rng.integers(*labels, n_test)}
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("train", "test"):
        write_idx(folder / f"emnist-{split}-{part}-images-idx3-ubyte{suffix}", upright[part].transpose(0, 2, 1))
        write_idx(folder / f"emnist-{split}-{part}-labels-idx1-ubyte{suffix}", targets[part])
    return upright, targets


def test_emnist_split_is_read_upright_and_letters_count_from_zero(tmp_path):
    upright, targets = write_emnist_split(tmp_path / "EMNIST" / "raw", "letters", (1, 27))
    raw = load_raw(settings_for("emnist", "dataset.split=letters", "dataset.num_classes=26"), tmp_path)
    assert torch.equal(raw.train_x[:, 0], torch.from_numpy(upright["train"].astype(np.uint8)))
    assert raw.test_y.tolist() == (targets["test"] - 1).tolist()
    write_emnist_split(tmp_path / "EMNIST" / "raw", "balanced", (0, 47))
    assert len(load_raw(settings_for("emnist"), tmp_path).train_y) == 12  # the shipped config: balanced, 47


def test_emnist_reads_the_gzipped_files_of_nists_zip_like_mnist(tmp_path):
    """The not-found message says to extract gzip/emnist-SPLIT-*.gz into EMNIST/raw: those files are read."""
    upright, targets = write_emnist_split(tmp_path / "EMNIST" / "raw", "balanced", (0, 47), suffix=".gz")
    assert all(path.suffix == ".gz" for path in (tmp_path / "EMNIST" / "raw").iterdir())
    raw = load_raw(settings_for("emnist", "dataset.download=false"), tmp_path)
    assert torch.equal(raw.train_x[:, 0], torch.from_numpy(upright["train"].astype(np.uint8)))
    assert raw.test_y.tolist() == targets["test"].tolist()
    (tmp_path / "EMNIST" / "raw" / "emnist-balanced-test-labels-idx1-ubyte.gz").unlink()
    forget_loaded()
    with pytest.raises(DataError, match=r"EMNIST not found .*missing: emnist-balanced-test-labels-idx1-ubyte.gz\)"):
        load_raw(settings_for("emnist", "dataset.download=false"), tmp_path)


def test_emnist_class_count_must_match_its_split():
    from poolbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dataset.num_classes=47.*26: the classes of .*dataset.split=letters"):
        settings_for("emnist", "dataset.split=letters")


def test_labels_beyond_num_classes_are_refused(tmp_path):
    write_emnist_split(tmp_path / "EMNIST" / "raw", "digits", (0, 10))
    (tmp_path / "EMNIST" / "raw" / "emnist-digits-test-labels-idx1-ubyte").unlink()
    write_idx(tmp_path / "EMNIST" / "raw" / "emnist-digits-test-labels-idx1-ubyte", np.array([3, 11, 2, 0, 1]))
    with pytest.raises(DataError, match=r"labels 0..11, but the config says num_classes=10"):
        load_raw(settings_for("emnist", "dataset.split=digits", "dataset.num_classes=10"), tmp_path)


class FailingDownload:
    """torchvision's MNIST-style download error: the reason is on the lines after "Error downloading X:"."""

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz:\nTried https://mirror/, got:\n"
            "<urlopen error [Errno -3] Temporary failure in name resolution>\n"
        )


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_a_failed_download_says_why(tmp_path, monkeypatch, name):
    import torchvision.datasets

    monkeypatch.setenv("POOLBENCH_SYSTEM_FASHION_MNIST", str(tmp_path / "nowhere"))
    monkeypatch.setattr(torchvision.datasets, "MNIST", FailingDownload)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FailingDownload)
    forget_loaded()
    with pytest.raises(DataError) as error:
        load_raw(compose_settings([f"dataset={name}", "dataset.download=true"]).dataset, tmp_path)
    assert "(download failed: Error downloading train-images-idx3-ubyte.gz: Tried https://mirror/, got: <urlopen " in (
        str(error.value)
    )
    assert "name resolution>)" in str(error.value) and ":)" not in str(error.value)
