"""Whether a sweep's report is current: written after every run record it is built from.

A re-run of a finished sweep changes no record; rebuilding its figures would take most of the re-run's time.
``poolbench-report DIR`` always rebuilds (e.g. after changing the baseline or poolbench itself).
"""

from __future__ import annotations

from pathlib import Path

from poolbench.record import EPOCHS_FILE, RESULT_FILE

REPORT_DIR = "report"
REPORT_FILE = "report.md"


def report_is_current(sweep_dir: Path) -> bool:
    """True when SWEEP_DIR/report/report.md exists and is newer than every result.json and epochs.csv below."""
    report = Path(sweep_dir) / REPORT_DIR / REPORT_FILE
    if not report.is_file():
        return False
    written = report.stat().st_mtime
    for name in (RESULT_FILE, EPOCHS_FILE):
        for path in Path(sweep_dir).rglob(name):
            if REPORT_DIR in path.relative_to(sweep_dir).parts[:1]:
                continue
            if path.stat().st_mtime >= written:
                return False
    return True
