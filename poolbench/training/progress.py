"""What the user sees while a run trains.

Every finished epoch is one log line (so ``poolbench.log`` always has the curve). On a terminal a tqdm bar
also counts *batches* over the whole run, so its ETA is live from the first steps and covers every epoch; log
records written meanwhile (a warning, the epoch lines) go through ``tqdm.write`` and never tear the bar.
Elsewhere (a file, a launcher's worker) there is no bar: the log lines are the progress, one per epoch, each
naming its run, so the lines of parallel jobs (joblib, submitit) stay readable when they interleave.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

log = logging.getLogger("poolbench.train")
T = TypeVar("T")


def epoch_line(row: dict[str, Any], total_epochs: int) -> str:
    """The epoch's log line: the metrics its row holds (``trainer.curves``), the training loss otherwise."""
    shown = [key for key in ("train_loss", "train_acc", "val_acc", "test_acc") if row.get(key) is not None]
    if "train_loss" not in shown and row.get("train_batch_loss") is not None:
        shown.insert(0, "train_batch_loss")
    metrics = "  ".join(f"{key} {row[key]:.4f}" for key in shown)
    return f"epoch {row['epoch']}/{total_epochs}  lr {row['lr']:.4g}  {metrics}  ({row['seconds']:.1f}s)"


class RunProgress:
    """Progress of one run: ``batches`` counts the steps of an epoch, ``epoch_done`` reports its row."""

    def __init__(
        self, total_epochs: int, steps_per_epoch: int, epochs_done: int = 0, bar: bool = True, label: str = ""
    ) -> None:
        self.total_epochs = total_epochs
        self.label = f"{label}: " if label else ""
        self._bar: Any = None
        self._redirect: contextlib.ExitStack | None = None
        if bar and sys.stderr.isatty() and total_epochs > epochs_done:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._bar = tqdm(
                total=total_epochs * steps_per_epoch,
                initial=epochs_done * steps_per_epoch,
                unit="step",
                dynamic_ncols=True,
                desc=f"epoch {epochs_done + 1}/{total_epochs}",
                leave=True,
            )
            self._redirect = contextlib.ExitStack()
            # Hydra's console handler hangs on the root logger; poolbench's loggers propagate to it.
            self._redirect.enter_context(logging_redirect_tqdm(loggers=[logging.root], tqdm_class=tqdm))

    def batches(self, items: Iterable[T]) -> Iterator[T]:
        """Pass ``items`` through, advancing the bar by one per item (no device sync)."""
        if self._bar is None:
            yield from items
            return
        for item in items:
            yield item
            self._bar.update(1)

    def epoch_done(self, row: dict[str, Any]) -> None:
        log.info(self.label + epoch_line(row, self.total_epochs))
        if self._bar is not None:
            self._bar.set_description(f"epoch {min(row['epoch'] + 1, self.total_epochs)}/{self.total_epochs}")
            loss = row.get("train_loss", row.get("train_batch_loss"))
            val = row.get("val_acc")  # absent where trainer.curves has no val
            self._bar.set_postfix(
                loss=f"{loss:.3f}" if loss is not None else "-", val="-" if val is None else f"{val:.4f}"
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._redirect is not None:
            self._redirect.close()
            self._redirect = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
