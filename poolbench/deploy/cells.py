"""The cells of a results dir and their trained models.

A *cell* is a group of finished runs that differ only in head and seed (same dataset, backbone, training
settings). Each run's model is rebuilt from its ``config.yaml`` with the trained weights of its
``checkpoint.pt`` (kept after a finished run: ``trainer.checkpoint``, on by default), and its test images are
the ones the run was scored on (``prepare_data`` with the run's seed: the test subset is the same in every run
of a cell, the normalisation is the run's own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poolbench.config.run_folder import read_config
from poolbench.errors import RecordError
from poolbench.record import CHECKPOINT_FILE, compute_run_key, find_run_dirs, read_result

REPORT_DIR = "report"


@dataclass
class CellRun:
    run_dir: Path
    head: str
    seed: int
    config: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        dataset = self.config["dataset"]
        return int(dataset["channels"]), int(dataset["image_size"]), int(dataset["image_size"])


def cell_id(config: dict[str, Any]) -> str:
    """What a cell's runs share: the run key of their config without the head and the seed."""
    return compute_run_key({key: value for key, value in config.items() if key not in ("head", "seed")})


def arch_id(config: dict[str, Any]) -> str:
    """What decides the inference work of a run's model: backbone, head and the input and output sizes. Two
    cells (e.g. the same CNN trained on 1k and on 3k images) with equal ids run the same graph: a control."""
    dataset = config["dataset"]
    shape = {key: dataset.get(key) for key in ("channels", "image_size", "num_classes")}
    return compute_run_key({"backbone": config["backbone"], "head": config["head"], "shape": shape})


def find_cells(roots: Sequence[Path]) -> dict[str, list[CellRun]]:
    """Every finished (status ok) run under ``roots`` with a config.yaml, grouped by cell, in a stable order."""
    cells: dict[str, list[CellRun]] = {}
    for run_dir in find_run_dirs(*roots):
        if any(REPORT_DIR in run_dir.relative_to(root).parts for root in roots if run_dir.is_relative_to(root)):
            continue  # a copy under a report folder is not a run
        try:
            record = read_result(run_dir)
        except RecordError:
            continue  # the report lists unreadable records; nothing to time here
        config = read_config(run_dir)
        if record.status != "ok" or config is None:
            continue
        cells.setdefault(cell_id(config), []).append(CellRun(run_dir, record.head, record.seed, config))
    return {key: sorted(runs, key=lambda r: (r.head, r.seed, str(r.run_dir))) for key, runs in sorted(cells.items())}


def memory_layout(run: CellRun) -> torch.memory_format:
    """channels_last unless the run turned it off (what it trained and was scored with)."""
    return torch.contiguous_format if run.config["trainer"].get("channels_last") is False else torch.channels_last


def build_model(run: CellRun) -> tuple[nn.Module, str]:
    """The run's classifier in eval mode on the CPU (fp32), with its checkpoint's weights when they load; and
    which weights it holds ("trained (checkpoint)" or why not)."""
    from poolbench.models import build_classifier

    channels, size, _ = run.input_shape
    classes = int(run.config["dataset"]["num_classes"])
    model, _ = build_classifier(run.config["backbone"], run.config["head"], channels, size, classes)
    weights = "initial (no checkpoint)"
    checkpoint = run.run_dir / CHECKPOINT_FILE
    if checkpoint.is_file():
        try:
            model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["model"])
            weights = "trained (checkpoint)"
        except Exception as error:  # any unreadable checkpoint: say so; parity and timing still mean something
            weights = f"initial (checkpoint not loaded: {type(error).__name__})"
    return model.to(memory_format=memory_layout(run)).eval(), weights


def test_images(run: CellRun, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's test images, normalised as the run saw them (fp32, CPU), and their labels; the first ``limit``."""
    from poolbench.config.validate import validate
    from poolbench.data.splits import prepare_data

    settings = validate(run.config)
    data = prepare_data(settings.dataset, settings.data_dir, torch.device("cpu"), run.seed)
    images, labels = data.test.x[:limit], data.test.y[:limit]
    return (images.float() / 255.0 - data.mean) / data.std, labels
