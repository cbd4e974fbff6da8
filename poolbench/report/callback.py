"""A Hydra callback that writes the report for a sweep when ``poolbench -m ...`` ends.

Registered in ``conf/config.yaml`` under ``hydra.callbacks.report``; switch it off with
``report_on_sweep_end=false`` (or drop it with ``~hydra.callbacks.report``). A failing report is logged and never
fails the sweep: the run records are already on disk and ``poolbench-report DIR`` can be rerun by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("poolbench.report")


class ReportOnSweepEnd(Callback):
    def __init__(self, enabled: bool = True, baseline: str | None = None) -> None:
        self.enabled = bool(enabled)
        self.baseline = baseline

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        try:
            sweep_dir = Path(str(OmegaConf.select(config, "hydra.sweep.dir")))
            from poolbench.report.freshness import report_is_current

            if report_is_current(sweep_dir):  # e.g. a re-run that skipped every run
                log.info("sweep report is up to date (no record changed); poolbench-report %s rebuilds it", sweep_dir)
                return
            from poolbench.report.build import write_report

            result = write_report([sweep_dir], baseline=self.baseline)
        except Exception as error:
            log.error(
                "sweep report not written (%s: %s); rerun: poolbench-report %s",
                type(error).__name__,
                error,
                OmegaConf.select(config, "hydra.sweep.dir", default="SWEEP_DIR"),
            )
            return
        log.info("sweep report: %s (%d records, %d missing)", result.report_md, result.n_records, result.n_missing)
