#!/usr/bin/env python
"""How fast poolbench trains, against a naive pipeline, the bare compute and the machine's matmul peak.

The benchmark lives in ``poolbench/bench/`` (what each variant is and how it is timed: ``poolbench/bench/command.py``);
this script runs it with this checkout's poolbench. The LAST line printed is one JSON object.

Usage: python scripts/bench.py [--backbone small_cnn --head gap --dataset fashion_mnist --steps 30 --reps 5]
       [--threads N] [--device cpu|cuda] [--compile] [hydra.overrides=...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's poolbench, not an installed one

from poolbench.bench.command import main

if __name__ == "__main__":
    main()
