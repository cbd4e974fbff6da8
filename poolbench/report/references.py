"""Published reference values, kept in one data file (``references.csv``) with the source of each number.

A row matches a result when its dataset equals the result's and its backbone and head are equal or empty.
Rows with an empty backbone are dataset-level context (a different model family); they are listed in the
report's reference table but never put beside a result as if comparable.
"""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd

REFERENCES_FILE = "references.csv"
REFERENCE_COLUMNS = ["dataset", "backbone", "head", "test_error", "note", "source"]


def load_references() -> pd.DataFrame:
    text = resources.files("poolbench.report").joinpath(REFERENCES_FILE).read_text(encoding="utf-8")
    frame = pd.read_csv(io.StringIO(text), dtype={"dataset": str, "backbone": str, "head": str, "note": str})
    return frame.fillna({"backbone": "", "head": "", "note": ""})[REFERENCE_COLUMNS]


def references_for_datasets(references: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    return references[references["dataset"].isin(datasets)].reset_index(drop=True)


def attach_references(summary: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """Add ``reference_acc`` (1 − published error), ``reference_note`` (the published setting) and
    ``reference_source`` where a model-level row matches (same dataset and backbone; same head or any head)."""
    summary = summary.copy()
    accuracies, sources, notes = [], [], []
    model_level = references[references["backbone"] != ""]
    for row in summary.itertuples(index=False):
        match = model_level[
            (model_level["dataset"] == row.dataset)
            & (model_level["backbone"] == row.backbone)
            & model_level["head"].isin(["", row.head])
        ]
        accuracies.append(1.0 - float(match["test_error"].iloc[0]) if not match.empty else float("nan"))
        sources.append(str(match["source"].iloc[0]) if not match.empty else "")
        notes.append(str(match["note"].iloc[0]) if not match.empty else "")
    summary["reference_acc"] = accuracies
    summary["reference_note"] = notes
    summary["reference_source"] = sources
    return summary
