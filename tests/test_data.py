"""Data: loaders on small files in the real on-disk formats, splits, augmentation, synthetic data."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from poolbench.config.validate import check_split_sizes
from poolbench.data.batches import random_crop, random_flip
from poolbench.data.idx import IDX_FILES
from poolbench.data.load import load_raw
from poolbench.data.splits import prepare_data, split_indices, spread_sample
from poolbench.data.synthetic import make_synthetic
from poolbench.errors import ConfigError, DataError
from tests.conftest import compose_settings, write_idx

REAL_FMNIST = Path("/usr/share/datasets/fashion-mnist")


def write_fashion_mnist_layout(directory: Path, n_train: int = 50, n_test: int = 20, compress: bool = True) -> dict:
    """Four IDX files as Debian's dataset-fashion-mnist ships them (gzipped, flat folder)."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28)),
        "train_y": rng.integers(0, 10, n_train),
        "test_x": rng.integers(0, 256, (n_test, 28, 28)),
        "test_y": rng.integers(0, 10, n_test),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        write_idx(directory / (stem + (".gz" if compress else "")), arrays[key])
    return arrays


def write_cifar10_layout(root: Path, per_batch: int = 6, n_test: int = 8) -> dict:
    """cifar-10-batches-py as the official archive lays it out: pickled dicts, rows of 3072 bytes (R, G, B planes).

    The official files are Python 2 pickles whose str keys load as str under encoding='latin1'; str keys at
    protocol 2 give the same loaded structure."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name, count in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, count).tolist()
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "labels": labels, "data": data, "filenames": []}, handle, protocol=2)
        batches[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as handle:
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}, handle, protocol=2)
    return batches


def test_fashion_mnist_from_the_debian_layout(tmp_path, monkeypatch):
    arrays = write_fashion_mnist_layout(tmp_path / "system")
    monkeypatch.setenv("POOLBENCH_SYSTEM_FASHION_MNIST", str(tmp_path / "system"))
    cfg = compose_settings(["dataset=fashion_mnist", "dataset.download=false"])
    raw = load_raw(cfg.dataset, tmp_path / "empty_data_dir")
    assert raw.train_x.shape == (50, 1, 28, 28) and raw.train_x.dtype == torch.uint8
    assert torch.equal(raw.train_x[:, 0], torch.from_numpy(arrays["train_x"].astype(np.uint8)))
    assert torch.equal(raw.test_y, torch.from_numpy(arrays["test_y"]).long())
    assert raw.source == str(tmp_path / "system")


def test_fashion_mnist_prefers_files_in_data_dir(tmp_path, monkeypatch):
    write_fashion_mnist_layout(tmp_path / "data" / "FashionMNIST" / "raw", n_train=30, compress=False)
    write_fashion_mnist_layout(tmp_path / "system", n_train=50)
    monkeypatch.setenv("POOLBENCH_SYSTEM_FASHION_MNIST", str(tmp_path / "system"))
    raw = load_raw(compose_settings(["dataset.download=false"]).dataset, tmp_path / "data")
    assert len(raw.train_y) == 30


def test_fashion_mnist_missing_offline_lists_the_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("POOLBENCH_SYSTEM_FASHION_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as error:
        load_raw(compose_settings(["dataset.download=false"]).dataset, tmp_path / "data")
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message and "data_dir=" in message


def test_truncated_idx_file_is_named(tmp_path, monkeypatch):
    write_fashion_mnist_layout(tmp_path / "system", compress=False)
    target = tmp_path / "system" / "train-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-100])
    monkeypatch.setenv("POOLBENCH_SYSTEM_FASHION_MNIST", str(tmp_path / "system"))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*truncated"):
        load_raw(compose_settings(["dataset.download=false"]).dataset, tmp_path / "data")


def test_cifar10_loader_reads_the_real_on_disk_format(tmp_path):
    batches = write_cifar10_layout(tmp_path)
    cfg = compose_settings(["dataset=cifar10", "dataset.download=false", "dataset.verify_checksums=false"])
    raw = load_raw(cfg.dataset, tmp_path)
    assert raw.train_x.shape == (30, 3, 32, 32) and raw.test_x.shape == (8, 3, 32, 32)
    first_row = batches["data_batch_1"][0][0]  # R plane (1024), then G, then B, each row-major 32x32
    assert torch.equal(raw.train_x[0], torch.from_numpy(first_row.reshape(3, 32, 32)))
    assert raw.train_y.tolist()[:6] == batches["data_batch_1"][1]
    assert raw.test_y.tolist() == batches["test_batch"][1]


def test_cifar10_checksums_are_verified_by_default(tmp_path):
    write_cifar10_layout(tmp_path)
    cfg = compose_settings(["dataset=cifar10", "dataset.download=false"])
    with pytest.raises(DataError, match="data_batch_1 fails its MD5"):
        load_raw(cfg.dataset, tmp_path)


def test_cifar10_archive_is_extracted(tmp_path):
    import tarfile

    write_cifar10_layout(tmp_path / "staging")
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "staging" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    cfg = compose_settings(["dataset=cifar10", "dataset.download=false", "dataset.verify_checksums=false"])
    assert len(load_raw(cfg.dataset, tmp_path).train_y) == 30


def test_cifar10_missing_offline_names_the_archive(tmp_path):
    cfg = compose_settings(["dataset=cifar10", "dataset.download=false"])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        load_raw(cfg.dataset, tmp_path)


def test_validation_split_is_fixed_disjoint_and_independent_of_run_seed():
    train_a, val_a = split_indices(1000, 0.1, split_seed=0, train_samples=None)
    _train_b, val_b = split_indices(1000, 0.1, split_seed=0, train_samples=None)
    assert torch.equal(val_a, val_b) and len(val_a) == 100 and len(train_a) == 900
    assert not set(train_a.tolist()) & set(val_a.tolist())
    subset, val_c = split_indices(1000, 0.1, split_seed=0, train_samples=200)
    assert len(subset) == 200 and torch.equal(val_c, val_a) and set(subset.tolist()) <= set(train_a.tolist())
    with pytest.raises(ConfigError, match="dataset.train_samples"):  # checked against the loaded split's size
        dataset = replace(compose_settings(["dataset=synthetic"]).dataset, val_fraction=0.1, train_samples=901)
        check_split_sizes(dataset, sizes=(1000, 100))


def test_spread_sample_is_seeded_random_and_stratified_in_any_order():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)  # stored in class order, as an image folder lists them
    picked = spread_sample(labels, 20, seed=3)
    assert torch.equal(picked, spread_sample(labels, 20, seed=3)) and picked.tolist() == sorted(set(picked.tolist()))
    assert torch.bincount(labels[picked]).tolist() == [10, 6, 4]  # each class its share, not the first 20 images
    assert not torch.equal(picked, spread_sample(labels, 20, seed=4))
    assert torch.equal(spread_sample(labels, 100, seed=0), torch.arange(100))


def test_prepare_data_keeps_uint8_splits_and_never_mixes_test_into_selection():
    cfg = compose_settings(["dataset=synthetic", "dataset.train_size=300", "dataset.test_size=50"])
    data = prepare_data(cfg.dataset, "unused", torch.device("cpu"))
    assert data.train.x.dtype == torch.uint8 and len(data.train) == 270 and len(data.val) == 30 and len(data.test) == 50


def test_synthetic_is_deterministic_and_class_dependent():
    x1, y1 = make_synthetic(64, 4, 3, 16, seed=5)
    x2, y2 = make_synthetic(64, 4, 3, 16, seed=5)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.dtype == torch.uint8 and x1.shape == (64, 3, 16, 16)
    assert set(y1.tolist()) == {0, 1, 2, 3}
    assert not torch.equal(make_synthetic(64, 4, 3, 16, seed=6)[0], x1)


def test_random_crop_is_a_translated_window_of_the_padded_image():
    images = torch.arange(2 * 1 * 5 * 5, dtype=torch.uint8).view(2, 1, 5, 5)
    cropped = random_crop(images, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    assert cropped.shape == images.shape
    for n in range(2):
        windows = [padded[n, :, dy : dy + 5, dx : dx + 5] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(cropped[n], w) for w in windows)


def test_random_flip_flips_about_half_the_batch_horizontally():
    images = torch.arange(200 * 4, dtype=torch.float32).view(200, 1, 2, 2)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    is_flipped = [torch.equal(flipped[i], images[i].flip(-1)) for i in range(200)]
    assert all(is_flipped[i] or torch.equal(flipped[i], images[i]) for i in range(200))
    assert 60 < sum(is_flipped) < 140


@pytest.mark.skipif(not REAL_FMNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_system_copy(tmp_path):
    raw = load_raw(compose_settings(["dataset.download=false"]).dataset, tmp_path)
    assert raw.train_x.shape == (60000, 1, 28, 28) and raw.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(raw.train_y).tolist() == [6000] * 10
    assert torch.bincount(raw.test_y).tolist() == [1000] * 10


# ----------------------------------------------------------------------------------------------- translation test
def test_shift_images_moves_each_image_by_n_pixels_in_its_direction_with_zero_fill():
    from poolbench.data.batches import SHIFT_DIRECTIONS, shift_images

    images = torch.randint(1, 256, (10, 2, 9, 9), dtype=torch.uint8)  # no zeros: the fill is visible
    shifted = shift_images(images, 3)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    for index in range(len(images)):
        dy, dx = SHIFT_DIRECTIONS[index % 8]
        expected = torch.zeros_like(images[index])
        rows_to, rows_from = slice(max(0, 3 * dy), 9 + min(0, 3 * dy)), slice(max(0, -3 * dy), 9 + min(0, -3 * dy))
        cols_to, cols_from = slice(max(0, 3 * dx), 9 + min(0, 3 * dx)), slice(max(0, -3 * dx), 9 + min(0, -3 * dx))
        expected[:, rows_to, cols_to] = images[index][:, rows_from, cols_from]
        assert torch.equal(shifted[index], expected), index
    assert torch.equal(shift_images(images, 0), images)
    assert len(set(SHIFT_DIRECTIONS)) == 8 and (0, 0) not in SHIFT_DIRECTIONS
