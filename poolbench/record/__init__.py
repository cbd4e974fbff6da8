"""The run record: the only contract between training and reporting.

One directory per run holds ``config.yaml`` (the resolved config), ``result.json`` (the fields of
``RunRecord``: ``poolbench.record.schema``, each declared once with ``poolbench.record.fields``), ``epochs.csv``
(one row per epoch) and ``checkpoint.pt``. Every file is written atomically; a run is *done* only when
``result.json`` exists with ``status == "ok"``.

- ``fields``: how a record field is declared (label, unit, role, aggregation, where it is shown);
- ``schema``: ``RunRecord`` with every field declared once, ``SCHEMA_VERSION`` and the migration of old records;
- this module: the run key, the non-semantic config keys, and reading and writing the run's files.

Imports only ``poolbench.atomic`` and ``poolbench.errors`` (the layers below it).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from poolbench.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from poolbench.errors import RecordError
from poolbench.record.fields import Declared, declarations, named
from poolbench.record.schema import (
    RENAMED_FIELDS,
    SCHEMA_VERSION,
    STATUSES,
    RunRecord,
    migrate,
    required_fields,
)

__all__ = ["RENAMED_FIELDS", "SCHEMA_VERSION", "STATUSES", "RunRecord", "migrate", "record_fields", "required_fields"]

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
    "trainer.checkpoint_interval",  # how often the resumable state is saved, not what is computed
    "logger",  # where metrics are also sent (TensorBoard, MLflow, W&B)
    "deploy.repeats",  # how long the deployment timings run, and on how many threads
    "deploy.batch_repeats",
    "deploy.threads",
    "objective",  # what a sweeper optimises, not what a run computes
)

# Config keys that choose which extra tests a trained model takes (translation test, other input sizes): part of
# the run key (a run with other tests is another run), but two runs that differ only here trained the same model,
# so a report never splits rows on them (poolbench.report.variants).
TEST_ONLY_KEYS = ("dataset.eval_shifts", "dataset.shift_fills", "deploy.eval_sizes")

# Record fields that are wall-clock measurements: they differ between two runs of one config (and between a
# resumed run and an uninterrupted one) while everything else is equal.
# The time split of a run (seconds) and its CPU seconds are wall-clock measurements too.
TIME_SPLIT_FIELDS = ("startup_seconds", "train_seconds", "eval_seconds", "final_eval_seconds", "deploy_seconds")
# Every field declared with the timing role (the split, run and CPU seconds, images/s, CPU latency and
# throughput), and when the run started and finished.
WALL_CLOCK_FIELDS = (*named(RunRecord, role="timing"), "started_at", "finished_at")


def is_semantic(dotted_key: str) -> bool:
    """False for a key in ``NON_SEMANTIC_KEYS`` or under one of them."""
    return not any(dotted_key == key or dotted_key.startswith(f"{key}.") for key in NON_SEMANTIC_KEYS)


def record_fields() -> dict[str, Declared]:
    """Every RunRecord field with its declaration (label, unit, role, aggregation, where it is shown)."""
    return declarations(RunRecord)


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
