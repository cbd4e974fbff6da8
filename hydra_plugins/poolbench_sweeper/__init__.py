"""poolbench's Hydra plugins: the Optuna preset's sweeper (``hydra/sweeper=tune``, conf/hydra/sweeper/tune.yaml).

Hydra instantiates sweepers only from the ``hydra_plugins`` namespace and imports every module in it at start-up:
this one defines its class only when Hydra's Optuna sweeper (the ``tune`` extra) is installed, and stays cheap
(the plugin imports optuna itself only when a sweep starts). The behaviour lives in ``poolbench.sweep.optuna_sweeper``.
"""

from __future__ import annotations

from importlib.util import find_spec

if find_spec("hydra_plugins.hydra_optuna_sweeper") is not None:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

    from poolbench.sweep.optuna_sweeper import ValidationSweep

    class ValidationOptunaSweeper(ValidationSweep, OptunaSweeper):
        """Hydra's Optuna sweeper on poolbench's validation objective (see ``poolbench.sweep.optuna_sweeper``)."""
