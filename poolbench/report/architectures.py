"""Claim 1 where it matters: the parameter counts of well-known ImageNet architectures with their classic flatten +
dense head and with a global-pool head, read from ``architectures.csv`` (written by ``scripts/architectures.py``
from torchvision's definitions; the report never builds a model). Closed forms, for the last feature map
C x H x W and K classes: global pool + dense ``C*K + K``; flatten + dense ``C*H*W*K + K``; VGG's and AlexNet's
published head ``C*H*W*4096 + 4096 + 4096*4096 + 4096 + 4096*K + K``.
"""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd

ARCHITECTURES_FILE = "architectures.csv"
COUNT_COLUMNS = ("body_params", "classic_head_params", "global_head_params", "classic_total", "global_total")


def load_architectures() -> pd.DataFrame:
    """The shipped counts, one row per architecture, with the head's share of the total and what a global-pool
    head saves: of the head's parameters and of the whole network's."""
    text = resources.files("poolbench.report").joinpath(ARCHITECTURES_FILE).read_text(encoding="utf-8")
    frame = pd.read_csv(io.StringIO(text))
    frame["classic_head_share"] = frame["classic_head_params"] / frame["classic_total"]
    frame["head_saved"] = 1 - frame["global_head_params"] / frame["classic_head_params"]
    frame["total_saved"] = 1 - frame["global_total"] / frame["classic_total"]
    return frame


def millions(count: float) -> str:
    return f"{count / 1e6:.1f} M" if count >= 1e5 else f"{count / 1e6:.2f} M"


def architectures_markdown(frame: pd.DataFrame) -> str:
    """A markdown table of ``load_architectures()``: where a global-pool head matters (a classic head holding
    most of a network's parameters) and where it hardly does."""
    lines = [
        "| architecture (224 px, 1000 classes) | last feature map | ships | classic head | classic head params "
        "| global-pool head params | network: classic → global | head's share (classic) | saved of the network |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in frame.to_dict("records"):
        cells = [
            str(row["architecture"]),
            f"{row['channels']} × {row['height']} × {row['width']}",
            "classic head" if row["native_head"] == "classic" else "global pool",
            str(row["classic_head"]),
            millions(row["classic_head_params"]),
            millions(row["global_head_params"]),
            f"{millions(row['classic_total'])} → {millions(row['global_total'])}",
            f"{100 * row['classic_head_share']:.0f} %",
            f"{100 * row['total_saved']:.0f} %",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
