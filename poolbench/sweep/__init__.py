"""Sweeps: everything that talks to Hydra and its plugins.

One job: turn Hydra jobs into prepared runs and their outcomes — preflight before Hydra writes anything
(``preflight``), one job around ``run`` (``job``), which folder a run lives in and whether it is done
(``rundir``), the launchers (``launch``), the ledger and the
lock of a sweep, SLURM state, the Optuna presets and the tuned protocol. May import ``config``, ``run``,
``record``, ``errors``; nothing below imports it.
"""
