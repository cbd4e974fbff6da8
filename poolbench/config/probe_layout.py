"""Geometry and config checks of the probe tasks (no torch: the config check uses it before anything loads).

A probe image is a canvas divided into a ``grid`` x ``grid`` array of square slots; each motif instance sits in
its own slot at a random offset inside it (the jitter), so instances never overlap and any slot can be empty.
The grid is centred on the canvas. For the position task the grid must be even, so that every quadrant holds
the same number of slots and "which quadrant" is defined without ambiguity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from poolbench.errors import ConfigError

TASKS = ("presence", "density", "position")
# Classes each task defines by construction (presence has one class per motif: any number >= 2).
TASK_CLASSES = {"density": 2, "position": 4}
SLOT_MARGIN = 2  # pixels of jitter room per slot: a slot is motif_size + SLOT_MARGIN wide


@dataclass(frozen=True)
class Layout:
    image_size: int
    motif_size: int

    @property
    def slot(self) -> int:
        return self.motif_size + SLOT_MARGIN

    @property
    def grid(self) -> int:
        return self.image_size // self.slot

    @property
    def offset(self) -> int:
        """Pixels before the first slot (the grid is centred on the canvas)."""
        return (self.image_size - self.grid * self.slot) // 2

    @property
    def slots(self) -> int:
        return self.grid * self.grid

    def quadrant_of(self, row: int, col: int) -> int:
        """0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right (the label of the position task)."""
        half = self.grid // 2
        return 2 * int(row >= half) + int(col >= half)


def instances_needed(dataset: Mapping[str, Any]) -> int:
    """The most motif instances one image of this task can hold (each needs a slot of its own)."""
    task, distractors = dataset["task"], int(dataset.get("distractors") or 0)
    if task == "density":
        return int(max(dataset["majority"])) + int(max(dataset["minority"])) + distractors
    return 1 + distractors


def check_probe(dataset: Mapping[str, Any]) -> None:
    """The task's classes, count ranges and instances fit what it defines and what the canvas holds."""
    task = dataset["task"]
    classes = TASK_CLASSES.get(task)
    if classes is not None and dataset["num_classes"] != classes:
        allowed, fix = f"{classes} for task={task}", f"dataset.num_classes={classes}"
        raise ConfigError("dataset.num_classes", dataset["num_classes"], allowed, fix)
    if task == "density":
        low_major, high_major = dataset["majority"]
        low_minor, high_minor = dataset["minority"]
        if low_major > high_major or low_minor > high_minor or high_minor >= low_major:
            raise ConfigError(
                "dataset.majority/minority",
                (dataset["majority"], dataset["minority"]),
                "[low, high] ranges with every majority count above every minority count",
                "e.g. dataset.majority=[6,7] dataset.minority=[4,5]",
            )
    layout = Layout(int(dataset["image_size"]), int(dataset["motif_size"]))
    needed = instances_needed(dataset)
    if layout.grid < 2 or needed > layout.slots or (task == "position" and layout.grid % 2):
        raise ConfigError(
            "dataset.motif_size",
            dataset["motif_size"],
            f"a size whose slots (motif_size+{SLOT_MARGIN} px) tile the {dataset['image_size']} px canvas in a grid "
            f"of at least 2x2 (even for position) with room for {needed} instances; "
            f"now {layout.grid}x{layout.grid}",
            "lower dataset.motif_size or dataset.distractors, or raise dataset.image_size",
        )
