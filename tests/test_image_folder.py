"""dataset=image_folder: real PNG and JPEG files in both layouts, the on-disk cache, and each bad-input message."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import poolbench.data.image_folder as image_folder
from poolbench.data.cache import CACHE_FOLDER
from poolbench.data.load import forget_loaded, load_raw
from poolbench.data.splits import prepare_data
from poolbench.errors import ConfigError, DataError
from poolbench.record import RunRecord, compute_run_key, read_epochs, read_result, write_result
from poolbench.run import run
from poolbench.sweep.preflight import check_data
from poolbench.sweep.rundir import RunDirConflict, done_record, read_folder
from tests.conftest import compose_settings, run_cli

CLASSES = ("cat", "dog", "fox")


def write_image(path: Path, value: int, size: tuple[int, int] = (20, 14), kind: str = "PNG") -> None:
    """A real image file: an RGB gradient whose level encodes ``value`` (so labels can be checked from pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    pixels[:, :, 1] = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :]
    Image.fromarray(pixels, mode="RGB").save(path, format=kind)


def write_class_folders(folder: Path, per_class: int, classes=CLASSES) -> None:
    """One sub-folder per class, PNG and JPEG mixed; the red channel is 40 * (class index + 1)."""
    for index, name in enumerate(classes):
        for i in range(per_class):
            kind = "JPEG" if i % 2 else "PNG"
            write_image(folder / name / f"{i}.{kind.lower()}", 40 * (index + 1), kind=kind)


def settings(root: Path, *extra: str):
    forget_loaded()
    overrides = ["dataset=image_folder", f"dataset.root={root}", "dataset.num_classes=3", "dataset.image_size=8"]
    return compose_settings([*overrides, *extra]).dataset


def red_level_class(images: torch.Tensor) -> list[int]:
    """The class a test image was written for, read back from its red channel (JPEG is lossy: nearest level)."""
    return [round(float(image[0].float().mean()) / 40) - 1 for image in images]


def test_one_folder_is_split_by_test_fraction_with_a_fixed_seed(tmp_path):
    write_class_folders(tmp_path / "images", per_class=10)
    raw = load_raw(settings(tmp_path / "images", "dataset.test_fraction=0.2"), tmp_path / "data")
    assert raw.train_x.shape == (24, 3, 8, 8) and raw.test_x.shape == (6, 3, 8, 8)
    assert raw.train_x.dtype == torch.uint8 and raw.val_x is None
    assert red_level_class(raw.train_x) == raw.train_y.tolist() and red_level_class(raw.test_x) == raw.test_y.tolist()
    again = load_raw(settings(tmp_path / "images", "dataset.test_fraction=0.2"), tmp_path / "data")
    assert torch.equal(again.test_y, raw.test_y) and torch.equal(again.test_x, raw.test_x)
    other = load_raw(settings(tmp_path / "images", "dataset.test_fraction=0.2", "dataset.split_seed=1"), tmp_path)
    assert not torch.equal(other.test_x, raw.test_x)


def test_train_val_test_folders_are_used_as_given(tmp_path):
    for split, count in (("train", 4), ("val", 2), ("test", 3)):
        write_class_folders(tmp_path / "images" / split, per_class=count)
    dataset = settings(tmp_path / "images", "dataset.channels=1")
    raw = load_raw(dataset, tmp_path / "data")
    assert raw.train_x.shape == (12, 1, 8, 8) and raw.test_x.shape == (9, 1, 8, 8)
    assert raw.val_x is not None and raw.val_x.shape == (6, 1, 8, 8)
    assert raw.test_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # sorted class folder names
    bundle = prepare_data(dataset, tmp_path / "data", torch.device("cpu"))
    assert len(bundle.train) == 12 and len(bundle.val) == 6 and len(bundle.test) == 9
    subsets = settings(tmp_path / "images", "dataset.channels=1", "dataset.train_samples=6", "dataset.test_samples=3")
    bundle = prepare_data(subsets, tmp_path / "data", torch.device("cpu"))
    assert sorted(bundle.train.y.tolist()) == [0, 0, 1, 1, 2, 2] and sorted(bundle.test.y.tolist()) == [0, 1, 2]


def test_mean_and_std_are_measured_on_the_train_split(tmp_path):
    write_class_folders(tmp_path / "images", per_class=6)
    dataset = settings(tmp_path / "images")
    assert dataset.mean is None
    bundle = prepare_data(dataset, tmp_path / "data", torch.device("cpu"))
    train = bundle.train.x.double() / 255
    assert torch.allclose(bundle.mean.view(3).double(), train.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(bundle.std.view(3).double(), train.std(dim=(0, 2, 3), unbiased=False), atol=1e-5)


def test_second_load_comes_from_the_cache_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch):
    write_class_folders(tmp_path / "images", per_class=4)
    first = load_raw(settings(tmp_path / "images"), tmp_path / "data")
    assert len(list((tmp_path / "data" / CACHE_FOLDER).glob("image_folder-*.pt"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the folder did not change")

    monkeypatch.setattr(image_folder, "decode_image", no_decoding)
    cached = load_raw(settings(tmp_path / "images"), tmp_path / "data")
    assert torch.equal(cached.train_x, first.train_x) and torch.equal(cached.test_y, first.test_y)

    changed = tmp_path / "images" / "dog" / "0.png"
    write_image(changed, 200)
    os.utime(changed, ns=(1, 1))  # a different mtime even on file systems with coarse timestamps
    with pytest.raises(AssertionError, match="decoded although"):
        load_raw(settings(tmp_path / "images"), tmp_path / "data")


def test_cache_is_keyed_by_the_decoding_settings_too(tmp_path):
    write_class_folders(tmp_path / "images", per_class=4)
    load_raw(settings(tmp_path / "images"), tmp_path / "data")
    bigger = load_raw(settings(tmp_path / "images", "dataset.image_size=12"), tmp_path / "data")
    assert bigger.train_x.shape[2:] == (12, 12)
    assert len(list((tmp_path / "data" / CACHE_FOLDER).glob("*.pt"))) == 2


def test_unreadable_image_is_named(tmp_path):
    write_class_folders(tmp_path / "images", per_class=3)
    broken = tmp_path / "images" / "fox" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(DataError, match=rf"Cannot read the image {broken} .*replace or remove the file"):
        load_raw(settings(tmp_path / "images"), tmp_path / "data")
    assert not (tmp_path / "data" / CACHE_FOLDER).exists()  # nothing half-written


def test_empty_class_folder_is_named(tmp_path):
    write_class_folders(tmp_path / "images", per_class=3)
    (tmp_path / "images" / "emu").mkdir()
    (tmp_path / "images" / "emu" / "notes.txt").write_text("not an image")
    (tmp_path / "images" / "emu" / "._0.png").write_bytes(b"\x00\x05\x16\x07 a macOS resource fork")
    with pytest.raises(DataError, match=r"class folder .*emu holds no images"):
        load_raw(settings(tmp_path / "images"), tmp_path / "data")


def test_a_single_class_is_refused(tmp_path):
    write_class_folders(tmp_path / "images", per_class=3, classes=("cat",))
    with pytest.raises(DataError, match="only the class folder 'cat'.*at least two classes"):
        load_raw(settings(tmp_path / "images"), tmp_path / "data")


def test_classes_that_differ_between_train_and_test_are_listed(tmp_path):
    write_class_folders(tmp_path / "images" / "train", per_class=2)
    write_class_folders(tmp_path / "images" / "test", per_class=2, classes=("cat", "dog", "owl"))
    with pytest.raises(DataError, match=r"classes of .*test differ from those of .*train: missing fox; extra owl"):
        load_raw(settings(tmp_path / "images"), tmp_path / "data")


def test_wrong_num_classes_is_a_config_error_naming_the_fix(tmp_path):
    write_class_folders(tmp_path / "images", per_class=2)
    with pytest.raises(ConfigError, match=r"num_classes=5.*3: the class folders of .* \(cat, dog, fox\).*=3"):
        settings(tmp_path / "images", "dataset.num_classes=5")


def test_num_classes_is_counted_from_the_folders_when_not_set(tmp_path):
    write_class_folders(tmp_path / "images", per_class=2)
    forget_loaded()
    counted = compose_settings(["dataset=image_folder", f"dataset.root={tmp_path / 'images'}"])
    assert counted.dataset.num_classes == 3 and counted.resolved["dataset"]["num_classes"] == 3
    assert counted.dataset.content_key == counted.resolved["dataset"]["content_key"] is not None
    with pytest.raises(ConfigError, match=r"Missing config key: dataset.num_classes=None.*only dataset=image_folder"):
        compose_settings(["dataset=synthetic", "dataset.num_classes=null"])


def test_missing_root_is_a_config_error():
    with pytest.raises(ConfigError, match="dataset.root.*required by dataset.kind=image_folder"):
        compose_settings(["dataset=image_folder"])


def test_a_run_on_an_image_folder_writes_its_record(tmp_path):
    write_class_folders(tmp_path / "images", per_class=12)
    forget_loaded()
    overrides = [
        "dataset=image_folder",
        f"dataset.root={tmp_path / 'images'}",
        "dataset.num_classes=3",
        "dataset.image_size=12",
        f"data_dir={tmp_path / 'data'}",
        "backbone.widths=[8,16]",
        "trainer.epochs=2",
        "trainer.batch_size=8",
        "trainer.threads=1",
        "progress=false",
    ]
    record = run(compose_settings(overrides, output_dir=tmp_path / "run"))
    assert record.status == "ok" and record.dataset == "image_folder" and record.epochs_completed == 2


def test_the_train_curve_of_a_class_ordered_folder_matches_the_final_train_accuracy(tmp_path):
    """An image folder lists its images class by class: the per-epoch train curve must sample the whole train
    split, not its first images (all of the first class). Classes "a" and "b" hold one identical image, so no
    model gets both right and the accuracy differs by class: a curve of class "a" alone would be 0 or 1, while
    the whole split's accuracy is about 2/3."""
    for name, value in (("a", 90), ("b", 90), ("c", 200)):
        for i in range(60):
            write_image(tmp_path / "images" / name / f"{i:02d}.png", value, size=(8, 8))
    forget_loaded()
    overrides = [
        "dataset=image_folder",
        f"dataset.root={tmp_path / 'images'}",
        "dataset.num_classes=3",
        "dataset.image_size=8",
        f"data_dir={tmp_path / 'data'}",
        "backbone.widths=[8,16]",
        "trainer.epochs=2",
        "trainer.batch_size=16",
        "trainer.threads=1",
        "deploy.measure=false",
        "progress=false",
    ]
    record = run(compose_settings(overrides, output_dir=tmp_path / "run"))
    last_epoch = read_epochs(tmp_path / "run")[-1]
    assert record.train_acc is not None and 0.2 < record.train_acc < 0.8
    assert abs(last_epoch["train_acc"] - record.train_acc) < 0.06  # the curve: 36 of 130 train images


def test_train_samples_may_use_every_image_when_the_folder_has_its_own_val_split(tmp_path):
    for split in ("train", "val", "test"):
        write_class_folders(tmp_path / "images" / split, per_class=2)
    forget_loaded()
    overrides = ["dataset=image_folder", f"dataset.root={tmp_path / 'images'}", "dataset.num_classes=3"]
    check_data(compose_settings([*overrides, f"data_dir={tmp_path}", "dataset.train_samples=6"]))
    with pytest.raises(ConfigError, match="dataset.train_samples=7.*at most 6"):
        check_data(compose_settings([*overrides, f"data_dir={tmp_path}", "dataset.train_samples=7"]))


def test_changed_images_train_again_and_the_same_images_skip(tmp_path):
    """The images' content key is in the run key: the same folder skips its finished run, a changed one trains
    again in the same run directory, and the record and config.yaml say which images the run saw."""
    write_class_folders(tmp_path / "images", per_class=5)
    args = [
        "dataset=image_folder",
        f"dataset.root={tmp_path / 'images'}",
        "dataset.image_size=8",
        "dataset.val_fraction=0.25",  # 3 of the 12 train images: one per class, the minimum
        f"data_dir={tmp_path / 'data'}",
        f"paths.results_dir={tmp_path / 'results'}",
        "backbone.widths=[8,16]",
        "trainer.epochs=1",
        "trainer.batch_size=8",
        "trainer.threads=1",
        "deploy.measure=false",
        "progress=false",
    ]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    (run_dir,) = [path.parent for path in (tmp_path / "results").rglob("result.json")]
    before = read_result(run_dir)
    assert before.content_key is not None and before.content_key in (run_dir / "config.yaml").read_text()

    same = run_cli(args, cwd=tmp_path)
    assert same.returncode == 0 and "skipped" in same.stdout + same.stderr
    assert read_result(run_dir).finished_at == before.finished_at

    for image in (tmp_path / "images" / "fox").iterdir():  # one class's images replaced by more, other ones
        image.unlink()
    for i in range(7):
        write_image(tmp_path / "images" / "fox" / f"new{i}.png", 120 + i)
    changed = run_cli(args, cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert "changed since its run" in changed.stdout + changed.stderr
    after = read_result(run_dir)
    assert after.content_key not in (None, before.content_key) and after.run_key != before.run_key
    assert f"content_key: {after.content_key}" in (run_dir / "config.yaml").read_text()


def test_a_run_recorded_without_the_content_key_trains_again_but_another_config_is_refused(tmp_path):
    """A record written before runs kept their images' content key: which images it saw is unknown, so it is
    stale (trained again, not refused); a record of another config still stops with RunDirConflict."""
    write_class_folders(tmp_path / "images", per_class=2)
    forget_loaded()
    settings = compose_settings(["dataset=image_folder", f"dataset.root={tmp_path / 'images'}"])
    resolved, run_dir = settings.resolved, tmp_path / "run"
    older = {**resolved, "dataset": {k: v for k, v in resolved["dataset"].items() if k != "content_key"}}
    record = RunRecord("ok", compute_run_key(older), "image_folder", "small_cnn", "gap", 0, 1)
    write_result(run_dir, record)

    def done():
        return done_record(run_dir, settings.run_key, read_folder(run_dir, settings.run_key, resolved), force=False)

    assert read_folder(run_dir, settings.run_key, resolved).kind == "stale" and done() is None
    assert not (run_dir / "result.json").exists()
    write_result(run_dir, replace(record, run_key=compute_run_key({**older, "seed": 7})))
    assert read_folder(run_dir, settings.run_key, resolved).kind == "other"
    with pytest.raises(RunDirConflict):
        done()
