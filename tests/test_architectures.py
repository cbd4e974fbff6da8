"""Claim 1 where it matters: the shipped architectures.csv is what torchvision's definitions give today, and every
count follows the closed forms in docs (poolbench/models/architectures.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from poolbench.models.architectures import (
    SPECS,
    architecture_row,
    architecture_rows,
    classic_head_params,
    global_head_params,
)
from poolbench.report.claims.tables import ARCHITECTURES_FILE, architectures_table


def test_the_shipped_csv_is_what_the_models_give() -> None:
    """Recompute every row (meta device, no weights): `make architectures` rewrites the file if this fails."""
    shipped = pd.read_csv(ARCHITECTURES_FILE)
    computed = pd.DataFrame([row.as_dict() for row in architecture_rows()])
    pd.testing.assert_frame_equal(shipped, computed, check_dtype=False)


@pytest.mark.parametrize("name", list(SPECS))
def test_counts_follow_the_closed_forms(name: str) -> None:
    row = architecture_row(name)
    mlp = row.native_head == "classic"
    assert row.classic_head_params == classic_head_params(row.channels, row.height, row.width, row.classes, mlp)
    assert row.global_head_params == global_head_params(row.channels, row.classes)
    assert row.classic_total - row.global_total == row.classic_head_params - row.global_head_params


def test_known_totals_and_the_reductions_claims_md_shows() -> None:
    """torchvision's published parameter counts; on VGG-16 a global-pool head removes 89 % of the network."""
    table = architectures_table()
    assert table is not None
    frame = table.set_index("architecture")
    published = {"VGG-16": 138_357_544, "AlexNet": 61_100_840, "ResNet-18": 11_689_512, "ResNet-50": 25_557_032}
    for name, total in published.items():
        native = "classic_total_params" if frame.loc[name, "native_head"] == "classic" else "global_total_params"
        assert frame.loc[name, native] == total
    assert frame.loc["VGG-16", ["channels", "height", "width"]].tolist() == [512, 7, 7]
    assert frame.loc["VGG-16", "total parameters removed"].startswith("89")


def test_compute_and_activation_memory_columns() -> None:
    """Published multiply-adds at 224 px (ResNet-18 1.82 G, ResNet-50 4.09 G, VGG-16 15.5 G, MobileNetV2 0.30 G);
    the heads' follow the closed forms; a global-pool head holds no larger activation than the classic one."""
    frame = pd.DataFrame([row.as_dict() for row in architecture_rows()]).set_index("architecture")
    published = {"ResNet-18": 1.82e9, "ResNet-50": 4.09e9, "VGG-16": 15.47e9, "MobileNetV2": 0.30e9}
    for name, macs in published.items():
        native = "classic_total_macs" if frame.loc[name, "native_head"] == "classic" else "global_total_macs"
        assert frame.loc[name, native] == pytest.approx(macs, rel=0.02)
    assert frame.loc["VGG-16", "classic_head_macs"] == 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * 1000
    assert (frame["global_head_macs"] == frame["channels"] * frame["classes"]).all()
    assert (frame["global_max_activation_bytes"] <= frame["classic_max_activation_bytes"]).all()
    assert (frame["body_macs"] > 10 * frame["global_head_macs"]).all()  # the convolutions hold the compute
