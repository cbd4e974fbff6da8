"""The failed and diverged runs, in one place: the frame (listed, never averaged in), its Markdown view, its LaTeX
(the error wrapped in a paragraph column) and the files (``failed.csv``, ``failed.md``, ``failed.tex``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from poolbench.report.aggregate import row_keys
from poolbench.report.formatting import is_missing
from poolbench.report.latex import (
    TEXT_WIDTH,
    LatexColumn,
    LatexTable,
    head_column,
    ordered_rows,
    panel_rows,
    tex,
    two_line,
)
from poolbench.report.tables import named_keys, write_table

ERROR_CHARS = 160  # a longer error is cut in the LaTeX table (failed.csv keeps it whole)


def failed_table(runs: pd.DataFrame, extra_keys: Sequence[str] = ()) -> pd.DataFrame:
    """Failed and diverged runs with their error: listed, never averaged in."""
    columns = [*row_keys(extra_keys), "seed", "status", "epochs_completed", "error", "run_dir"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    bad = runs[runs["status"] != "ok"]
    return bad[columns].reset_index(drop=True)


def display_failed(failed: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """The key columns under display names, then the rest as recorded."""
    return pd.concat([named_keys(failed, key_columns), failed.drop(columns=key_columns)], axis=1)


def failed_latex(failed: pd.DataFrame, panel_columns: Sequence[str], setting: str = "") -> LatexTable:
    """Failed and diverged runs with their error (wrapped in a paragraph column)."""
    frame = ordered_rows(failed, panel_columns)

    def error_cell(text: Any) -> str:
        text = "" if is_missing(text) else str(text)
        text = text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."
        return tex(text).replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")

    columns = [
        head_column(frame),
        LatexColumn("Seed", "r", [str(seed) for seed in frame["seed"]]),
        LatexColumn("Status", "l", [tex(status) for status in frame["status"]]),
        LatexColumn(
            two_line("Epochs\ndone"),
            "r",
            [str(int(e)) if not is_missing(e) else "---" for e in frame["epochs_completed"]],
        ),
        LatexColumn(
            "Error", "l", [rf"\parbox[t]{{0.5\textwidth}}{{\raggedright {error_cell(e)}}}" for e in frame["error"]]
        ),
    ]
    caption = "Failed and diverged runs (never averaged in)."
    return LatexTable(
        "failed and diverged runs (full)",
        TEXT_WIDTH,
        columns,
        panel_rows(frame, panel_columns),
        empty_text="No failed or diverged runs.",
        caption=f"{caption} {tex(setting)}" if setting else caption,
    )


def write_failed(failed: pd.DataFrame, key_columns: list[str], out: Path, setting: str = "") -> None:
    """``failed.csv``, ``failed.md`` and ``failed.tex``."""
    latex = [("failed", failed_latex(failed, key_columns[:-1], setting))]
    write_table(failed, display_failed(failed, key_columns), out, "failed", latex)
