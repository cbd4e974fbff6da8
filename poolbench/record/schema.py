"""``RunRecord``: the fields of ``result.json``, each declared once (``poolbench.record.fields.declare``), and
the schema's versions: a record written by an older poolbench is migrated on reading (``RENAMED_FIELDS``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from poolbench.errors import RecordError
from poolbench.record.fields import (
    ACCURACY,
    COUNT,
    EPOCHS,
    KILOBYTES,
    LOSS,
    MILLIONS,
    MILLISECONDS,
    PER_SECOND,
    PLAIN,
    SECONDS,
    declare,
    declare_keyed,
)

SCHEMA_VERSION = 2
# Older record shapes this poolbench still reads: schema_version -> {old field name: current name}. Version 1
# called the generalization gap gap_acc/gap_loss ("gap" also names the GAP head); version 2 overfit_acc/_loss.
RENAMED_FIELDS: dict[int, dict[str, str]] = {1: {"gap_acc": "overfit_acc", "gap_loss": "overfit_loss"}}
STATUSES = ("ok", "diverged", "failed")
SHOWN = ("summary", "main", "trackers")
TRACKED = ("trackers",)
REQUIRED: Any = MISSING


@dataclass
class RunRecord:
    status: str = declare("status", PLAIN, "status", default=REQUIRED)
    run_key: str = declare("run key", PLAIN, "identity", default=REQUIRED)
    dataset: str = declare("dataset", PLAIN, "identity", default=REQUIRED)
    backbone: str = declare("backbone", PLAIN, "identity", default=REQUIRED)
    head: str = declare("head", PLAIN, "identity", default=REQUIRED)
    seed: int = declare("seed", PLAIN, "identity", default=REQUIRED)
    epochs: int = declare("epochs", EPOCHS, "config", default=REQUIRED)
    schema_version: int = declare("schema version", PLAIN, "status", default=SCHEMA_VERSION)
    error: str | None = declare("error", PLAIN, "status")
    test_acc: float | None = declare(
        "test acc %", ACCURACY, "accuracy", "mean", SHOWN, latex="Test acc.\n(\\%)", ci=True
    )
    test_loss: float | None = declare("test loss", LOSS, "accuracy", shown=TRACKED)
    val_acc: float | None = declare("val acc %", ACCURACY, "accuracy", "mean", TRACKED)
    val_loss: float | None = declare("val loss", LOSS, "accuracy")
    best_val_acc: float | None = declare("best val acc %", ACCURACY, "accuracy", "mean", TRACKED)
    # The first epoch whose per-epoch train accuracy reached 90 % ("easier to train"; None: never, or no curve).
    epochs_to_train_acc_90: int | None = declare("epochs to 90 % train acc", EPOCHS, "accuracy")
    train_acc: float | None = declare("train acc %", ACCURACY, "accuracy", "mean", TRACKED)
    train_loss: float | None = declare("train loss", LOSS, "accuracy", shown=TRACKED)
    # The generalization gap: train_acc - test_acc (schema 1: gap_acc); test_loss - train_loss (schema 1: gap_loss).
    overfit_acc: float | None = declare(
        "generalization gap pp", ACCURACY, "accuracy", "mean", ("summary", "trackers"), latex="Generalization\ngap (pp)"
    )
    overfit_loss: float | None = declare(
        "loss gap", LOSS, "accuracy", "mean", ("summary", "trackers"), latex="Loss gap\n(test $-$ train)"
    )
    params_total: int | None = declare("params", COUNT, "cost", "first", ("cost", "main"), latex="Params\n(total)")
    params_backbone: int | None = declare(
        "backbone params", COUNT, "cost", "first", ("cost",), latex="Params\n(backbone)"
    )
    params_head: int | None = declare("head params", COUNT, "cost", "first", ("cost",), latex="Params\n(head)")
    # Forward multiply-adds per image (what papers quote as "FLOPs" or "mult-adds"); FLOPs: 2 per multiply-add
    # (torch.utils.flop_counter).
    macs_per_image: int | None = declare(
        "M mult-adds/img", MILLIONS, "cost", "first", ("cost",), latex="M mult-\nadds/img"
    )
    flops_per_image: int | None = declare(
        "MFLOPs/img (2 per mult-add)", MILLIONS, "cost", "first", ("cost",), latex="MFLOPs\nper image"
    )
    model_bytes: int | None = declare(
        "model KB", KILOBYTES, "cost", "first", ("cost",), latex="Size\n(KB)"
    )  # torch.save
    # Deployment timing (poolbench.deploy), on the CPU after training when deploy.measure is true: batch 1, median
    # over deploy.repeats calls after warm-up; images/s at deploy.batch_size, median over deploy.batch_repeats.
    latency_ms: float | None = declare(
        "CPU latency ms (batch 1)", MILLISECONDS, "timing", "mean", ("cost",), latex="CPU lat.\n(ms)"
    )
    throughput_ips: float | None = declare("CPU img/s (batch)", PER_SECOND, "timing", "mean", ("markdown",))
    # The training steps alone (the epochs' data and steps), wall seconds, and their images per second.
    train_seconds: float | None = declare("train s", SECONDS, "timing", "mean", ("cost",), latex="Train\ntime (s)")
    images_per_second: float | None = declare("img/s", PER_SECOND, "timing", "mean", ("cost",), latex="Images\nper s")
    # What the step and every evaluation computed in: fp32 or bf16 (trainer.precision resolved on this machine);
    # null in records made before the field. Runs of another precision are another comparison (docs/performance.md).
    precision: str | None = declare("precision", PLAIN, "config")
    # How the run's wall time split, in seconds (null in older records): start-up (data, model, cost counting),
    # train_seconds, per-epoch evaluation (trainer.curves), final metrics and tests (final train/val/test,
    # translation test, other input sizes), deployment measurement (size, in-run timing); run_seconds is all of
    # the run (for a resumed run: this attempt plus the training and evaluation carried in its checkpoint).
    startup_seconds: float | None = declare("start-up s", SECONDS, "timing")
    eval_seconds: float | None = declare("per-epoch eval s", SECONDS, "timing")
    final_eval_seconds: float | None = declare("final tests s", SECONDS, "timing")
    deploy_seconds: float | None = declare("deployment s", SECONDS, "timing")
    run_seconds: float | None = declare("run s", SECONDS, "timing")
    train_cpu_seconds: float | None = declare("train CPU s", SECONDS, "timing")  # process CPU s (all threads)
    run_cpu_seconds: float | None = declare("run CPU s", SECONDS, "timing")  # of this attempt of the run
    pool_params: dict[str, Any] = declare_keyed("learned pooling parameters", PLAIN, "accuracy")
    # The translation test ({"pixels": test accuracy}), its consistency (share of test images keeping their
    # unshifted prediction) and its circular-shift (torch.roll) variant; see poolbench.training.evaluate.ShiftTest.
    shift_acc: dict[str, float] = declare_keyed("shifted test acc %", ACCURACY, "accuracy")
    shift_consistency: dict[str, float] = declare_keyed("shift consistency %", ACCURACY, "accuracy")
    shift_circular_acc: dict[str, float] = declare_keyed("circular-shift acc %", ACCURACY, "accuracy")
    shift_circular_consistency: dict[str, float] = declare_keyed("circular-shift consistency %", ACCURACY, "accuracy")
    deploy_batch_size: int | None = declare("deployment batch", PLAIN, "config")
    deploy_threads: int | None = declare("deployment threads", PLAIN, "config")  # CPU threads the timing used
    # Other input sizes: {"px": test accuracy} (null: cannot run), {"px": why the model cannot run at that size};
    # runs_other_sizes: runs at every deploy.eval_sizes (or image_size + 4) other than its own.
    size_acc: dict[str, float | None] = declare_keyed("test acc at size %", ACCURACY, "accuracy")
    size_errors: dict[str, str] = declare_keyed("why not at size", PLAIN, "accuracy")
    runs_other_sizes: bool | None = declare("runs at other sizes", PLAIN, "accuracy")
    device: str | None = declare("device", PLAIN, "provenance")
    torch_version: str | None = declare("torch", PLAIN, "provenance")
    poolbench_version: str | None = declare("poolbench", PLAIN, "provenance")
    git_sha: str | None = declare("git", PLAIN, "provenance")
    started_at: str | None = declare("started", PLAIN, "provenance")
    finished_at: str | None = declare("finished", PLAIN, "provenance")
    epochs_completed: int = declare("epochs done", PLAIN, "status", default=0)
    # A failed or interrupted run: the checkpoint a rerun resumes from.
    checkpoint: str | None = declare("checkpoint", PLAIN, "status")
    # The data's identity where its files can change under the same path (an image folder's content key,
    # poolbench/config/folder_layout.py; also dataset.content_key in config.yaml and in the run key). None: the
    # dataset is fixed by its config (published files with checksums, or generated from a seed).
    content_key: str | None = declare("data content key", PLAIN, "config")

    def to_json(self) -> dict[str, Any]:
        return {key: _json_safe(value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], origin: str = "result.json") -> RunRecord:
        data = migrate(data, origin)
        known = {f.name for f in fields(cls)}
        missing = [name for name in required_fields(cls) if data.get(name) is None]
        if missing:
            raise RecordError(f"{origin}: missing required field(s) {', '.join(missing)}; the record is incomplete.")
        if data["status"] not in STATUSES:
            raise RecordError(f"{origin}: status {data['status']!r} is not one of {', '.join(STATUSES)}.")
        return cls(**{key: value for key, value in data.items() if key in known})


def migrate(data: Mapping[str, Any], origin: str = "result.json") -> dict[str, Any]:
    """A result.json of any readable schema_version in the current shape (old field names renamed, the version
    set to ``SCHEMA_VERSION``); RecordError for a version this poolbench does not know."""
    version = data.get("schema_version")
    if version != SCHEMA_VERSION and version not in RENAMED_FIELDS:
        readable = ", ".join(str(v) for v in sorted({*RENAMED_FIELDS, SCHEMA_VERSION}))
        raise RecordError(f"{origin}: unknown schema_version {version!r} (this poolbench reads {readable}).")
    renames = RENAMED_FIELDS.get(version, {}) if isinstance(version, int) else {}
    migrated = {renames.get(key, key): value for key, value in data.items()}
    migrated["schema_version"] = SCHEMA_VERSION
    return migrated


def required_fields(record_type: type = RunRecord) -> list[str]:
    """The record fields without a default: a record lacking any of them cannot be read."""
    return [f.name for f in fields(record_type) if f.default is MISSING and f.default_factory is MISSING]


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON: store them as null (a diverged run's loss, say)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value
