"""The measurement rows of each claim (see ``claims.verdict``): effects oriented so that positive is what
the claim says, paired on seed where two heads ran on the same seeds of one cell."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pandas as pd

from poolbench.report.aggregate import mean_std_ci
from poolbench.report.claims.cells import (
    Cell,
    column,
    drop_at,
    first_value,
    global_heads,
    number,
    sort_key,
    widest_shift,
)
from poolbench.report.claims.rules import (
    CONTRADICTED,
    COUNTER,
    FLATTEN,
    GAP,
    GMP,
    INCONCLUSIVE,
    MATERIAL_REDUCTION,
    NOT_MEASURED,
    REPORTED,
    SIGNIFICANT_REDUCTION,
    SUPPORTED,
    TEST,
    Measurement,
    ci_verdict,
    sign_verdict,
    threshold_verdict,
)
from poolbench.report.names import head_name


def make_row(
    claim: str,
    cell: Cell,
    head: str,
    comparison: str,
    quantity: str,
    stats: tuple[float, float, float, int],
    unit: str,
    verdict: str,
    role: str = TEST,
) -> Measurement:
    """A measurement of ``cell``; ``stats`` is (effect, CI low, CI high, n)."""
    effect, low, high, n = stats
    return Measurement(
        claim,
        cell.label,
        comparison,
        quantity,
        effect,
        low,
        high,
        n,
        unit,
        verdict,
        role,
        cell.real_data,
        head,
        tuple(cell.label.split(" · ")),
        cell.full_label,
    )


def paired_row(
    claim: str,
    cell: Cell,
    first: str,
    second: str,
    value: Callable[[pd.Series], float],
    quantity: str,
    unit: str,
    relative: bool = False,
    role: str = TEST,
) -> Measurement:
    """value(first) - value(second) per seed (divided by value(second) when ``relative``), paired on seed."""
    a, b = cell.by_seed(first, value), cell.by_seed(second, value)
    pairs = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    diffs = (pairs["a"] - pairs["b"]) / (pairs["b"] if relative else 1.0)
    mean, _, low, high = mean_std_ci(diffs.tolist())
    n = len(diffs)
    verdict = sign_verdict(low, high, n) if claim == "3" else ci_verdict(low, high, n)
    comparison = f"{head_name(first)} − {head_name(second)}"
    head = second if first == FLATTEN else first
    return make_row(claim, cell, head, comparison, quantity, (mean, low, high, n), unit, verdict, role)


def reduction_row(claim: str, cell: Cell, head: str, field: str, quantity: str, threshold: float) -> Measurement:
    """1 - value(head) / value(flatten) for a quantity that is the same for every seed (first recorded one)."""
    base, value = first_value(cell, FLATTEN, field), first_value(cell, head, field)
    effect = 1.0 - value / base if base and math.isfinite(base) and math.isfinite(value) else math.nan
    n = 0 if math.isnan(effect) else 1
    verdict = threshold_verdict(effect, threshold) if n else NOT_MEASURED
    comparison = f"{head_name(head)} vs {head_name(FLATTEN)}"
    return make_row(claim, cell, head, comparison, quantity, (effect, effect, effect, n), "%", verdict)


def claim1(structural: list[Cell]) -> Iterator[Measurement]:
    for cell in structural:
        if FLATTEN in cell.heads():
            for head in global_heads(cell):
                yield reduction_row("1", cell, head, "params_total", "total parameters removed", SIGNIFICANT_REDUCTION)


def claim2(cells: list[Cell]) -> Iterator[Measurement]:
    for cell in cells:
        if FLATTEN not in cell.heads():
            continue
        for head in global_heads(cell):
            yield paired_row("2", cell, FLATTEN, head, column("gap_acc"), "train − test accuracy", "pp")
            yield paired_row("2", cell, FLATTEN, head, column("gap_loss"), "test − train loss", "")


def claim3(cells: list[Cell]) -> Iterator[Measurement]:
    for cell in cells:
        if {GAP, GMP} <= set(cell.heads()):
            yield paired_row("3", cell, GMP, GAP, column("test_acc"), "test accuracy", "pp")


def claim4(cells: list[Cell]) -> Iterator[Measurement]:
    for cell in cells:
        if FLATTEN not in cell.heads():
            continue
        if cell.counter_case:  # a shift changes the label here: the shift test means nothing, the accuracy does
            for head in global_heads(cell):
                yield paired_row("4", cell, FLATTEN, head, column("test_acc"), "test accuracy", "pp", role=COUNTER)
            continue
        tests = (
            ("shift_acc_", "drop", "accuracy drop at {} px (zero fill)"),
            ("shift_consistency_", "consistency", "consistency at {} px (zero fill)"),
            ("shift_circular_consistency_", "consistency", "consistency at {} px (circular)"),
        )
        for prefix, kind, text in tests:
            pixels = widest_shift(cell, prefix)
            if pixels is None:
                continue
            name = f"{prefix}{pixels}"
            for head in global_heads(cell):
                if kind == "drop":  # flatten's drop minus the global head's drop
                    yield paired_row("4", cell, FLATTEN, head, drop_at(name), text.format(pixels), "pp")
                else:
                    yield paired_row("4", cell, head, FLATTEN, column(name), text.format(pixels), "pp")


def claim5(cells: list[Cell], structural: list[Cell]) -> Iterator[Measurement]:
    for cell in structural:
        if FLATTEN in cell.heads():
            for head in global_heads(cell):
                yield reduction_row("5", cell, head, "model_bytes", "serialized size saved", MATERIAL_REDUCTION)
                runs = cell.runs.assign(_runs=cell.runs["runs_other_sizes"].map(number))
                yield runs_elsewhere_row(Cell(cell.keys, cell.values, runs), head)
    for cell in cells:
        if FLATTEN in cell.heads():
            for head in global_heads(cell):
                yield latency_row("5", cell, head)
                yield paired_row("5", cell, head, FLATTEN, column("throughput_ips"), "CPU throughput gained", "%", True)
            for head in global_heads(cell):
                yield from size_accuracy_rows(cell, head)


def latency_row(claim: str, cell: Cell, head: str) -> Measurement:
    """(latency(flatten) - latency(head)) / latency(flatten), paired on seed: the share of latency saved."""
    row = paired_row(claim, cell, head, FLATTEN, column("latency_ms"), "CPU latency saved (batch 1)", "%", True)
    row.effect, row.ci_low, row.ci_high = -row.effect, -row.ci_high, -row.ci_low
    row.verdict = ci_verdict(row.ci_low, row.ci_high, row.n)
    row.comparison = f"{head_name(head)} vs {head_name(FLATTEN)}"
    return row


def runs_elsewhere_row(cell: Cell, head: str) -> Measurement:
    """Share of the head's runs that run at other input sizes minus flatten's (+1: only the global head does)."""
    shares = {name: cell.runs.loc[cell.runs["head"] == name, "_runs"].dropna() for name in (head, FLATTEN)}
    measured = all(len(values) for values in shares.values())
    effect = float(shares[head].mean() - shares[FLATTEN].mean()) if measured else math.nan
    n = int(min(len(v) for v in shares.values())) if measured else 0
    verdict = (
        NOT_MEASURED if not measured else SUPPORTED if effect > 0 else CONTRADICTED if effect < 0 else INCONCLUSIVE
    )
    comparison = f"{head_name(head)} vs {head_name(FLATTEN)}"
    quantity = "runs at other input sizes (share of runs)"
    return make_row("5", cell, head, comparison, quantity, (effect, effect, effect, n), "pp", verdict)


def size_accuracy_rows(cell: Cell, head: str) -> Iterator[Measurement]:
    """Reported, not judged: the head's test accuracy at each other input size (test images resized)."""
    prefix = "size_acc_"
    names = [c for c in cell.runs.columns if c.startswith(prefix)]
    for name in sorted(names, key=lambda c: sort_key(c[len(prefix) :])):
        values = cell.by_seed(head, column(name)).dropna()
        if values.empty:
            continue
        mean, _, low, high = mean_std_ci(values.tolist())
        quantity = f"test accuracy at {name[len(prefix) :]} px (resized)"
        stats = (mean, low, high, len(values))
        yield make_row("5", cell, head, head_name(head), quantity, stats, "acc", REPORTED, REPORTED)


def claim5b(cells: list[Cell], structural: list[Cell]) -> Iterator[Measurement]:
    for cell in structural:
        if FLATTEN in cell.heads():
            for head in global_heads(cell):
                yield reduction_row("5b", cell, head, "macs_per_image", "multiply-adds saved", MATERIAL_REDUCTION)
    for cell in cells:
        if FLATTEN in cell.heads():
            for head in global_heads(cell):
                yield latency_row("5b", cell, head)
