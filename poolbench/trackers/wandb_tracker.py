"""Weights & Biases: offline by default, into ``RUN_DIR/wandb/`` (``wandb sync RUN_DIR/wandb/offline-run-*``
uploads it later); ``logger.wandb.mode=online`` logs live."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poolbench.config.settings import Settings, WandbSettings
from poolbench.record import RunRecord
from poolbench.trackers.base import epoch_metrics, final_metrics


class WandB:
    name = "wandb"

    def __init__(self, options: WandbSettings, settings: Settings) -> None:
        self.options = options
        self.title = f"{settings.dataset.name}/{settings.backbone['name']}/{settings.head['name']}/seed{settings.seed}"
        self.group = settings.name
        self.run: Any = None

    def start(self, run_dir: Path, resolved: Mapping[str, Any]) -> None:
        import wandb

        self.run = wandb.init(
            project=self.options.project,
            entity=self.options.entity,
            mode=self.options.mode,  # type: ignore[arg-type]  # checked: offline | online
            dir=str(run_dir),
            name=self.title,
            group=self.group,
            config=dict(resolved),
            reinit="create_new",  # each run of a sweep in one process gets its own W&B run
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self.run.log(epoch_metrics(row), step=int(row["epoch"]))

    def finish(self, record: RunRecord) -> None:
        self.run.summary.update({**final_metrics(record), "status": record.status})
        self.run.finish(exit_code=0 if record.status == "ok" else 1)
