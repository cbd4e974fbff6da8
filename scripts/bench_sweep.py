"""Wall time of one small sweep run two ways on the same cores: N parallel jobs x 1 torch thread (joblib
launcher) against 1 job at a time x N threads (basic launcher). Prints both medians and their ratio.

    python scripts/bench_sweep.py                    # FashionMNIST subset, small CNN, 4 heads, 2 epochs
    python scripts/bench_sweep.py --repeats 3 --dataset synthetic

Each trial is a fresh `poolbench -m ...` process (launcher start-up, worker imports and data loading are part
of what a sweep costs), with force=true into a fresh results dir; the two modes alternate so machine load drifts
affect both alike. Medians over --repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def sweep_args(args: argparse.Namespace, results_dir: Path) -> list[str]:
    data = (
        ["dataset=synthetic", "dataset.image_size=28", f"dataset.train_size={args.train_samples}"]
        if args.dataset == "synthetic"
        else ["dataset=fashion_mnist", f"dataset.train_samples={args.train_samples}", "dataset.test_samples=2000"]
    )
    return [
        "-m",
        *data,
        "backbone=small_cnn",
        f"head={args.heads}",
        f"trainer.epochs={args.epochs}",
        "progress=false",
        "force=true",
        f"paths.results_dir={results_dir}",
        "name=bench_sweep",
    ]


def time_sweep(extra: list[str], args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        command = [sys.executable, "-m", "poolbench", *sweep_args(args, Path(tmp)), *extra]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        began = time.perf_counter()
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"sweep failed ({' '.join(extra)}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2, help="cores to share (jobs x threads = cores)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=6000)
    parser.add_argument("--heads", default="gap,gmp,gem,flatten")
    parser.add_argument("--dataset", choices=("fashion_mnist", "synthetic"), default="fashion_mnist")
    args = parser.parse_args()

    modes = {
        f"{args.cores} jobs x 1 thread (joblib)": ["launcher=joblib", f"jobs={args.cores}", "trainer.threads=1"],
        f"1 job x {args.cores} threads (basic)": [f"trainer.threads={args.cores}"],
    }
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for repeat in range(args.repeats):
        for mode, extra in modes.items():
            times[mode].append(time_sweep(extra, args))
            print(f"  repeat {repeat + 1}: {mode}: {times[mode][-1]:.1f}s", flush=True)
    runs = len(args.heads.split(","))
    print(f"\nsweep: {runs} runs x {args.epochs} epochs, small_cnn, {args.dataset} ({args.train_samples} train images)")
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    for mode, median in medians.items():
        print(f"  {mode:32s} median {median:7.1f}s  over {args.repeats}")
    parallel, threaded = medians.values()
    print(
        f"speed-up of parallel jobs over threads: {threaded / parallel:.2f}x "
        f"({'parallel jobs' if parallel < threaded else 'threads'} faster)"
    )


if __name__ == "__main__":
    main()
