"""TensorBoard: event files in ``RUN_DIR/tensorboard/`` (``tensorboard --logdir RESULTS_DIR`` shows every run)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from poolbench.config.settings import Settings, TensorBoardSettings
from poolbench.record import RunRecord
from poolbench.trackers.base import epoch_metrics, final_metrics

EVENTS_FOLDER = "tensorboard"


class TensorBoard:
    name = "tensorboard"

    def __init__(self, options: TensorBoardSettings, settings: Settings) -> None:
        self.options = options
        self.writer: Any = None
        self.last_epoch = 0

    def start(self, run_dir: Path, resolved: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / EVENTS_FOLDER), flush_secs=self.options.flush_secs)
        config = OmegaConf.to_yaml(OmegaConf.create(dict(resolved)))
        self.writer.add_text("config", "".join(f"    {line}\n" for line in config.splitlines()), 0)

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self.last_epoch = int(row["epoch"])
        for key, value in epoch_metrics(row).items():
            self.writer.add_scalar(key, value, self.last_epoch)
        self.writer.flush()  # live curves: an epoch is seen as soon as it ends

    def finish(self, record: RunRecord) -> None:
        for key, value in final_metrics(record).items():
            self.writer.add_scalar(key, value, self.last_epoch)
        self.writer.add_text("status", f"{record.status}" + (f": {record.error}" if record.error else ""), 0)
        self.writer.close()
