"""Forward FLOPs per image, counted by torch.utils.flop_counter (2 per multiply-add) in eval mode."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops_per_image(model: nn.Module, channels: int, image_size: int, device: torch.device) -> int:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, channels, image_size, image_size, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
