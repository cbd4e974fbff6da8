"""The record schema's migration: a result.json written by an older poolbench still reads, in today's names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poolbench.errors import RecordError
from poolbench.record import RENAMED_FIELDS, RESULT_FILE, SCHEMA_VERSION, RunRecord, read_result, write_result

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_RECORD = (
    ROOT / "results" / "reference" / "demo" / "fashion_mnist" / "small_cnn" / "gap" / "seed0" / RESULT_FILE
)


def _as_version_1(data: dict) -> dict:
    """The same record in schema 1's field names (gap_acc, gap_loss), whatever version the committed file is."""
    back = {new: old for old, new in RENAMED_FIELDS[1].items()}
    old = {back.get(key, key): value for key, value in data.items()}
    old["schema_version"] = 1
    return old


def test_a_committed_reference_record_reads_and_a_version_1_record_reads_in_todays_names(tmp_path: Path) -> None:
    committed = json.loads(REFERENCE_RECORD.read_text())
    record = read_result(REFERENCE_RECORD)  # whichever schema it was committed in
    assert record.schema_version == SCHEMA_VERSION and record.overfit_acc is not None
    old = _as_version_1(committed)
    assert "gap_acc" in old and "overfit_acc" not in old
    (tmp_path / RESULT_FILE).write_text(json.dumps(old))
    migrated = read_result(tmp_path)
    assert migrated.overfit_acc == pytest.approx(old["gap_acc"]) and migrated.overfit_loss == pytest.approx(
        old["gap_loss"]
    )
    assert migrated.overfit_acc == pytest.approx(migrated.train_acc - migrated.test_acc)  # the field's meaning
    assert migrated == record
    write_result(tmp_path, migrated)  # written again: today's schema and names only
    rewritten = json.loads((tmp_path / RESULT_FILE).read_text())
    assert rewritten["schema_version"] == SCHEMA_VERSION and "gap_acc" not in rewritten and "overfit_acc" in rewritten


def test_an_unknown_schema_version_names_the_file_and_the_versions_read(tmp_path: Path) -> None:
    data = RunRecord("ok", "k", "fashion_mnist", "small_cnn", "gap", 0, 1).to_json()
    data["schema_version"] = 99
    with pytest.raises(RecordError, match=r"x\.json: unknown schema_version 99 \(this poolbench reads 1, 2\)"):
        RunRecord.from_json(data, origin="x.json")
