"""Shared test helpers: compose configs with Hydra's compose API, and run the real CLI in a subprocess."""

from __future__ import annotations

import atexit
import functools
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from poolbench.config.settings import Settings
from poolbench.config.validate import validate

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "poolbench" / "conf"

# A run that takes about a second on 2 CPU cores: tiny synthetic images, a narrow CNN, two short epochs.
TINY = [
    "dataset=synthetic",
    "dataset.train_size=400",
    "dataset.test_size=200",
    "dataset.image_size=12",
    "backbone.widths=[8,16]",
    "trainer.epochs=2",
    "trainer.batch_size=32",
    "trainer.threads=1",
    "progress=false",
    "report_on_sweep_end=false",
]


def compose_cfg(overrides: Sequence[str] = (), output_dir: Path | None = None) -> DictConfig:
    """The composed config, as the CLI would see it; ``output_dir`` replaces the Hydra-only interpolation."""
    extra = [f"paths.output_dir={output_dir}"] if output_dir is not None else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=[*overrides, *extra])


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that must import *this* checkout's poolbench."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("POOLBENCH_TRACEBACK", None)
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m poolbench ARGS`` in ``cwd``; returns the finished process (stdout, stderr, returncode)."""
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def tiny_overrides(tmp_path: Path) -> list[str]:
    """TINY plus results and data dirs inside the test's tmp_path."""
    return [*TINY, f"paths.results_dir={tmp_path / 'results'}", f"data_dir={tmp_path / 'data'}"]


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` as an unsigned-byte IDX file (the MNIST family's on-disk format), gzipped when ``path`` ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


@functools.cache
def tiny_image_folder() -> Path:
    """A real two-class image folder (one 4x4 PNG per class), made once per test process, for tests that only
    need ``dataset=image_folder`` to validate (validation lists the folder: class count, content key)."""
    from PIL import Image

    root = Path(tempfile.mkdtemp(prefix="poolbench-images-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for value, name in enumerate(("cat", "dog")):
        (root / name).mkdir()
        Image.fromarray(np.full((4, 4, 3), 100 * value, dtype=np.uint8), mode="RGB").save(root / name / "0.png")
    return root


def compose_settings(overrides: Sequence[str] = (), output_dir: Path | None = None) -> Settings:
    """The validated, typed settings of ``compose_cfg(overrides, output_dir)``: what ``run`` takes."""
    return validate(compose_cfg(overrides, output_dir))
