"""``python -m poolbench`` and the ``poolbench`` console script.

The command's own module (``poolbench.cli``) is imported here, inside the Ctrl-C guard: its imports (Hydra,
then torch in the preflight) take seconds, and Ctrl-C in them ends with one line and exit code 130 like Ctrl-C
anywhere else, not a traceback of the import machinery."""

from __future__ import annotations

import signal
import sys

INTERRUPTED = (
    "poolbench: interrupted by SIGINT (Ctrl-C); runs that finished are recorded, and the same command goes on "
    "from there"
)


def entry() -> None:
    try:
        from poolbench.cli import main

        main()
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(128 + signal.SIGINT)


if __name__ == "__main__":
    entry()
