"""Write poolbench/report/architectures.csv: parameter counts of well-known architectures (torchvision's
definitions, no weights, nothing downloaded) with their classic flatten + dense head and with a global-pool head.
The report reads the file (claim 1, "where it matters"); tests/test_architectures.py recomputes it.

    python scripts/architectures.py [--out poolbench/report/architectures.csv]
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from poolbench.atomic import atomic_write_text
from poolbench.models.architectures import architecture_rows

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "poolbench" / "report" / "architectures.csv"


def csv_text() -> str:
    rows = [row.as_dict() for row in architecture_rows()]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    atomic_write_text(args.out, csv_text())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
