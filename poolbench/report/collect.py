"""Find and read run records under one or more paths; never stop at a bad one.

A directory with ``result.json`` is a finished (or failed) run. A record that cannot be used (corrupt JSON,
unknown ``schema_version``, missing fields) becomes a ``Problem`` naming its path, and the report goes on.
A directory that holds a run's other files but no ``result.json`` is *incomplete*: still running or killed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poolbench.errors import PoolbenchError, RecordError
from poolbench.record import (
    CELL_TIMING_COLUMNS,
    CONFIG_FILE,
    EPOCHS_FILE,
    RESULT_FILE,
    RunRecord,
    find_run_dirs,
    read_deploy_timing,
    read_epochs,
    read_result,
)

REPORT_DIR_NAME = "report"
# Files a run writes before its result.json: their presence without a result marks an unfinished run.
STARTED_MARKERS = (CONFIG_FILE, EPOCHS_FILE, "checkpoint.pt")


class ReportInputError(PoolbenchError):
    """Bad report input (a path that does not exist, nothing to report): a usage error, exit code 2."""

    exit_code = 2


def default_out_dir(paths: Sequence[Path]) -> Path:
    if len(paths) != 1:
        raise ReportInputError(f"{len(paths)} paths given: say where the report goes with --out DIR.")
    path = Path(paths[0])
    return (path.parent if path.is_file() else path) / REPORT_DIR_NAME


def check_paths(paths: Sequence[Path]) -> list[Path]:
    if not paths:
        raise ReportInputError("no path given: pass a run or sweep directory, e.g. poolbench-report results/demo.")
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise ReportInputError(f"no such path: {', '.join(missing)}. Pass a run or sweep directory.")
    return [Path(p).parent if Path(p).is_file() else Path(p) for p in paths]


@dataclass(frozen=True)
class Problem:
    """A record the report could not use, with the reason (the RecordError message names the file)."""

    path: Path
    message: str


@dataclass
class CollectedRun:
    run_dir: Path
    record: RunRecord
    epochs: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None  # config.yaml, read on first use (poolbench.report.aggregate.run_config)
    # deploy_timing.json (poolbench-deploy) as runs-frame columns, all None where the cell was not timed
    deploy_timing: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(CELL_TIMING_COLUMNS.values()))


@dataclass
class Collection:
    roots: list[Path]
    runs: list[CollectedRun] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    incomplete: list[Path] = field(default_factory=list)


def collect_runs(roots: list[Path]) -> Collection:
    """Read every run record under ``roots`` (run dirs, sweep dirs, or trees of sweeps)."""
    collection = Collection(roots=[Path(root) for root in roots])
    for run_dir in find_run_dirs(*collection.roots):
        if _inside_report_dir(run_dir, collection.roots):
            continue
        try:
            record = read_result(run_dir / RESULT_FILE)
        except RecordError as error:
            collection.problems.append(Problem(run_dir / RESULT_FILE, str(error)))
            continue
        epochs, problem = _read_epochs_safely(run_dir)
        if problem is not None:
            collection.problems.append(problem)
        collection.runs.append(CollectedRun(run_dir, record, epochs))
        try:
            collection.runs[-1].deploy_timing = read_deploy_timing(run_dir)
        except RecordError as error:  # the run stays; its latency columns stay empty
            collection.problems.append(Problem(run_dir, str(error)))
    collection.incomplete = find_incomplete_run_dirs(collection.roots)
    return collection


def _read_epochs_safely(run_dir: Path) -> tuple[list[dict[str, Any]], Problem | None]:
    path = run_dir / EPOCHS_FILE
    if not path.is_file():
        return [], None
    try:
        return read_epochs(path), None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return [], Problem(path, f"{path}: unreadable epochs file ({error}); learning curves skip this run.")


def _inside_report_dir(run_dir: Path, roots: list[Path]) -> bool:
    """Ignore anything under a ``report/`` folder below a root (a copied record there is not a run)."""
    for root in roots:
        try:
            relative = run_dir.resolve().relative_to(root.resolve())
        except ValueError:
            continue
        if REPORT_DIR_NAME in relative.parts:
            return True
    return False


def find_incomplete_run_dirs(roots: list[Path]) -> list[Path]:
    """Run dirs that were started (config.yaml, epochs.csv or checkpoint.pt) but have no result.json."""
    found: set[Path] = set()
    for root in roots:
        for marker in STARTED_MARKERS:
            for path in Path(root).rglob(marker):
                run_dir = path.parent
                if not (run_dir / RESULT_FILE).exists() and run_dir.name != ".hydra":
                    found.add(run_dir)
    return sorted(found)
