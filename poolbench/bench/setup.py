"""What every timed variant shares: the composed config, the validated settings, the data on the device, the
step context, and a fresh model with the config's initialisation."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


def compose_config(args: argparse.Namespace):
    from hydra import compose, initialize_config_dir

    from poolbench.config import CONF_DIR

    overrides = [
        f"backbone={args.backbone}",
        f"head={args.head}",
        f"dataset={args.dataset}",
        f"trainer.device={args.device}",
        "paths.output_dir=unused",
        *args.overrides,
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Setup:
    settings: Any  # poolbench.config.settings.Settings: the validated config, as every run reads it
    device: torch.device
    data: Any  # poolbench.data.splits.DataBundle
    ctx: Any  # poolbench.step.StepContext
    batch_size: int
    steps_per_epoch: int

    @property
    def trainer(self) -> Any:
        return self.settings.trainer

    @property
    def augment(self) -> Any:
        return self.settings.dataset.augment

    def new_model(self, memory_format: torch.memory_format) -> torch.nn.Module:
        """The same initialisation (config seed) for every variant."""
        from poolbench.models import build_classifier

        data = self.data
        model, _ = build_classifier(
            self.settings.backbone,
            self.settings.head,
            data.channels,
            data.image_size,
            data.num_classes,
            seed=self.settings.seed,
        )
        return model.to(self.device).to(memory_format=memory_format).train()

    def poolbench_step(self, compile: bool = False, precision: str | None = None):
        """A fresh model and the step ``training.loop.train`` would build for it (in ``precision``: fp32 or
        bf16; None: the config's)."""
        from dataclasses import replace

        from poolbench.training.optim import build_train_step

        model = self.new_model(self.ctx.memory_format)
        ctx = self.ctx if precision is None else self.context(precision)
        return build_train_step(model, replace(self.trainer, compile=compile), ctx, self.steps_per_epoch)

    def context(self, precision: str):
        """The step context with ``precision`` (``fp32`` or ``bf16``) in place of the config's."""
        from dataclasses import replace

        return replace(self.ctx, autocast_dtype=torch.bfloat16 if precision == "bf16" else None)

    @property
    def other_precision(self) -> str | None:
        """The precision the bench times beside the config's: fp32 beside bf16 and bf16 beside fp32 (on the CPU
        and CUDA; MPS has no bf16 autocast here)."""
        if self.device.type not in ("cpu", "cuda"):
            return None
        return "fp32" if self.ctx.precision == "bf16" else "bf16"


def make_setup(cfg_node) -> Setup:
    from poolbench.config.validate import validate
    from poolbench.data.splits import prepare_data
    from poolbench.runtime import resolve_device, seed_everything, step_context
    from poolbench.training.optim import epoch_steps

    settings = validate(cfg_node)
    device = resolve_device(settings.trainer.device)
    seed_everything(settings.seed)
    data = prepare_data(settings.dataset, settings.data_dir, device, settings.seed)
    batch_size = settings.trainer.batch_size
    return Setup(
        settings,
        device,
        data,
        step_context(device, settings.trainer),
        batch_size,
        epoch_steps(len(data.train), batch_size)[0],
    )
