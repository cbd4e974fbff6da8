"""Claim 1 where it matters: how many parameters a global-pool head saves in well-known ImageNet architectures.

torchvision's own model definitions, built without weights on the meta device (nothing downloaded, nothing
allocated), at their native 224 px input and 1000 classes. For each, the last feature map (C x H x W) its head
reads, and three parameter counts, the body's (everything but the head) and two heads':

- the classic head, flatten + dense: ``C*H*W*K + K``; for VGG-16 and AlexNet their published head, flatten +
  dense(4096) + dense(4096) + dense(K): ``C*H*W*4096 + 4096 + 4096*4096 + 4096 + 4096*K + K`` (dropout has none);
- the global-pool head, global average (or max) pooling + dense: ``C*K + K``.

The architecture ships one of them (``native``); the other is built as poolbench builds it, on the same feature
map. Compute and memory at batch 1: multiply-adds (``torch.utils.flop_counter`` on the meta device, 2 FLOPs per
multiply-add, as ``poolbench.models.flops``; pooling and activations not counted) of the body and of each head
(the heads' in closed form: ``C*H*W*K`` or VGG's ``C*H*W*4096 + 4096*4096 + 4096*K``, and ``C*K``), and the
largest activation a forward pass holds (fp32 bytes, the input included) with each head.
``scripts/architectures.py`` writes the rows to ``poolbench/report/architectures.csv``, which claims.md shows
(``poolbench.report.claims.tables.architectures_table``: reports never build models);
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
    body_macs: int = 0
    classic_head_macs: int = 0
    global_head_macs: int = 0
    classic_max_activation_bytes: int = 0
    global_max_activation_bytes: int = 0

    @property
    def classic_total(self) -> int:
        return self.body_params + self.classic_head_params

    @property
    def global_total(self) -> int:
        return self.body_params + self.global_head_params

    def as_dict(self) -> dict[str, object]:
        counts = {key: value for key, value in asdict(self).items() if not key.endswith(("_macs", "_bytes"))}
        compute = {key: value for key, value in asdict(self).items() if key.endswith(("_macs", "_bytes"))}
        totals = {"classic_total_params": self.classic_total, "global_total_params": self.global_total}
        macs = {"classic_total_macs": self.body_macs + self.classic_head_macs}
        macs["global_total_macs"] = self.body_macs + self.global_head_macs
        return {**counts, **totals, **compute, **macs}


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


def classic_head_macs(channels: int, height: int, width: int, classes: int, mlp: bool) -> int:
    """Multiply-adds of the classic head at batch 1 (its weights, one use each; biases are adds)."""
    flat = channels * height * width
    return flat * HIDDEN + HIDDEN * HIDDEN + HIDDEN * classes if mlp else flat * classes


def global_head_macs(channels: int, classes: int) -> int:
    """Multiply-adds of the global-pool head's dense layer (the pooling's adds are not counted)."""
    return channels * classes


def macs_and_largest_activation(model: nn.Module) -> tuple[int, int]:
    """Multiply-adds of one batch-1 forward pass at the native size, and its largest module output (fp32 bytes,
    the input included), on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    sizes = [4 * 3 * INPUT_PX * INPUT_PX]

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            sizes.append(4 * output.numel())

    handles = [module.register_forward_hook(hook) for module in model.modules()]
    try:
        with FlopCounterMode(display=False) as counter:
            model.eval()(torch.empty(1, 3, INPUT_PX, INPUT_PX, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return int(counter.get_total_flops()) // 2, max(sizes)


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
        native_macs, native_largest = macs_and_largest_activation(model)
    mlp = spec.native == "classic"
    head_macs = {
        "classic": classic_head_macs(channels, height, width, CLASSES, mlp),
        "global": global_head_macs(channels, CLASSES),
    }
    # the other head's largest activation: the body's (the native model's, at most) or the head's own outputs
    head_floats = {"classic": max(HIDDEN if mlp else CLASSES, CLASSES), "global": max(channels, CLASSES)}
    body_largest = native_largest  # the body's tensors dominate; the native head's are within this maximum
    largest = {kind: max(body_largest, 4 * head_floats[kind]) for kind in head_macs}
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
        body_macs=native_macs - head_macs[spec.native],
        classic_head_macs=head_macs["classic"],
        global_head_macs=head_macs["global"],
        classic_max_activation_bytes=largest["classic"],
        global_max_activation_bytes=largest["global"],
    )


def architecture_rows() -> list[ArchitectureRow]:
    return [architecture_row(name) for name in SPECS]
