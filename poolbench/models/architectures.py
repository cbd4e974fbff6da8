"""Claim 1 where it matters: how many parameters a global-pool head saves in well-known ImageNet architectures.

torchvision's own model definitions, built without weights on the meta device (nothing downloaded, nothing
allocated), at their native 224 px input and 1000 classes. For each, the last feature map (C x H x W) its head
reads, and three parameter counts, the body's (everything but the head) and two heads':

- the classic head, flatten + dense: ``C*H*W*K + K``; for VGG-16 and AlexNet their published head, flatten +
  dense(4096) + dense(4096) + dense(K): ``C*H*W*4096 + 4096 + 4096*4096 + 4096 + 4096*K + K`` (dropout has none);
- the global-pool head, global average (or max) pooling + dense: ``C*K + K``.

The architecture ships one of them (``native``); the other is built as poolbench builds it, on the same feature
map. ``scripts/architectures.py`` writes the rows to ``poolbench/report/architectures.csv``, which claims.md
shows (``poolbench.report.claims.tables.architectures_table``: reports never build models);
``tests/test_architectures.py`` recomputes them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

INPUT_PX, CLASSES, HIDDEN = 224, 1000, 4096


@dataclass(frozen=True)
class Spec:
    """Where an architecture's head starts: the module whose input (or output) is the last feature map."""

    builder: str  # torchvision.models.<builder>
    feature_module: str
    feature_is_input: bool  # the feature map enters this module (True) or leaves it (False)
    head_module: str
    native: str  # "classic" or "global": the head the architecture ships


SPECS = {
    "VGG-16": Spec("vgg16", "avgpool", False, "classifier", "classic"),
    "AlexNet": Spec("alexnet", "avgpool", False, "classifier", "classic"),
    "ResNet-18": Spec("resnet18", "avgpool", True, "fc", "global"),
    "ResNet-50": Spec("resnet50", "avgpool", True, "fc", "global"),
    "MobileNetV2": Spec("mobilenet_v2", "features", False, "classifier", "global"),
}
CLASSIC_HEADS = {"classic": "flatten + dense(4096) + dense(4096) + dense(K)", "global": "flatten + dense(K)"}


@dataclass(frozen=True)
class ArchitectureRow:
    architecture: str
    input_px: int
    classes: int
    channels: int
    height: int
    width: int
    native_head: str
    classic_head: str
    body_params: int
    classic_head_params: int
    global_head_params: int

    @property
    def classic_total(self) -> int:
        return self.body_params + self.classic_head_params

    @property
    def global_total(self) -> int:
        return self.body_params + self.global_head_params

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "classic_total_params": self.classic_total, "global_total_params": self.global_total}


def count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def classic_head_params(channels: int, height: int, width: int, classes: int, mlp: bool) -> int:
    """The closed form of the classic head: flatten + dense, or (``mlp``) VGG's flatten + two 4096 layers."""
    flat = channels * height * width
    if not mlp:
        return flat * classes + classes
    return flat * HIDDEN + HIDDEN + HIDDEN * HIDDEN + HIDDEN + HIDDEN * classes + classes


def global_head_params(channels: int, classes: int) -> int:
    """The closed form of the global-pool head: one dense layer on C pooled features."""
    return channels * classes + classes


def feature_map(model: nn.Module, spec: Spec) -> tuple[int, int, int]:
    """(C, H, W) of the feature map the head reads, from one meta-device forward pass at the native size."""
    seen: list[torch.Size] = []
    module = model.get_submodule(spec.feature_module)

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen.append((inputs[0] if spec.feature_is_input else output).shape)

    handle = module.register_forward_hook(hook)
    try:
        model(torch.empty(1, 3, INPUT_PX, INPUT_PX, device="meta"))
    finally:
        handle.remove()
    _, channels, height, width = seen[0]
    return int(channels), int(height), int(width)


def architecture_row(name: str) -> ArchitectureRow:
    """The counts of one architecture of ``SPECS``, from its torchvision definition (no weights)."""
    import torchvision.models

    spec = SPECS[name]
    with torch.device("meta"):
        model = getattr(torchvision.models, spec.builder)(weights=None, num_classes=CLASSES)
        channels, height, width = feature_map(model, spec)
        native = count(model.get_submodule(spec.head_module))
        if spec.native == "classic":  # the other head, as poolbench's GAP head builds it
            classic, other = native, count(nn.Linear(channels, CLASSES))
        else:
            classic, other = count(nn.Linear(channels * height * width, CLASSES)), native
    return ArchitectureRow(
        architecture=name,
        input_px=INPUT_PX,
        classes=CLASSES,
        channels=channels,
        height=height,
        width=width,
        native_head=spec.native,
        classic_head=CLASSIC_HEADS[spec.native],
        body_params=count(model) - native,
        classic_head_params=classic,
        global_head_params=other,
    )


def architecture_rows() -> list[ArchitectureRow]:
    return [architecture_row(name) for name in SPECS]
