"""Trackers: a run's config, per-epoch metrics and record sent to TensorBoard, MLflow or W&B (``logger=...``).

- ``base``: the ``Tracker`` protocol (start, log_epoch, finish) and ``TrackerSet``, which calls every tracker
  and turns a tracker's failure into one warning (the tracker is then dropped): a tracker never fails a run;
- ``registry``: which trackers a config turns on, the optional extra each needs (checked in the preflight, so a
  missing package stops the run before any work starts) and ``start_trackers``;
- ``tensorboard_tracker``, ``mlflow_tracker``, ``wandb_tracker``: one module per tracker; each imports its
  package only when a run starts it.

Imports nothing itself, so the config check stays free of the trackers' packages.
"""
