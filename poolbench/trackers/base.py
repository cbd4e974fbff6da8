"""The tracker protocol and ``TrackerSet``: every tracker called in turn, none allowed to fail the run."""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from poolbench.record import RunRecord, record_fields

log = logging.getLogger("poolbench.trackers")


class Tracker(Protocol):
    """One tracker of one run. ``start`` once, ``log_epoch`` after each epoch, ``finish`` once at the end."""

    name: str

    def start(self, run_dir: Path, resolved: Mapping[str, Any]) -> None: ...

    def log_epoch(self, row: Mapping[str, Any]) -> None: ...

    def finish(self, record: RunRecord) -> None: ...


def epoch_metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """The numeric, finite values of an ``epochs.csv`` row except the epoch number (the step)."""
    return {
        key: float(value)
        for key, value in row.items()
        if key != "epoch"
        and isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


def final_fields() -> list[str]:
    """The record fields declared for the trackers (``shown`` holds ``trackers``: poolbench.record.fields)."""
    return [name for name, declared in record_fields().items() if "trackers" in declared.shown]


def final_metrics(record: RunRecord) -> dict[str, float]:
    """The record's headline numbers, prefixed ``final_`` (and the translation test's, ``shift_acc_N``)."""
    values = {f"final_{key}": getattr(record, key, None) for key in final_fields()}
    values.update({f"shift_acc_{pixels}": acc for pixels, acc in (record.shift_acc or {}).items()})
    return {key: float(value) for key, value in values.items() if isinstance(value, (int, float))}


class TrackerSet:
    """The run's trackers. A tracker that raises is reported in one warning and dropped for the rest of the
    run; the run, its record files and the other trackers go on."""

    def __init__(self, trackers: Iterable[Tracker]) -> None:
        self.active: list[Tracker] = list(trackers)
        self.failed: dict[str, str] = {}

    def _each(self, stage: str, call: Callable[[Tracker], None]) -> None:
        for tracker in list(self.active):
            try:
                call(tracker)
            except Exception as error:  # any failure of a tracker's package (network, disk, API change)
                self.active.remove(tracker)
                self.failed[tracker.name] = f"{type(error).__name__}: {error}"
                log.warning(
                    "tracker %s failed in %s (%s: %s); it is off for the rest of this run, which goes on",
                    tracker.name,
                    stage,
                    type(error).__name__,
                    error,
                )

    def start(self, run_dir: Path, resolved: Mapping[str, Any]) -> None:
        self._each("start", lambda tracker: tracker.start(run_dir, resolved))

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self._each("log_epoch", lambda tracker: tracker.log_epoch(row))

    def on_epoch(self, history: Sequence[Mapping[str, Any]]) -> None:
        """``TrainPlan.on_epoch``: the newest row of the history."""
        if history:
            self.log_epoch(history[-1])

    def finish(self, record: RunRecord) -> None:
        self._each("finish", lambda tracker: tracker.finish(record))
        self.active.clear()
