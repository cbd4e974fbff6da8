"""A sweep you can watch: one line per finished run, from the sweep ledger, in the launching process
(``poolbench.sweep.ledger.SweepSummary`` starts and stops it).

    [37/180] ok gap seed 3 · 2 failed · elapsed 12:04 · ETA 18 min

Every job notes its outcome in the ledger (``poolbench.sweep.ledger``) whichever launcher ran it (basic, joblib,
submitit, SLURM), so the lines are the same under all of them and never depend on the workers' output. A thread
of the launching process reads the ledger every ``poll_s`` seconds and once more when the sweep ends (so no run
is left out). On a terminal a sweep-level tqdm bar (runs done of the sweep) sits below the lines; elsewhere
(a file, CI) the lines alone are the progress. The ETA is the time per run that ran so far (runs skipped
because they were finished take none) times the runs left; with parallel jobs that time is already shared.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Entries = Callable[[], Sequence[tuple[Path, dict[str, Any]]]]  # the ledger's (file, entry) pairs so far
DONE = ("ok", "failed", "diverged", "skipped")  # a "requeued" job comes back: not done yet
FAILED = ("failed", "diverged")


def run_label(run_dir: str) -> str:
    """'gap seed 3' for ``.../gap/seed3-1a2b3c4d``; the folder's name for any other layout."""
    path = Path(run_dir)
    seed = re.fullmatch(r"seed(\d+)(?:-\w+)?", path.name)
    return f"{path.parent.name} seed {seed.group(1)}" if seed else path.name


def clock_text(seconds: float) -> str:
    """'12:04', or '1:02:03' from an hour on."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta_text(seconds: float) -> str:
    """'<1 min', '18 min', '2 h 05 min'."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "<1 min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


class SweepWatch:
    """Turns ledger entries into progress lines; ``start``/``stop`` run it on a thread of the launching process."""

    def __init__(
        self,
        entries: Entries,
        total: int | None,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        bar: bool | None = None,
    ) -> None:
        self.entries, self.total, self.poll_s, self.clock = entries, total, poll_s, clock
        self.started = clock()
        self.seen: dict[str, str] = {}  # ledger file -> the status last shown
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        if bar if bar is not None else sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="run", desc="sweep", dynamic_ncols=True, leave=False)

    # ------------------------------------------------------------------------------------------- lines
    def poll(self) -> list[str]:
        """The lines for the entries that are new (or changed: a requeued job's last word) since the last poll;
        finished runs skipped at once are summed up in one line."""
        fresh = []
        for path, entry in sorted(self.entries(), key=_written_at):
            status = str(entry.get("status"))
            if self.seen.get(path.name) != status:
                fresh.append((path.name, status, str(entry.get("run_dir", path.name))))
        lines: list[str] = []
        skipped = [name for name, status, _ in fresh if status == "skipped"]
        if skipped:
            self.seen.update(dict.fromkeys(skipped, "skipped"))
            lines.append(self.line(f"skipped {len(skipped)} finished run{'s' if len(skipped) > 1 else ''}"))
        for name, status, run_dir in fresh:
            if status != "skipped":
                self.seen[name] = status
                lines.append(self.line(f"{status} {run_label(run_dir)}"))
        return lines

    def line(self, what: str) -> str:
        statuses = list(self.seen.values())
        done = sum(status in DONE for status in statuses)
        failed = sum(status in FAILED for status in statuses)
        ran = sum(status in DONE and status != "skipped" for status in statuses)
        elapsed = self.clock() - self.started
        parts = [f"[{done}/{self.total if self.total is not None else '?'}] {what}", f"{failed} failed"]
        parts.append(f"elapsed {clock_text(elapsed)}")
        if self.total is not None and ran and done < self.total:
            parts.append(f"ETA {eta_text(elapsed / ran * (self.total - done))}")
        return " · ".join(parts)

    def show(self, lines: Sequence[str]) -> None:
        if self._bar is None:
            for line in lines:
                print(line, flush=True)
            return
        from tqdm import tqdm

        for line in lines:
            tqdm.write(line, file=sys.stderr)
        done = sum(status in DONE for status in self.seen.values())
        self._bar.update(done - self._bar.n)

    # ------------------------------------------------------------------------------------------- thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="poolbench-sweep-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.show(self.poll())

    def stop(self) -> None:
        """The last lines (every outcome noted so far), and the bar closed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.show(self.poll())
        if self._bar is not None:
            self._bar.close()


def _written_at(item: tuple[Path, dict[str, Any]]) -> tuple[int, str]:
    try:
        return item[0].stat().st_mtime_ns, item[0].name
    except OSError:
        return 0, item[0].name
