"""trainer.precision: what auto resolves to (the capability check mocked, never the speed), the record and the
checkpoint saying which precision ran, the replaced trainer.amp key, and the per-epoch evaluation of
trainer.curves (what is not evaluated stays empty; final metrics are always complete)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from poolbench import runtime
from poolbench.config.replaced import check_replaced_overrides
from poolbench.errors import ConfigError, RecordError
from poolbench.record import read_epochs
from poolbench.run import run
from poolbench.runtime import cpu_flags, cpu_has_native_bf16, resolve_precision, step_context
from tests.conftest import TINY, compose_settings, run_cli

CPU = torch.device("cpu")


@pytest.mark.parametrize("native, expected", [(False, "fp32"), (True, "bf16")])
def test_auto_follows_the_cpu_capability_check(monkeypatch, native, expected):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", CPU) == expected
    trainer = compose_settings([*TINY, "trainer.precision=auto"]).trainer
    assert step_context(CPU, trainer).precision == expected
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"  # as asked


def test_bf16_is_refused_where_there_is_no_bf16_autocast():
    with pytest.raises(ConfigError, match="trainer.precision"):
        resolve_precision("bf16", torch.device("mps"))
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


@pytest.mark.parametrize(
    "flags, mkldnn, native",
    [
        ("fpu sse avx2 avx512f avx512bw", True, False),  # AVX-512 without BF16: oneDNN emulates bf16 (slower)
        ("fpu avx2 avx512f avx512_bf16", True, True),
        ("fpu avx2 amx_bf16 amx_tile", True, True),
        ("fpu avx2 avx512_bf16", False, False),  # torch's oneDNN cannot use it
    ],
)
def test_native_bf16_needs_the_cpu_flag_and_onednn(tmp_path, monkeypatch, flags, mkldnn, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == frozenset(flags.split())
    monkeypatch.setattr(runtime, "cpu_flags", lambda: cpu_flags(cpuinfo))
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: mkldnn, raising=False)
    assert cpu_has_native_bf16() is native


def test_no_cpuinfo_means_no_flags(tmp_path):
    assert cpu_flags(tmp_path / "absent") == frozenset()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_record_says_which_precision_ran(tmp_path, precision):
    record = run(compose_settings([*TINY, f"trainer.precision={precision}"], output_dir=tmp_path))
    assert record.status == "ok" and record.precision == precision


def test_a_checkpoint_of_another_precision_is_not_resumed(tmp_path):
    """A bf16 checkpoint resumed where the run resolves to fp32 (auto on another machine) would mix precisions."""
    from poolbench.models import build_classifier
    from poolbench.training.checkpoint import resume
    from poolbench.training.optim import build_train_step

    settings = compose_settings([*TINY, "trainer.epochs=1", "trainer.precision=bf16"], output_dir=tmp_path)
    bf16_run = run(settings)
    assert bf16_run.status == "ok" and (tmp_path / "checkpoint.pt").is_file()
    model, _ = build_classifier(settings.backbone, settings.head, 1, 12, 4)
    fp32 = step_context(CPU, compose_settings([*TINY, "trainer.precision=fp32"]).trainer)
    with pytest.raises(RecordError, match="trained in bf16.*trainer.precision=bf16"):
        resume(
            tmp_path / "checkpoint.pt", bf16_run.run_key, model, build_train_step(model, settings.trainer, fp32, 11), 1
        )


def test_trainer_amp_is_named_as_replaced_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as raised:
        check_replaced_overrides(["head=gap", "trainer.amp=true"])
    assert "trainer.amp" in str(raised.value) and "trainer.precision" in str(raised.value)
    out = run_cli([*TINY, "trainer.amp=true"], cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"poolbench: {raised.value}"]


@pytest.mark.parametrize("value", ["[val,val]", "[val,tets]", "val"])
def test_curves_must_name_distinct_splits(value):
    with pytest.raises(ConfigError, match="trainer.curves"):
        compose_settings([*TINY, f"trainer.curves={value}"])


def test_best_val_acc_as_the_objective_needs_the_val_curve():
    with pytest.raises(
        ConfigError, match=r"trainer.curves=\['train'\].*objective=best_val_acc.*trainer.curves=\[train,val\]"
    ):
        compose_settings([*TINY, "trainer.curves=[train]", "objective=best_val_acc"])
    assert compose_settings([*TINY, "trainer.curves=[train]", "objective=val_acc"]).trainer.curves == ("train",)


def test_without_a_val_curve_the_final_metrics_are_complete_and_best_val_acc_is_null(tmp_path: Path):
    record = run(compose_settings([*TINY, "trainer.curves=[train]"], output_dir=tmp_path))
    rows = read_epochs(tmp_path)
    assert all(row["train_acc"] is not None and row["val_acc"] is None for row in rows)
    assert record.best_val_acc is None
    assert None not in (record.val_acc, record.val_loss, record.test_acc, record.train_acc, record.gap_acc)


def test_curves_val_evaluates_only_validation_per_epoch_and_everything_at_the_end(tmp_path: Path):
    full = run(compose_settings(TINY, output_dir=tmp_path / "full"))
    lean = run(compose_settings([*TINY, "trainer.curves=[val]"], output_dir=tmp_path / "lean"))
    rows = read_epochs(tmp_path / "lean")
    assert all(row["val_acc"] is not None for row in rows)
    assert all(row[key] is None for row in rows for key in ("train_acc", "train_loss", "test_acc", "test_loss"))
    assert lean.run_key != full.run_key  # another config: what the epochs.csv holds differs
    # the same training, the same final numbers: per-epoch evaluation does not touch the model
    for key in ("test_acc", "test_loss", "val_acc", "train_acc", "train_loss", "best_val_acc"):
        assert getattr(lean, key) == pytest.approx(getattr(full, key), rel=1e-9), key
    assert lean.eval_seconds < full.eval_seconds
