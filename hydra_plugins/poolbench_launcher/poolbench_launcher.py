"""poolbench's Hydra launchers: hydra-submitit-launcher's SLURM and local launchers, made to survive a sweep.

Hydra finds launchers by scanning the ``hydra_plugins`` namespace package; this module registers
``hydra/launcher=poolbench_slurm`` and ``hydra/launcher=poolbench_local`` (``conf/launcher/submitit_*.yaml``
select them). Compared with hydra-submitit-launcher's own ``launch``, which collects ``job.results()`` in order:

- finished runs are skipped before submission: no SLURM job for a done run;
- a job that ends without a result (cancelled, out of memory, node failure, time limit) is recorded failed with
  SLURM's reason, and the sweep waits for the others and ends with its summary and report;
- job states come from ``scontrol`` (no accounting needed), and every wait is bounded (``max_wait_h``);
- in the job, submitit's requeue on USR2 (time limit near, or preemption) is not a failure (``poolbench.sweep.job``).

The logic lives in ``poolbench.sweep.launch``; this module only adapts it to Hydra and submitit. Without
hydra-submitit-launcher installed it registers nothing.
"""

# No `from __future__ import annotations`: Hydra executes this module before it is in sys.modules, and
# dataclasses cannot resolve string annotations then.

import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

try:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, LocalQueueConf, SlurmQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
except ImportError:  # the `launchers` extra is not installed: nothing to register
    BaseSubmititLauncher = None

log = logging.getLogger("poolbench.sweep")
OWN_KEYS = ("max_wait_h", "poll_s", "result_grace_s", "lost_after_s")
LAUNCHERS: list[type] = []  # registered with Hydra by poolbench.sweep.plugins.register_plugins

if BaseSubmititLauncher is not None:

    @dataclass
    class PoolbenchWaitConf:
        """How the launching process waits (``poolbench.sweep.launch.WaitLimits``)."""

        max_wait_h: float = 168.0  # give up waiting after this long; the jobs go on, a rerun collects them
        poll_s: float = 10.0  # ask SLURM about the jobs this often
        result_grace_s: float = 30.0  # after a job ends, how long its result file may take to appear
        lost_after_s: float = 120.0  # a job SLURM no longer knows, without a result: failed after this long

    @dataclass
    class PoolbenchSlurmConf(PoolbenchWaitConf, SlurmQueueConf):
        _target_: str = "hydra_plugins.poolbench_launcher.poolbench_launcher.PoolbenchSlurmLauncher"

    @dataclass
    class PoolbenchLocalConf(PoolbenchWaitConf, LocalQueueConf):
        _target_: str = "hydra_plugins.poolbench_launcher.poolbench_launcher.PoolbenchLocalLauncher"

    ConfigStore.instance().store(group="hydra/launcher", name="poolbench_slurm", node=PoolbenchSlurmConf)
    ConfigStore.instance().store(group="hydra/launcher", name="poolbench_local", node=PoolbenchLocalConf)

    class PoolbenchSubmititLauncher(BaseSubmititLauncher):
        """Shared by the SLURM and local launchers; ``_EXECUTOR`` says which submitit executor runs the jobs."""

        def __init__(self, **params: Any) -> None:
            from poolbench.sweep.launch import WaitLimits

            own = {key: params.pop(key) for key in OWN_KEYS if key in params}
            super().__init__(**params)
            self._job_ids: list[str] = []
            self.limits = WaitLimits(
                max_wait_s=float(own.get("max_wait_h", 168.0)) * 3600,
                poll_s=float(own.get("poll_s", 10.0)),
                result_grace_s=float(own.get("result_grace_s", 30.0)),
                lost_after_s=float(own.get("lost_after_s", 120.0)),
            )

        # ------------------------------------------------------------------------------------- in the job
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            """Run one job; submitit's requeue exit leaves the process without a result (the job runs again)."""
            import submitit
            from hydra.core.utils import JobStatus

            from poolbench.sweep.job import RunInterrupted, requeue_as_exception

            try:
                with requeue_as_exception(submitit.JobEnvironment._usr_sig()):
                    returned = super().__call__(*args, **kwargs)
            except RunInterrupted as stopped:  # raised outside the task function (e.g. in Hydra's job setup)
                raise SystemExit(128 + stopped.signum) from None
            if returned.status == JobStatus.FAILED and isinstance(returned._return_value, RunInterrupted):
                raise SystemExit(128 + returned._return_value.signum)
            return returned

        # ------------------------------------------------------------------------------------- launching
        def launch(self, job_overrides: Any, initial_job_idx: int) -> Any:
            from poolbench.errors import PoolbenchError, abort
            from poolbench.sweep.launch import collect, note_skipped, plan, release_sweep

            assert self.config is not None and self.hydra_context is not None
            Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
            try:
                loader = self.hydra_context.config_loader
                to_submit, finished = plan(self.config, loader.load_sweep_config, job_overrides, initial_job_idx)
                returns = note_skipped(self.config, finished)
                if not to_submit:
                    log.info("nothing to submit: every run of the sweep is finished")
                    return returns
                jobs = self._submit(to_submit)
                return returns + collect(self.config, list(zip(to_submit, jobs)), self._probe, self.limits)
            except PoolbenchError as error:
                release_sweep(self.config)
                abort(error)
            except KeyboardInterrupt:
                release_sweep(self.config)
                abort(self._stopped_waiting())

        def _submit(self, to_submit: list[Any]) -> list[Any]:
            from hydra.core.singleton import Singleton
            from hydra.core.utils import filter_overrides

            from poolbench.sweep.launch import ClusterError

            executor = self._executor()
            log.info("submitting %d runs (%s) to %s", len(to_submit), self._EXECUTOR, self.config.hydra.sweep.dir)
            for planned in to_submit:
                log.info("\t#%d : %s", planned.num, " ".join(filter_overrides(planned.overrides)))
            arguments = [
                (planned.overrides, "hydra.sweep.dir", planned.num, f"job_id_for_{planned.num}", Singleton.get_state())
                for planned in to_submit
            ]
            try:
                jobs = executor.map_array(self, *zip(*arguments))
            except Exception as error:
                raise ClusterError(
                    f"submitit could not submit the sweep ({type(error).__name__}: {str(error).strip()[:1000]}). "
                    "Fix: check the hydra.launcher.* values (partition, cpus_per_task, gpus_per_task, mem_gb, "
                    "timeout_min) against the cluster's limits (sinfo)."
                ) from None
            self._job_ids = [job.job_id for job in jobs]
            log.info("submitted: %s", ", ".join(self._job_ids))
            return list(jobs)

        def _executor(self) -> Any:
            import submitit
            from omegaconf import OmegaConf

            from poolbench.sweep.launch import ClusterError

            params = dict(self.params)
            folder = params.pop("submitit_folder")
            init = {}
            if "max_num_timeout" in params:  # an argument of the executor, not a job parameter
                init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
            try:
                executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=folder, **init)
            except RuntimeError as error:
                raise ClusterError(
                    f"launcher=submitit_{self._EXECUTOR} cannot reach a cluster here ({error}). It needs SLURM's "
                    "commands (sbatch, srun, scontrol, squeue) on PATH. Fix: run the sweep on a SLURM login node, "
                    "or use launcher=submitit_local or launcher=joblib on this machine."
                ) from None
            shared = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(**{k if k in shared else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
            return executor

        def _probe(self, jobs: Any) -> Any:
            raise NotImplementedError

        def _stopped_waiting(self) -> Any:
            from poolbench.errors import Interrupted

            ids = " ".join(self._job_ids)
            return Interrupted(
                signal.SIGINT,
                f"stopped waiting for the sweep's jobs; they go on ({ids or 'none submitted yet'}). Rerun the same "
                "command later to collect them (finished runs are skipped)"
                + (f", or stop them: scancel {ids}" if ids and self._EXECUTOR == "slurm" else ""),
            )

    class PoolbenchSlurmLauncher(PoolbenchSubmititLauncher):
        _EXECUTOR = "slurm"

        def _submit(self, to_submit: list[Any]) -> list[Any]:
            from poolbench.sweep.slurm_state import accounting_available

            jobs = super()._submit(to_submit)
            if not accounting_available():
                log.info(
                    "SLURM accounting (sacct) is off: following the jobs through scontrol; a job that leaves the "
                    "controller without a result is recorded failed after %.0f s without its reason",
                    self.limits.lost_after_s,
                )
            return jobs

        def _probe(self, jobs: Any) -> Any:
            from poolbench.sweep.slurm_state import query_states

            return query_states(job.job_id for job in jobs)

    class PoolbenchLocalLauncher(PoolbenchSubmititLauncher):
        _EXECUTOR = "local"

        def _probe(self, jobs: Any) -> Any:
            from poolbench.sweep.slurm_state import JobState

            states = {}
            for job in jobs:
                state = str(job.state).upper()
                states[job.job_id] = JobState(job.job_id, "RUNNING" if state == "RUNNING" else state, source="local")
            return states

    LAUNCHERS.extend([PoolbenchSlurmLauncher, PoolbenchLocalLauncher])
