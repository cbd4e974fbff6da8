"""What SLURM says about a sweep's jobs, without needing accounting (``sacct``).

submitit asks ``sacct`` only; without accounting every answer is "UNKNOWN" and a job that died without writing
its result is waited for forever. Here the controller is asked first: ``scontrol -o show job`` knows every job
it holds (pending, running, and finished ones for ``MinJobAge`` seconds, 300 by default), with the reason a job
ended. ``sacct`` is asked only about jobs the controller has already forgotten, and only if accounting answers.
Every command is bounded by a timeout; a command that fails or times out simply gives no answer.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger("poolbench.sweep")

COMMAND_TIMEOUT_S = 30
# A job in one of these states may still write its result: wait for it.
WAITING_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SUSPENDED",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
        "PREEMPTED",  # with PreemptMode=REQUEUE the job comes back
        "RESV_DEL_HOLD",
    }
)
# Why a job that ended without a result ended, in words for the sweep summary.
ENDED_BECAUSE = {
    "CANCELLED": "cancelled (scancel or an administrator)",
    "OUT_OF_MEMORY": "ran out of memory (raise hydra.launcher.mem_gb)",
    "NODE_FAIL": "its node failed",
    "TIMEOUT": "hit its time limit without being requeued (raise hydra.launcher.timeout_min or max_num_timeout)",
    "FAILED": "failed (non-zero exit; see the job's log)",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "passed its deadline",
    "REVOKED": "was revoked",
    "COMPLETED": "ended without writing its result (see the job's log)",
}


@dataclass(frozen=True)
class JobState:
    """One array task (``<array id>_<task>``) or plain job, as SLURM reports it."""

    job_id: str
    state: str
    reason: str = ""
    exit_code: str = ""
    source: str = "scontrol"  # scontrol | sacct

    @property
    def waiting(self) -> bool:
        return self.state in WAITING_STATES

    def describe(self) -> str:
        """E.g. 'SLURM job 12_1 CANCELLED: cancelled (scancel or an administrator) (exit code 0:15)'."""
        words = ENDED_BECAUSE.get(self.state, "ended without writing its result")
        details = [f"exit code {self.exit_code}"] if self.exit_code else []
        if self.reason and self.reason not in ("None", "(null)"):
            details.insert(0, f"reason {self.reason}")
        tail = f" ({', '.join(details)})" if details else ""
        return f"SLURM job {self.job_id} {self.state}: {words}{tail}"


def run_command(command: list[str]) -> str | None:
    """stdout of ``command``, or None if it is missing, fails or takes longer than ``COMMAND_TIMEOUT_S``."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        log.debug("%s: %s", " ".join(command), error)
        return None
    if done.returncode != 0:
        log.debug("%s: exit %d: %s", " ".join(command), done.returncode, done.stderr.strip())
        return None
    return done.stdout


def expand_task_ids(text: str) -> list[str]:
    """'0-2,5%4' -> ['0', '1', '2', '5'] (``ArrayTaskId`` of a pending array remainder; '%N' is the throttle)."""
    ids: list[str] = []
    for part in text.split("%", 1)[0].split(","):
        low, _, high = part.partition("-")
        if not low.isdigit():
            continue
        ids.extend(str(i) for i in range(int(low), int(high if high.isdigit() else low) + 1))
    return ids


def parse_scontrol(text: str) -> dict[str, JobState]:
    """``scontrol -o show job`` output (one job per line, ``Key=Value`` fields) -> state per job id."""
    states: dict[str, JobState] = {}
    for line in text.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobState" not in fields:
            continue
        array_id, task_ids = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        names = [f"{array_id}_{t}" for t in expand_task_ids(task_ids)] if array_id and task_ids else []
        for name in names or [fields.get("JobId", "")]:
            states[name] = JobState(name, fields["JobState"], fields.get("Reason", ""), fields.get("ExitCode", ""))
    return states


def parse_sacct(text: str) -> dict[str, JobState]:
    """``sacct -X -n -P -o JobID,State,ExitCode`` output -> state per job id (``CANCELLED by 0`` -> CANCELLED)."""
    states: dict[str, JobState] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or "." in parts[0] or "[" in parts[0]:
            continue
        state = parts[1].split()[0] if parts[1] else "UNKNOWN"
        states[parts[0]] = JobState(parts[0], state, "", parts[2], source="sacct")
    return states


def query_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """The state of each of ``job_ids`` that SLURM still knows; a job missing from the answer is unknown."""
    wanted = set(job_ids)
    found: dict[str, JobState] = {}
    for array_id in sorted({job_id.split("_", 1)[0] for job_id in wanted}):
        text = run_command(["scontrol", "-o", "show", "job", array_id])
        if text is not None:
            found.update({k: v for k, v in parse_scontrol(text).items() if k in wanted})
    forgotten = sorted({job_id.split("_", 1)[0] for job_id in wanted - set(found)})
    if forgotten:
        command = ["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode"]
        for array_id in forgotten:
            command += ["-j", array_id]
        text = run_command(command)
        if text is not None:
            found.update({k: v for k, v in parse_sacct(text).items() if k in wanted and k not in found})
    return found


def accounting_available() -> bool:
    """True when ``sacct`` answers (SLURM accounting through slurmdbd is configured)."""
    return run_command(["sacct", "-n", "-X", "-o", "JobID", "-S", "now"]) is not None
