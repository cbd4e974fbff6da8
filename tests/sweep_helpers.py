"""A head that raises while training: a run that fails inside train(), for the failure-sweep test.

(Not a test module; the CLI subprocesses import it as ``tests.sweep_helpers``.)"""

from __future__ import annotations

import torch

from poolbench.models.heads import GlobalAvgPoolHead


class ExplodingHead(GlobalAvgPoolHead):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("exploding head (test): failing inside training on purpose")
        return super().forward(features)
