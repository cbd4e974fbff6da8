"""The claims verdict as tables: one row per claim (its headline is its deciding primary endpoint), every
primary endpoint with its tests, every secondary row, raw frames for the CSV files, and claim 1's table of
well-known architectures (``poolbench/report/architectures.csv``, where present)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from poolbench.report.claims.plan import INTERACTION, REDUCTION_CI, RELATIVE, EndpointSpec
from poolbench.report.claims.rows import Row
from poolbench.report.claims.rules import verdict_of
from poolbench.report.claims.verdict import ClaimVerdict
from poolbench.report.formatting import EMPTY, format_p, pct, signed_text
from poolbench.report.image_ci import SEEDS_ONLY
from poolbench.report.tables import seeds_needed_text

ARCHITECTURES_FILE = Path(__file__).resolve().parent.parent / "architectures.csv"


def number_text(value: float, unit: str, plus: bool = True) -> str:
    if not math.isfinite(value):
        return EMPTY
    if unit in ("pp", "%"):
        return f"{pct(value, 1, plus=plus)} {unit}"
    return signed_text(value, 3, plus=plus)


def effect_text(row: Row) -> str:
    return number_text(row.estimate.effect, row.spec.unit) if row.estimate.measured else EMPTY


def possible_range(spec: EndpointSpec) -> tuple[float, float]:
    """What an endpoint's effect can be (fractions): an accuracy or share lies in [0, 1] (a gap, ``minus``, in
    [-1, 1]); each difference (a head against another, then an interaction) doubles the range; a relative
    change is at least -100 %. A t-interval can reach past it; the report prints it clipped."""
    if spec.unit == "%":
        return (-1.0, math.inf) if spec.effect == RELATIVE else (-math.inf, 1.0)
    if spec.unit != "pp":
        return -math.inf, math.inf
    low, high = (-1.0, 1.0) if spec.minus else (0.0, 1.0)
    for differenced in (spec.against is not None, spec.effect == INTERACTION):
        if differenced:
            low, high = low - high, high - low
    return low, high


def interval_text(row: Row, confidence: float) -> str:
    """The CI in the effect's unit; "exact" for a deterministic quantity, "n < 2" without a spread."""
    estimate = row.estimate
    if not estimate.measured:
        return EMPTY
    if estimate.exact:
        return "exact"
    low, high = estimate.interval(confidence)
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n < 2"
    floor, ceiling = possible_range(row.spec)  # clipped, as every CI the report prints (paired.md too)
    low, high = min(max(low, floor), ceiling), min(max(high, floor), ceiling)
    scale = 100.0 if row.spec.unit in ("pp", "%") else 1.0
    digits = 1 if scale == 100.0 else 3
    return f"[{signed_text(scale * low, digits)}, {signed_text(scale * high, digits)}]"


TIMING_BOOTSTRAP = "timing bootstrap"


def interval_name(row: Row) -> str:
    """Which interval decides the row: "seeds+images", "seeds (t)", "exact", "timing bootstrap" (a stored
    ratio's CI over timing processes and rounds) or nothing (not measured)."""
    if not row.estimate.measured:
        return ""
    if row.estimate.exact:
        return "exact"
    if row.spec.effect == REDUCTION_CI:
        return TIMING_BOOTSTRAP
    return row.images.interval if row.images is not None else SEEDS_ONLY


def image_columns(row: Row) -> dict[str, object]:
    """claims_detail.csv's columns of the test-image interval (``poolbench.report.claims.images``): the
    seeds+images 95 % and 90 % intervals (NaN where the seed-only one decides), its two variance terms, the
    bootstrap check and why a row is decided on seeds alone."""
    images = row.images
    combined = images is not None and images.interval != SEEDS_ONLY
    low, high = images.estimate.interval(0.95) if combined and images else (math.nan, math.nan)
    low90, high90 = images.estimate.interval(0.90) if combined and images else (math.nan, math.nan)
    boot_low, boot_high = images.bootstrap if images else (math.nan, math.nan)
    return {
        "interval": interval_name(row),
        "ci_low_images": low,
        "ci_high_images": high,
        "ci90_low_images": low90,
        "ci90_high_images": high90,
        "se_seeds": images.seeds.se if images else row.estimate.se,
        "se_images": math.sqrt(images.variance_images) if combined and images else math.nan,
        "n_images": images.n_images if images else 0,
        "ci_low_boot": boot_low,
        "ci_high_boot": boot_high,
        "interval_reason": images.reason if images else "",
    }


def seeds_text(row: Row) -> str:
    return seeds_needed_text(row.decision.seeds_needed if row.decision is not None else None)


SEEDS_COLUMN = "seeds to detect the SESOI (planning)"


def verdict_text(row: Row) -> str:
    if row.primary:
        return verdict_of(row)
    if row.failure:
        return "failure rate"
    return "by construction" if row.spec.by_construction else "secondary"


def display_verdicts(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    rows = []
    for item in verdicts:
        head = item.headline
        rows.append(
            {
                "#": item.claim.id,
                "claim (seed's words)": item.claim.words,
                "verdict (its parts)": f"**{item.verdict}**: {item.basis}",
                "headline (deciding primary endpoint)": f"{head.quantity} · {head.setting}" if head else EMPTY,
                "effect": effect_text(head) if head else EMPTY,
                "95% CI": interval_text(head, 0.95) if head else EMPTY,
                "CI over": interval_name(head) if head else EMPTY,
                "n": str(head.estimate.n) if head else "0",
            }
        )
    return pd.DataFrame(rows)


def display_rows(rows: Sequence[Row], primary: bool) -> pd.DataFrame:
    """Every row with its effect, 95% CI and n; primary rows add the 90% CI, the tests, verdict and seeds."""
    table = []
    for row in rows:
        line = {
            "#": row.claim,
            "endpoint": row.quantity + (f" (tests “{row.spec.phrase}”)" if primary and row.spec.phrase else ""),
            "cell": " vs ".join(row.cell_names),
            "setting": row.setting,
            "comparison": row.comparison,
            "effect": effect_text(row),
            "95% CI": interval_text(row, 0.95),
            "CI over": interval_name(row),
        }
        decision = row.decision
        if primary and decision is not None:
            line["90% CI"] = interval_text(row, 0.90)
        line["n"] = str(row.estimate.n)
        if primary and decision is not None:
            line.update(
                {
                    "p vs 0 (Holm)": format_p(decision.p_zero_holm),
                    "p margin (Holm)": format_p(decision.p_margin_holm),
                    "verdict": f"**{decision.verdict}**",
                    SEEDS_COLUMN: seeds_text(row),
                }
            )
        else:
            line["role"] = verdict_text(row)
        line["note"] = row.note
        table.append(line)
    return pd.DataFrame(table)


def summary_frame(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    """One row per claim, raw numbers (``claims.csv``): the verdict and its headline endpoint."""
    rows = []
    for item in verdicts:
        head = item.headline
        low, high = head.estimate.interval() if head else (math.nan, math.nan)
        rows.append(
            {
                "claim": item.claim.id,
                "seed_words": item.claim.words,
                "verdict": item.verdict,
                "basis": item.basis,
                "headline_endpoint": head.quantity if head else None,
                "headline_setting": head.setting if head else None,
                "headline_comparison": head.comparison if head else None,
                "effect": head.estimate.effect if head else math.nan,
                "ci_low": low,
                "ci_high": high,
                "interval": interval_name(head) if head else "",
                "unit": head.spec.unit if head else None,
                "n": head.estimate.n if head else 0,
            }
        )
    return pd.DataFrame(rows)


def detail_frame(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    """Every row, raw numbers (``claims_detail.csv``), per-seed values included."""
    records = []
    for item in verdicts:
        for row in item.rows:
            estimate, decision = row.estimate, row.decision
            seeds = row.images.seeds if row.images is not None else estimate  # the seed-only t interval
            low, high = seeds.interval(0.95)
            eq_low, eq_high = seeds.interval(0.90)
            records.append(
                {
                    "claim": row.claim,
                    "role": "primary" if row.primary else "secondary",
                    "endpoint": row.quantity,
                    "phrase": row.spec.phrase,
                    "cells": " vs ".join(row.cell_names),
                    "setting": row.setting,
                    "setting_full": row.setting_full,
                    "head": row.head,
                    "against": row.spec.against,
                    "metric": row.spec.metric,
                    "minus": row.spec.minus,
                    "effect_kind": row.spec.effect,
                    "direction": row.spec.direction,
                    "sesoi": row.spec.sesoi.value,
                    "unit": row.spec.unit,
                    "effect": estimate.effect,
                    "ci_low": low,
                    "ci_high": high,
                    "ci90_low": eq_low,
                    "ci90_high": eq_high,
                    "n": estimate.n,
                    "sd": seeds.sd,
                    **image_columns(row),
                    "per_seed": " ".join(f"{p:.6g}" for p in estimate.points),
                    "p_zero": decision.p_zero if decision else math.nan,
                    "p_zero_holm": decision.p_zero_holm if decision else math.nan,
                    "p_margin": decision.p_margin if decision else math.nan,
                    "p_margin_holm": decision.p_margin_holm if decision else math.nan,
                    "verdict": verdict_text(row),
                    "seeds_to_detect_sesoi_planning": decision.seeds_needed if decision else None,
                    "counts": row.counts,
                    "note": row.note,
                }
            )
    return pd.DataFrame(records)


ARCHITECTURE_PAIRS = (  # (classic head column, global head column, what the reduction is of)
    ("classic_head_params", "global_head_params", "head parameters removed"),
    ("classic_total_params", "global_total_params", "total parameters removed"),
)


def architectures_table(path: Path = ARCHITECTURES_FILE) -> pd.DataFrame | None:
    """Claim 1 where it matters: well-known architectures with their classic head and a global-pool head (the
    file's columns as they are, plus each reduction its ``ARCHITECTURE_PAIRS`` columns allow); None if absent."""
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    for classic, pooled, name in ARCHITECTURE_PAIRS:
        if {classic, pooled} <= set(table.columns):
            table[name] = [pct(1 - g / c, 1) + " %" if c else EMPTY for c, g in zip(table[classic], table[pooled])]
    return table
