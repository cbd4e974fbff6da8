"""Time-to-verdict: the seconds ``make claims`` spends in its runs, estimated from one short real run per cell.

For every cell of the claims grid (every preset of ``conf/experiment/claims_presets.txt``) one run trains with the
grid's real settings through the ``poolbench`` command (``jobs=2``, so the run gets the threads ``make claims``
gives it; head ``gap`` stands for the cell's heads), for ``--epochs`` epochs instead of the cell's own. Its
record's time split (``poolbench.record``) is scaled: start-up, final tests and deployment once, training and
per-epoch evaluation per epoch; CPU-seconds the same way (evaluation at training's CPU/wall ratio). Times the
runs per cell (heads x seeds of the preset's sweep) gives the grid's run time, wall and CPU-seconds: a change
in speed shows up as minutes of ``make claims``. Not included: ``poolbench-deploy`` and the report (seconds to a
minute), and process start-ups.

Usage: python -m poolbench.bench.time_to_verdict [--epochs 2] [--precisions auto,fp32]
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPRESENTATIVE_HEAD = "gap"


def grid_cells(conf_dir: Path) -> list[tuple[str, list[str], int]]:
    """(label, overrides, runs in the cell) for every cell of every claims preset (``claims_presets.txt``); a
    cell is one value of each key the preset sweeps besides head and seed (``claims_cell``, ``backbone.depth``)."""
    from poolbench.config.presets import claims_presets, sweep_axes

    cells = []
    for preset in claims_presets(conf_dir / "experiment" / "claims_presets.txt"):
        params = sweep_axes(preset, conf_dir)
        runs = len(params["head"]) * len(params["seed"])
        keys = [key for key in params if key not in ("head", "seed")]  # claims_cell, backbone.depth, ...
        for values in itertools.product(*(params[key] for key in keys)):
            label = "/".join([preset, *values])
            cells.append((label, [f"experiment={preset}", *(f"{k}={v}" for k, v in zip(keys, values))], runs))
    return cells


def cell_epochs(overrides: list[str]) -> int:
    """The cell's own epoch count (its preset and claims_cell composed)."""
    from hydra import compose, initialize_config_dir

    from poolbench.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return int(compose(config_name="config", overrides=overrides).trainer.epochs)


def short_run(overrides: list[str], epochs: int, precision: str, out: Path) -> Any:
    """One real run of the cell through the ``poolbench`` command, as ``make claims`` starts it (the preset's
    sweep narrowed to one head and seed), for ``epochs`` epochs; returns its record."""
    from poolbench.record import find_run_dirs, read_result

    command = [sys.executable, "-m", "poolbench", *overrides, f"head={REPRESENTATIVE_HEAD}", "seed=0", "jobs=2"]
    command += [f"trainer.epochs={epochs}", f"trainer.precision={precision}", f"paths.results_dir={out}"]
    command += ["report_on_sweep_end=false", "progress=false"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = find_run_dirs(out)
    if done.returncode != 0 or len(found) != 1:
        raise SystemExit(f"time-to-verdict: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return read_result(found[0])


def estimate(record: Any, epochs: int, real_epochs: int) -> dict[str, float]:
    """Wall and CPU seconds of the run at its real epoch count, from the short run's time split."""
    per_epoch = record.train_seconds + record.eval_seconds
    cpu_ratio = record.train_cpu_seconds / record.train_seconds if record.train_seconds else 1.0
    cpu_per_epoch = record.train_cpu_seconds + cpu_ratio * record.eval_seconds
    scale = real_epochs / epochs
    return {
        "run_seconds": record.run_seconds + per_epoch * (scale - 1),
        "run_cpu_seconds": record.run_cpu_seconds + cpu_per_epoch * (scale - 1),
        "train_seconds": record.train_seconds * scale,
    }


def time_to_verdict(epochs: int, precisions: list[str]) -> dict[str, Any]:
    """Per precision: the grid's estimated run seconds, CPU-seconds and training seconds, cell by cell. The
    precisions alternate within each cell (their order turns from cell to cell), so a machine that other work
    slows down for a while slows each of them alike."""
    from poolbench.config import CONF_DIR

    rows: dict[str, list[dict[str, Any]]] = {precision: [] for precision in precisions}
    ran: dict[str, str | None] = dict.fromkeys(precisions)
    for index, (label, overrides, runs) in enumerate(grid_cells(Path(CONF_DIR))):
        real_epochs = cell_epochs(overrides)
        for precision in precisions[index % len(precisions) :] + precisions[: index % len(precisions)]:
            with tempfile.TemporaryDirectory(prefix="poolbench-ttv-") as scratch:
                record = short_run(overrides, epochs, precision, Path(scratch))
            ran[precision] = record.precision
            per_run = estimate(record, epochs, real_epochs)
            rows[precision].append({"cell": label, "runs": runs, **{k: v * runs for k, v in per_run.items()}})
            print(f"  {precision} {label}: {per_run['run_seconds']:.1f} s per run x {runs}", file=sys.stderr)
    result: dict[str, Any] = {"epochs_measured": epochs, "head": REPRESENTATIVE_HEAD, "precisions": {}}
    for precision, cells in rows.items():
        totals = {key: sum(row[key] for row in cells) for key in ("run_seconds", "run_cpu_seconds", "train_seconds")}
        totals["train_share"] = totals["train_seconds"] / totals["run_seconds"]
        result["precisions"][precision] = {"ran": ran[precision], "cells": cells, **totals}
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each short run (default 2)")
    parser.add_argument("--precisions", default="auto,fp32", help="trainer.precision values (default auto,fp32)")
    args = parser.parse_args(argv)
    result = time_to_verdict(max(1, args.epochs), [p.strip() for p in args.precisions.split(",") if p.strip()])
    for precision, row in result["precisions"].items():
        print(
            f"time-to-verdict (make claims runs, precision={precision} -> {row['ran']}): "
            f"{row['run_seconds'] / 60:.1f} min of run time, {row['run_cpu_seconds']:,.0f} CPU-seconds, "
            f"training {100 * row['train_share']:.0f} % (one {result['head']} run per cell, "
            f"{result['epochs_measured']} epochs, scaled)"
        )
    print(json.dumps(result, default=float))
    return result


if __name__ == "__main__":
    main()
