"""The run record: the only contract between training and reporting.

One directory per run holds ``config.yaml`` (the resolved config), ``result.json`` (the fields of
``RunRecord``), ``epochs.csv`` (one row per epoch) and ``checkpoint.pt``. Every file is written atomically; a
run is *done* only when ``result.json`` exists with ``status == "ok"``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from poolbench.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from poolbench.errors import RecordError

SCHEMA_VERSION = 1
RESULT_FILE = "result.json"
EPOCHS_FILE = "epochs.csv"
CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.pt"
DEPLOY_TIMING_FILE = "deploy_timing.json"  # written after the run by poolbench-deploy (poolbench/deploy/command.py)
# Per-image predictions on the test images (numpy .npz): what a CI over test images needs (docs/claims.md).
PREDICTIONS_FILE = "predictions.npz"
# Its arrays, one entry per scored test image, in the same order in every run of a cell:
#   test_index  int32  the image's index in the dataset's own test split (runs of a cell share these)
#   test_label  int16  its true class
#   test_pred   int16  the run's predicted class (argmax of the logits)
#   test_loss   float16 the run's cross-entropy on it
#   shift_pred_<k>  int16  the predicted class under the translation test's zero-fill shift of k px (optional)
PREDICTION_ARRAYS = ("test_index", "test_label", "test_pred", "test_loss")
STATUSES = ("ok", "diverged", "failed")
EPOCH_COLUMNS = [
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "seconds",
]
# The one list of config keys (dotted; a key covers everything under it) that name where things go or how
# fast, not what is computed: they do not change the run key, the run directory or a report's grouping.
NON_SEMANTIC_KEYS = (
    "paths",
    "data_dir",
    "hydra",
    "name",
    "progress",
    "force",
    "jobs",
    "report_on_sweep_end",
    "trainer.threads",
    "logger",  # where metrics are also sent (TensorBoard, MLflow, W&B)
    "deploy.repeats",  # how long the deployment timings run, and on how many threads
    "deploy.batch_repeats",
    "deploy.threads",
    "objective",  # what a sweeper optimises, not what a run computes
)

# Record fields that are wall-clock measurements: they differ between two runs of one config (and between a
# resumed run and an uninterrupted one) while everything else is equal.
# The time split of a run (seconds) and its CPU seconds are wall-clock measurements too.
TIME_SPLIT_FIELDS = ("startup_seconds", "train_seconds", "eval_seconds", "final_eval_seconds", "deploy_seconds")
TIMES = (*TIME_SPLIT_FIELDS, "run_seconds", "train_cpu_seconds", "run_cpu_seconds", "images_per_second")
WALL_CLOCK_FIELDS = (*TIMES, "latency_ms", "throughput_ips", "started_at", "finished_at")


def is_semantic(dotted_key: str) -> bool:
    """False for a key in ``NON_SEMANTIC_KEYS`` or under one of them."""
    return not any(dotted_key == key or dotted_key.startswith(f"{key}.") for key in NON_SEMANTIC_KEYS)


@dataclass
class RunRecord:
    status: str
    run_key: str
    dataset: str
    backbone: str
    head: str
    seed: int
    epochs: int
    schema_version: int = SCHEMA_VERSION
    error: str | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    val_acc: float | None = None
    val_loss: float | None = None
    best_val_acc: float | None = None
    # The first epoch whose per-epoch train accuracy reached 90 % ("easier to train"; None: never, or no curve).
    epochs_to_train_acc_90: int | None = None
    train_acc: float | None = None
    train_loss: float | None = None
    gap_acc: float | None = None
    gap_loss: float | None = None
    params_total: int | None = None
    params_backbone: int | None = None
    params_head: int | None = None
    flops_per_image: int | None = None  # forward FLOPs per image, 2 per multiply-add (torch.utils.flop_counter)
    macs_per_image: int | None = None  # forward multiply-adds per image (what papers quote as "FLOPs" or "mult-adds")
    train_seconds: float | None = None  # the training steps alone (the epochs' data and steps), wall seconds
    images_per_second: float | None = None
    # What the step and every evaluation computed in: fp32 or bf16 (trainer.precision resolved on this machine);
    # null in records made before the field. Runs of another precision are another comparison (docs/performance.md).
    precision: str | None = None
    # How the run's wall time split, in seconds (null in older records): start-up (data, model, cost counting),
    # train_seconds, per-epoch evaluation (trainer.curves), final metrics and tests (final train/val/test,
    # translation test, other input sizes), deployment measurement (size, in-run timing); run_seconds is all of
    # the run (for a resumed run: this attempt plus the training and evaluation carried in its checkpoint).
    startup_seconds: float | None = None
    eval_seconds: float | None = None
    final_eval_seconds: float | None = None
    deploy_seconds: float | None = None
    run_seconds: float | None = None
    train_cpu_seconds: float | None = None  # process CPU seconds (all threads) of the training steps
    run_cpu_seconds: float | None = None  # process CPU seconds of this attempt of the run
    pool_params: dict[str, Any] = field(default_factory=dict)
    shift_acc: dict[str, float] = field(default_factory=dict)  # translation test: {"pixels": test accuracy}
    # The translation test's consistency (share of test images keeping their unshifted prediction) and its
    # circular-shift (torch.roll) variant: {"pixels": fraction}; see poolbench.training.evaluate.ShiftTest.
    shift_consistency: dict[str, float] = field(default_factory=dict)
    shift_circular_acc: dict[str, float] = field(default_factory=dict)
    shift_circular_consistency: dict[str, float] = field(default_factory=dict)
    # Deployment cost (poolbench.deploy), measured on the CPU after training when deploy.measure is true.
    model_bytes: int | None = None  # the state_dict as torch.save writes it
    latency_ms: float | None = None  # batch 1, median over deploy.repeats calls after warm-up
    throughput_ips: float | None = None  # images/s at deploy.batch_size, median over deploy.batch_repeats calls
    deploy_batch_size: int | None = None
    deploy_threads: int | None = None  # CPU threads the timing used
    size_acc: dict[str, float | None] = field(default_factory=dict)  # {"px": test accuracy}; null: cannot run
    size_errors: dict[str, str] = field(default_factory=dict)  # {"px": why the model cannot run at that size}
    runs_other_sizes: bool | None = None  # runs at every deploy.eval_sizes (or image_size + 4) other than its own
    device: str | None = None
    torch_version: str | None = None
    poolbench_version: str | None = None
    git_sha: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    epochs_completed: int = 0
    checkpoint: str | None = None  # a failed or interrupted run: the checkpoint a rerun resumes from
    # The data's identity where its files can change under the same path (an image folder's content key,
    # poolbench/config/folder_layout.py; also dataset.content_key in config.yaml and in the run key). None: the
    # dataset is fixed by its config (published files with checksums, or generated from a seed).
    content_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: _json_safe(value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], origin: str = "result.json") -> RunRecord:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(f"{origin}: unknown schema_version {version!r} (this poolbench reads {SCHEMA_VERSION}).")
        known = {f.name for f in fields(cls)}
        missing = [name for name in required_fields() if data.get(name) is None]
        if missing:
            raise RecordError(f"{origin}: missing required field(s) {', '.join(missing)}; the record is incomplete.")
        if data["status"] not in STATUSES:
            raise RecordError(f"{origin}: status {data['status']!r} is not one of {', '.join(STATUSES)}.")
        return cls(**{key: value for key, value in data.items() if key in known})


def required_fields() -> list[str]:
    """The RunRecord fields without a default: a record lacking any of them cannot be read."""
    return [f.name for f in fields(RunRecord) if f.default is MISSING and f.default_factory is MISSING]


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON: store them as null (a diverged run's loss, say)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def compute_run_key(resolved_cfg: Mapping[str, Any]) -> str:
    """Hash of the resolved config minus output paths: equal keys mean the same computation."""
    semantic = _semantic_part(resolved_cfg, "")
    canonical = json.dumps(semantic, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _semantic_part(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    kept = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if is_semantic(dotted):
            kept[key] = _semantic_part(value, f"{dotted}.") if isinstance(value, Mapping) else value
    return kept


def write_config(run_dir: Path, config_yaml: str) -> None:
    atomic_write_text(run_dir / CONFIG_FILE, config_yaml)


def write_result(run_dir: Path, record: RunRecord) -> None:
    atomic_write_json(run_dir / RESULT_FILE, record.to_json())


def write_epochs(run_dir: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    extra = sorted({key for row in rows for key in row} - set(EPOCH_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EPOCH_COLUMNS + extra, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_value(row.get(key)) for key in EPOCH_COLUMNS + extra})
    atomic_write_text(run_dir / EPOCHS_FILE, buffer.getvalue())


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)  # shortest round-trip text: a resumed run's CSV compares byte for byte
    return "" if value is None else value


def read_result(path: Path) -> RunRecord:
    """Read ``result.json`` (or the run dir holding it); RecordError names the file if it is unusable."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such run record.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"{path}: unreadable run record ({error}). Delete it to rerun that run.") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: not a JSON object. Delete it to rerun that run.")
    return RunRecord.from_json(data, origin=str(path))


def write_predictions(run_dir: Path, arrays: Mapping[str, Any]) -> None:
    """Store a run's per-image predictions (``PREDICTION_ARRAYS`` and optional ``shift_pred_<k>``), compressed."""
    import numpy as np

    missing = [name for name in PREDICTION_ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"predictions lack {', '.join(missing)}")
    lengths = {len(values) for values in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"prediction arrays of different lengths: {sorted(lengths)}")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: np.asarray(values) for name, values in arrays.items()})  # type: ignore[arg-type]
    atomic_write_bytes(Path(run_dir) / PREDICTIONS_FILE, buffer.getvalue())


def read_predictions(run_dir: Path) -> dict[str, Any] | None:
    """A run's per-image predictions (name -> numpy array), or None where the run stored none (older records);
    RecordError names a file that is there but unreadable."""
    import numpy as np

    path = Path(run_dir) / PREDICTIONS_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError) as error:
        raise RecordError(f"{path}: unreadable predictions ({error}); delete it and rerun the run.") from None
    missing = [name for name in PREDICTION_ARRAYS if name not in arrays]
    if missing:
        raise RecordError(f"{path}: lacks {', '.join(missing)}; delete it and rerun the run.")
    return arrays


def read_epochs(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if path.is_dir():
        path = path / EPOCHS_FILE
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: _parse_number(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _parse_number(text: str) -> Any:
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


# deploy_timing.json -> the runs-frame column the report gives each value: the CPU latency (batch 1, ms) and
# throughput (images/s at cell_batch_size) of the run's head, medians and interquartile ranges over rounds that
# alternate between every head of the cell (runs that differ only in head and seed), timed in one process.
CELL_TIMING_COLUMNS = {
    "latency_ms": "cell_latency_ms",
    "latency_ms_iqr": "cell_latency_ms_iqr",
    "throughput_ips": "cell_throughput_ips",
    "throughput_ips_iqr": "cell_throughput_ips_iqr",
    "batch_size": "cell_batch_size",
    "threads": "cell_timing_threads",
    "rounds": "cell_timing_rounds",
    "cell_id": "cell_id",
    "heads": "cell_heads",
    # ONNX Runtime (CPU EP; 1 thread, all cores) medians, the latency ratio against flatten with its 95 % CI
    # (hierarchical bootstrap over timing processes and rounds; ratio: ONNX Runtime 1 thread), peak inference
    # memory at batch 1 (ONNX Runtime, fresh process) and its closed form, file sizes, parity and int8.
    **{key: f"cell_{key}" for key in ("latency_ms_ort_1", "latency_ms_ort_all", "throughput_ips_ort_1")},
    **{
        f"latency_ratio{tag}{end}": f"cell_latency_ratio{tag}{end}"
        for tag in ("", "_eager", "_ort_all")
        for end in ("", "_ci_low", "_ci_high")
    },
    "processes": "cell_timing_processes",
    **{key: key for key in ("peak_memory_bytes", "memory_estimate_bytes", "onnx_bytes", "int8_bytes")},
    **{key: key for key in ("int8_acc_delta", "parity_ok", "parity_max_abs_diff", "parity_argmax_agreement")},
}


def read_deploy_timing(run_dir: Path) -> dict[str, Any]:
    """The cell-timing columns of a run dir (all None without a deploy_timing.json); RecordError names a file
    that is there but unreadable."""
    path = Path(run_dir) / DEPLOY_TIMING_FILE
    columns: dict[str, Any] = dict.fromkeys(CELL_TIMING_COLUMNS.values())
    if not path.is_file():
        return columns
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        columns.update({column: data.get(key) for key, column in CELL_TIMING_COLUMNS.items()})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise RecordError(f"{path}: unreadable deployment timing ({error}); rerun poolbench-deploy.") from None
    if isinstance(columns["cell_heads"], list):
        columns["cell_heads"] = ",".join(map(str, columns["cell_heads"]))
    return columns


def find_run_dirs(*roots: Path) -> list[Path]:
    """Every directory under ``roots`` holding a result.json (a single run, a multirun, or nested sweeps)."""
    return dirs_holding(RESULT_FILE, *roots)


def dirs_holding(file_name: str, *roots: Path) -> list[Path]:
    """Every directory at or under ``roots`` that holds a file called ``file_name``."""
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if (root / file_name).is_file():
            found.add(root)
        found.update(p.parent for p in root.rglob(file_name))
    return sorted(found)
