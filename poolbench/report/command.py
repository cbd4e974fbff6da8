"""``poolbench-report PATH... [--out DIR] [--baseline HEAD] [--group-by KEY ...]``: parsing and printing only."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from poolbench.errors import PoolbenchError

USAGE_ERROR = 2
REFERENCE_PARTS = ("results", "reference")  # the committed reference records and reports (results/reference/)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="poolbench-report",
        description="Tables (CSV, Markdown, LaTeX), figures (PNG, PDF) and report.md from poolbench run records.",
        epilog="Example: poolbench-report results/demo   (writes results/demo/report/)",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="run dirs, sweep dirs or trees of them")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="output dir (default: PATH/report)")
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="HEAD",
        help="head compared with the others, paired on seed; one of the heads of the records (default: gap)",
    )
    parser.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="KEY[,KEY]",
        help="extra keys that split rows beyond dataset/backbone/head: a dotted config key, or a record field "
        "that says how a run was made (epochs, device, git_sha, ...; not a metric such as test_acc, not seed), "
        "repeatable or comma-separated (e.g. --group-by trainer.lr,epochs)",
    )
    parser.add_argument(
        "--plan",
        type=Path,
        default=None,
        metavar="FILE",
        help="the claims' analysis plan (default: the shipped poolbench/conf/analysis/claims.yaml)",
    )
    parser.add_argument(
        "--delta",
        type=positive_pp,
        default=1.0,
        metavar="PP",
        help="the paired table's smallest difference of interest, in pp of test accuracy: a head is better, worse "
        "or equivalent within ±PP of the baseline, or undecided (default: 1.0)",
    )
    parser.add_argument("--no-figures", action="store_true", help="tables and report.md only (faster)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write the report into PATH/report even under results/reference/ (the committed reference)",
    )
    return parser.parse_args(argv)


def positive_pp(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of percentage points in (0, 100), e.g. 1.0")
    return value


def split_keys(values: Sequence[str]) -> list[str]:
    return [key.strip() for value in values for key in value.split(",") if key.strip()]


def is_reference(path: Path) -> bool:
    """Whether ``path`` lies under a ``results/reference/`` folder."""
    parts = path.resolve().parts
    return any(parts[i : i + 2] == REFERENCE_PARTS for i in range(len(parts) - 1))


def refuse_reference_overwrite(paths: Sequence[Path], out: Path | None, force: bool) -> None:
    """The default output of a path under results/reference/ is the committed reference report: never replaced
    by accident (``--out DIR`` writes elsewhere, ``--force`` replaces it on purpose)."""
    from poolbench.report.collect import ReportInputError, default_out_dir

    if out is not None or force:
        return
    target = default_out_dir(paths)
    if is_reference(target):
        raise ReportInputError(
            f"{target} is a committed reference report: write elsewhere with --out DIR, or replace it with --force."
        )


def main(argv: Sequence[str] | None = None) -> int:
    from poolbench.report.collect import check_paths

    args = parse_args(argv)
    try:
        check_paths(args.paths)  # before the heavy imports: a typo in a path answers at once
        refuse_reference_overwrite(args.paths, args.out, args.force)
        from poolbench.report.build import write_report

        result = write_report(
            args.paths,
            args.out,
            baseline=args.baseline,
            group_by=split_keys(args.group_by),
            figures=not args.no_figures,
            plan=args.plan,
            delta=args.delta / 100.0,
        )
    except PoolbenchError as error:
        if os.environ.get("POOLBENCH_TRACEBACK", "") not in ("", "0"):
            raise
        print(f"poolbench-report: {error}", file=sys.stderr)
        return error.exit_code
    for message in result.problems:
        print(f"poolbench-report: skipped {message}", file=sys.stderr)
    print(
        f"poolbench-report: {result.n_records} record(s) ({result.n_ok} ok), {len(result.problems)} unreadable, "
        f"{result.n_missing} missing, {len(result.figures)} figure(s) -> {result.report_md}"
    )
    return 0


def console_main() -> None:
    sys.exit(main())
