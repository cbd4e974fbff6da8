"""``poolbench-report PATH... [--out DIR] [--baseline HEAD] [--group-by KEY ...]``: parsing and printing only."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from poolbench.errors import PoolbenchError

USAGE_ERROR = 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="poolbench-report",
        description="Tables (CSV, Markdown, LaTeX), figures (PNG, PDF) and report.md from poolbench run records.",
        epilog="Example: poolbench-report results/demo   (writes results/demo/report/)",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="run dirs, sweep dirs or trees of them")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="output dir (default: PATH/report)")
    parser.add_argument(
        "--baseline", default="gap", metavar="HEAD", help="head compared with the others, paired on seed (default: gap)"
    )
    parser.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="KEY[,KEY]",
        help="extra keys that split rows beyond dataset/backbone/head: a result field or a dotted config key, "
        "repeatable or comma-separated (e.g. --group-by trainer.lr,epochs)",
    )
    parser.add_argument("--no-figures", action="store_true", help="tables and report.md only (faster)")
    return parser.parse_args(argv)


def split_keys(values: Sequence[str]) -> list[str]:
    return [key.strip() for value in values for key in value.split(",") if key.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    from poolbench.report.collect import check_paths

    args = parse_args(argv)
    try:
        check_paths(args.paths)  # before the heavy imports: a typo in a path answers at once
        from poolbench.report.build import write_report

        result = write_report(
            args.paths,
            args.out,
            baseline=args.baseline,
            group_by=split_keys(args.group_by),
            figures=not args.no_figures,
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
