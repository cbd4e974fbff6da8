"""MLflow: one MLflow run per poolbench run, with the resolved config as params, the epochs' metrics, the final
metrics and the run-record files as artifacts. Uses ``MlflowClient`` (no process-global active run), so runs
of a sweep in one process never mix."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poolbench.config.run_folder import flatten
from poolbench.config.settings import MlflowSettings, Settings
from poolbench.record import CONFIG_FILE, EPOCHS_FILE, RESULT_FILE, RunRecord
from poolbench.trackers.base import epoch_metrics, final_metrics

LOCAL_STORE = "mlruns"
PARAM_VALUE_LIMIT = 6000  # MLflow's longest param value
BATCH_LIMIT = 100  # MLflow's most params per log_batch


def local_store(results_dir: str) -> Path:
    return Path(results_dir).expanduser().resolve() / LOCAL_STORE


def tracking_uri(options: MlflowSettings, results_dir: str) -> str:
    """The configured URI, or the local store: an SQLite database in RESULTS_DIR/mlruns (MLflow 3 keeps its
    file-system store in maintenance mode and refuses it by default; SQLite is its local default)."""
    if options.tracking_uri:
        return options.tracking_uri
    store = local_store(results_dir)
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


class MLflow:
    name = "mlflow"

    def __init__(self, options: MlflowSettings, settings: Settings) -> None:
        self.options = options
        self.results_dir = settings.paths.results_dir
        self.title = f"{settings.dataset.name}/{settings.backbone['name']}/{settings.head['name']}/seed{settings.seed}"
        self.client: Any = None
        self.run_id = ""
        self.run_dir = Path(".")

    def start(self, run_dir: Path, resolved: Mapping[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.run_dir = run_dir
        self.client = MlflowClient(tracking_uri=tracking_uri(self.options, self.results_dir))
        experiment = self.client.get_experiment_by_name(self.options.experiment)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:  # the local store keeps artifacts beside its database (MLflow's default is relative to the cwd)
            location = None if self.options.tracking_uri else (local_store(self.results_dir) / "artifacts").as_uri()
            experiment_id = self.client.create_experiment(self.options.experiment, artifact_location=location)
        run = self.client.create_run(experiment_id, run_name=self.title, tags={"poolbench.run_dir": str(run_dir)})
        self.run_id = run.info.run_id
        params = [Param(key, str(value)[:PARAM_VALUE_LIMIT]) for key, value in sorted(flatten(resolved).items())]
        for start in range(0, len(params), BATCH_LIMIT):
            self.client.log_batch(self.run_id, params=params[start : start + BATCH_LIMIT])

    def _metrics(self, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in values.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self._metrics(epoch_metrics(row), int(row["epoch"]))

    def finish(self, record: RunRecord) -> None:
        self._metrics(final_metrics(record), record.epochs_completed or 0)
        if self.options.artifacts:
            for name in (CONFIG_FILE, RESULT_FILE, EPOCHS_FILE):
                if (self.run_dir / name).is_file():
                    self.client.log_artifact(self.run_id, str(self.run_dir / name))
        self.client.set_terminated(self.run_id, "FINISHED" if record.status == "ok" else "FAILED")
