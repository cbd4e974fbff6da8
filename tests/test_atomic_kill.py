"""Kill a writer at random instants: every file poolbench writes is then absent, the old version or the new one.

A forked child rewrites one file of each kind in a loop through poolbench's own writers (run record files via
poolbench.record, the checkpoint via atomic_torch_save, a report table and a figure and a cache via atomic.py),
alternating between two versions; the parent SIGKILLs it after a random delay, then parses every target and
checks it equals one of the two versions exactly. Temporary files left by a kill are allowed (hidden
``.NAME.*.tmp`` siblings); a truncated target is not.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from poolbench.atomic import atomic_open, atomic_torch_save, atomic_write_bytes, atomic_write_text
from poolbench.record import (
    SCHEMA_VERSION,
    RunRecord,
    read_epochs,
    read_result,
    write_config,
    write_epochs,
    write_result,
)

KILLS = 25


def version(index: int) -> dict[str, Any]:
    """Two distinct versions of every file's content; large enough that a write takes a while."""
    rng = np.random.default_rng(index)
    return {
        "record": RunRecord(
            status="ok",
            run_key=f"key{index}",
            dataset="d",
            backbone="b",
            head="h",
            seed=index,
            epochs=3,
            test_acc=0.5 + index / 10,
            pool_params={"gem_p": 3.0 + index},
        ),
        "epochs": [
            {
                "epoch": e,
                "lr": 0.1 * index,
                "train_loss": float(rng.random()),
                "train_acc": 0.5,
                "val_loss": 1.0,
                "val_acc": 0.5,
                "test_loss": 1.0,
                "test_acc": 0.5,
                "seconds": 1.0,
            }
            for e in range(1, 200)
        ],
        "config": "".join(f"key_{i}: {index}\n" for i in range(2000)),
        "checkpoint": {
            "run_key": f"key{index}",
            "weights": torch.from_numpy(rng.random((512, 512)).astype(np.float32)),
        },
        "table": "| head | acc |\n|---|---|\n" + "".join(f"| h{i} | {index}.{i} |\n" for i in range(3000)),
        "figure": rng.random((64, 64)),
        "cache": rng.bytes(1 << 20),
    }


def write_all(directory: Path, content: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    write_result(directory, content["record"])
    write_epochs(directory, content["epochs"])
    write_config(directory, content["config"])
    atomic_torch_save(directory / "checkpoint.pt", content["checkpoint"])
    atomic_write_text(directory / "table.md", content["table"])
    figure = plt.figure(figsize=(2, 2))
    figure.figimage(content["figure"])
    with atomic_open(directory / "figure.png", "wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
    atomic_write_bytes(directory / "cache.bin", content["cache"])


READERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "record": ("result.json", lambda p: read_result(p).to_json()),
    "epochs": ("epochs.csv", read_epochs),
    "config": ("config.yaml", lambda p: p.read_text()),
    "checkpoint": ("checkpoint.pt", lambda p: torch.load(p, weights_only=True)),
    "table": ("table.md", lambda p: p.read_text()),
    "figure": ("figure.png", lambda p: p.read_bytes()),
    "cache": ("cache.bin", lambda p: p.read_bytes()),
}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b


def expected_forms(reference_dir: Path) -> dict[str, list[Any]]:
    """What each target reads as after a complete write of version 0 or 1 (written once, uninterrupted)."""
    forms: dict[str, list[Any]] = {kind: [] for kind in READERS}
    for index in (0, 1):
        directory = reference_dir / str(index)
        directory.mkdir(parents=True)
        write_all(directory, version(index))
        for kind, (name, read) in READERS.items():
            forms[kind].append(read(directory / name))
    return forms


def writer_loop(directory: Path, contents: list[dict[str, Any]]) -> None:
    """Runs in a forked child: only writes (no torch compute, whose thread pool may not survive a fork)."""
    index = 0
    while True:
        write_all(directory, contents[index % 2])
        index += 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_killed_writer_never_leaves_a_partial_file(tmp_path: Path) -> None:
    forms = expected_forms(tmp_path / "reference")
    target = tmp_path / "target"
    target.mkdir()
    contents = [version(0), version(1)]
    rng = random.Random(0)
    interrupted = 0
    for _ in range(KILLS):
        pid = os.fork()
        if pid == 0:
            try:
                writer_loop(target, contents)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for kind, (name, read) in READERS.items():
            path = target / name
            if path.exists():
                value = read(path)
                assert any(same(value, form) for form in forms[kind]), f"{name} is neither version after a kill"
        leftovers = list(target.glob(".*.tmp"))
        interrupted += bool(leftovers)
        for leftover in leftovers:
            leftover.unlink()
    assert interrupted >= 1, "no kill landed inside a write: the test did not exercise anything"
    assert json.loads((target / "result.json").read_text())["schema_version"] == SCHEMA_VERSION
