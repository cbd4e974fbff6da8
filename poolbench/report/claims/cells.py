"""Settings ("cells") of the claims verdict: the runs of every head with one dataset, backbone and value of each
varying config key, and the per-run values the claims compare."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from poolbench.report.aggregate import ok_runs, panel_keys
from poolbench.report.latex import panel_heading
from poolbench.report.names import DATASETS
from poolbench.report.variants import ABSENT

# Keys that change the architecture or input (so parameters, MACs and size) rather than training.
STRUCTURAL_PREFIXES = ("backbone.", "dataset.image_size", "dataset.channels", "dataset.num_classes")


@dataclass(frozen=True)
class Cell:
    """One setting: the runs of every head with the same dataset, backbone and varying config keys."""

    keys: tuple[str, ...]
    values: tuple[object, ...]
    runs: pd.DataFrame
    shown: tuple[str, ...] | None = None  # the keys its label names (None: all); see ``short_labels``

    @property
    def label(self) -> str:
        """The setting in words: the ``shown`` keys, leaving out those a run's config does not set (ABSENT)."""
        present = [
            (key, value)
            for key, value in zip(self.keys, self.values)
            if value != ABSENT and (self.shown is None or key in self.shown)
        ]
        return panel_heading([key for key, _ in present], [value for _, value in present])

    @property
    def full_label(self) -> str:
        return replace(self, shown=None).label

    @property
    def real_data(self) -> bool:
        return str(self.values[0]) in DATASETS and not self.task

    @property
    def task(self) -> str:
        """The probe task: ``dataset.task`` if set, else the dataset name's part after ``probe_``, if any."""
        named = dict(zip(self.keys, self.values))
        task = named.get("dataset.task")
        if task is not None and str(task) not in ("", ABSENT, "nan"):
            return str(task)
        name = str(named.get("dataset", ""))
        return name.removeprefix("probe_") if name.startswith("probe_") else ""

    def heads(self) -> list[str]:
        return sorted(self.runs["head"].unique())

    def by_seed(self, head: str, value: Callable[[pd.Series], float]) -> pd.Series:
        rows = self.runs[self.runs["head"] == head]
        return pd.Series({int(row["seed"]): number(value(row)) for _, row in rows.iterrows()}, dtype=float)


def number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number


def cells_of(runs: pd.DataFrame, extra_keys: Sequence[str]) -> list[Cell]:
    """The cells of the ok runs, real datasets first, then in key order (train sizes ascending as numbers)."""
    ok = ok_runs(runs)
    if ok.empty:
        return []
    keys = panel_keys(extra_keys)
    cells = [
        Cell(tuple(keys), values if isinstance(values, tuple) else (values,), group)
        for values, group in ok.groupby(keys, sort=False, dropna=False)
    ]
    ordered = sorted(cells, key=lambda cell: (not cell.real_data, [sort_key(v) for v in cell.values]))
    return short_labels(ordered)


def label_priority(keys: Sequence[str]) -> list[str]:
    """Grouping keys in the order a label would name them: task, training-set size, backbone keys, the rest."""
    first = [key for key in ("dataset.task", "dataset.train_samples") if key in keys]
    backbone = [key for key in keys if key.startswith("backbone.") and key not in first]
    return [*first, *backbone, *(key for key in keys if key not in first and key not in backbone)]


def short_labels(cells: list[Cell]) -> list[Cell]:
    """The cells with labels that name only what tells them apart: dataset and backbone always, the training-set
    size wherever a run sets it, then, among the cells of one dataset and backbone, each other grouping key (in
    ``label_priority`` order) that separates cells the keys before it did not. Two FashionMNIST cells that
    differ in size and, with it, in epochs are labelled by size alone; ``full_label`` (claims_detail.csv)
    names every key."""
    labelled = []
    groups: dict[tuple[object, ...], list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.values[:2], []).append(cell)
    shown_by_group = {key: _distinguishing_keys(group) for key, group in groups.items()}
    for cell in cells:
        labelled.append(replace(cell, shown=shown_by_group[cell.values[:2]]))
    return labelled


def _distinguishing_keys(group: list[Cell]) -> tuple[str, ...]:
    keys = group[0].keys
    shown = [*keys[:2], *(key for key in ("dataset.train_samples",) if key in keys)]

    def distinct(names: Sequence[str]) -> int:
        return len({tuple(dict(zip(c.keys, c.values))[n] for n in names) for c in group})

    for key in label_priority(keys[2:]):
        if key not in shown and distinct([*shown, key]) > distinct(shown):
            shown.append(key)
    return tuple(shown)


def sort_key(value: object) -> tuple[int, float, str]:
    as_number = number(value)
    return (0, as_number, "") if math.isfinite(as_number) else (1, 0.0, str(value))
