"""The tuned-per-head protocol, both stages, for several heads (``make tuned``):

    python -m poolbench.sweep.tuned_protocol [--heads gap,gmp,gem,flatten] [--dry-run] [OVERRIDE ...]

Stage 1, per head: ``poolbench experiment=tuned head=H`` (Optuna over trainer.lr and trainer.weight_decay on the
validation split, the same fixed budget for every head). Stage 2, per head: ``poolbench experiment=tuned_test
head=H trainer.lr=.. trainer.weight_decay=..`` at the setting stage 1 chose (seeds 0,1,2). Then the report
(``poolbench.report.tuned``) with each head's chosen setting and its test accuracy, and the wall time.

Each stage is an ordinary ``poolbench`` command, printed before it runs, so the protocol can be rerun by hand;
a rerun skips finished runs. OVERRIDEs go to every command (e.g. ``trainer.threads=1``, ``paths.results_dir=..``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir

from poolbench.config import CONF_DIR
from poolbench.errors import PoolbenchError
from poolbench.report.collect import collect_runs
from poolbench.report.tuned import TUNED_KEYS, choose_settings, write_tuned_report

SEARCH, TEST = "tuned", "tuned_test"  # the experiments of stage 1 and stage 2 (conf/experiment/)
DEFAULT_HEADS = "gap,gmp,gem,flatten"
RESERVED = ("name", "head", "seed", "hydra/sweeper", "experiment", "hydra.sweeper.n_trials", *TUNED_KEYS)


def poolbench_command(arguments: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "poolbench", *arguments]


def results_dirs(overrides: Sequence[str]) -> tuple[Path, Path]:
    """The stage-1 and stage-2 results folders (``paths.results_dir``/name), as the experiments compose them."""
    folders = []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for experiment in (SEARCH, TEST):
            cfg = compose(config_name="config", overrides=[f"experiment={experiment}", *overrides])
            folders.append(Path(str(cfg.paths.results_dir)) / str(cfg.name))
    return folders[0], folders[1]


def check_overrides(overrides: Sequence[str]) -> None:
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key in RESERVED:
            raise PoolbenchError(
                f"{override}: the protocol sets {key} itself. Allowed: overrides of the setting "
                "(e.g. trainer.threads=1, paths.results_dir=DIR, dataset.train_samples=N). Fix: remove it."
            )


def run_stage(arguments: list[str], dry_run: bool) -> int:
    command = poolbench_command(arguments)
    print("$ poolbench " + " ".join(arguments), flush=True)
    return 0 if dry_run else subprocess.run(command, check=False).returncode


def run_protocol(
    heads: Sequence[str], overrides: Sequence[str], trials: int | None = None, dry_run: bool = False
) -> int:
    """Both stages for ``heads``, then the report; the exit code is non-zero if a head has no stage-2 result."""
    check_overrides(overrides)
    search_dir, test_dir = results_dirs(overrides)
    began = time.perf_counter()
    budget = [f"hydra.sweeper.n_trials={trials}"] if trials is not None else []  # the same for every head
    for head in heads:  # a failed trial makes its sweep exit 1; the search still has its other trials
        run_stage([f"experiment={SEARCH}", f"head={head}", *budget, "report_on_sweep_end=false", *overrides], dry_run)
    if dry_run:
        print(f"$ poolbench experiment={TEST} head=H {' '.join(f'{k}=<chosen>' for k in TUNED_KEYS)}  (per head)")
        return 0
    chosen = choose_settings(collect_runs([search_dir]).runs) if search_dir.is_dir() else {}
    failed = [head for head in heads if head not in chosen]
    for head in heads:
        if head in chosen:
            setting = [f"{key}={value!r}" for key, value in zip(TUNED_KEYS, chosen[head].setting)]
            code = run_stage(
                [f"experiment={TEST}", f"head={head}", *setting, "report_on_sweep_end=false", *overrides], False
            )
            failed += [head] if code != 0 else []
    wall = time.perf_counter() - began
    paths = write_tuned_report(search_dir, test_dir, test_dir / "report_tuned", wall=f"{wall / 60:.1f} min")
    print(f"tuned report: {paths[0]} (wall time {wall / 60:.1f} min)")
    if failed:
        print(f"poolbench tuned: no complete result for: {', '.join(sorted(set(failed)))}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m poolbench.sweep.tuned_protocol", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--heads", default=DEFAULT_HEADS, help=f"comma-separated heads (default {DEFAULT_HEADS})")
    parser.add_argument("--trials", type=int, default=None, help="stage-1 trials per head (default: the preset's)")
    parser.add_argument("--dry-run", action="store_true", help="print the stage-1 commands only")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (not name, head, seed, lr, wd)")
    args = parser.parse_args(argv)
    try:
        code = run_protocol([h for h in args.heads.split(",") if h], args.overrides, args.trials, args.dry_run)
    except PoolbenchError as error:
        print(f"poolbench tuned: {error}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
