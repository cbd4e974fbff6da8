"""The latency ratio of one head against another, with its CI, from the rounds ``poolbench-deploy`` stored.

``deploy_timing.csv`` at the top of a results dir holds every round of every timing process (columns
``process, cell_id, arch_id, head, runtime, round, latency_ms, throughput_ips``). ``latency_ratio`` gives the
ratio (geometric mean of the per-round paired ratios) with a hierarchical-bootstrap CI over processes, then rounds
(``poolbench.resample``); ``ratio_table`` gives every head against ``flatten`` per cell and runtime, and beside
it the identical-inference controls that show the noise floor:

- ``flatten_dropout`` against ``flatten`` in the same cell (dropout does nothing at inference: same graph);
- the same head-vs-flatten ratio in two cells whose models are the same architecture (``arch_id``: backbone,
  head, input and output sizes), as a ratio of ratios (paired on process and round).

A control is *negligible* when its whole CI lies within ±SESOI of 1; if one is not, the timing protocol is not
good enough to judge a 10 % effect. Reads the CSV only (no models, no runtimes).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.tables import to_markdown
from poolbench.resample import RatioCI, hierarchical_ratio, paired_log_ratios

ROUNDS_FILE = "deploy_timing.csv"
AGAINST = "flatten"
SESOI = 0.10  # the claims' latency SESOI (conf/analysis/claims.yaml)
RUNTIMES = {"eager": "eager PyTorch, 1 thread", "ort_1": "ONNX Runtime, 1 thread", "ort_all": "ONNX Runtime, all cores"}
COLUMNS = ["kind", "cell_id", "other_cell", "head", "against", "runtime", "ratio", "ci_low", "ci_high"]
COLUMNS += ["processes", "rounds", "negligible"]


def read_rounds(*roots: Path) -> pd.DataFrame:
    """Every stored round under ``roots`` (the file at each root's top); empty when none was timed."""
    frames = [pd.read_csv(Path(root) / ROUNDS_FILE) for root in roots if (Path(root) / ROUNDS_FILE).is_file()]
    frames = [frame for frame in frames if {"process", "round", "latency_ms"} <= set(frame.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def latency_ratio(
    rounds: pd.DataFrame, cell_id: str, head: str, against: str = AGAINST, runtime: str = "ort_1", seed: int = 0
) -> RatioCI:
    """``head``'s batch-1 latency over ``against``'s in one cell and runtime: geometric mean of the per-round
    paired ratios, 95 % CI from the hierarchical bootstrap (processes, then rounds within each)."""
    mine = rounds[(rounds["cell_id"] == cell_id) & (rounds["runtime"] == runtime)]
    return hierarchical_ratio(paired_log_ratios(mine.to_dict("records"), head, against), seed=seed)


def cross_cell_ratio(
    rounds: pd.DataFrame, cell: str, other: str, head: str, against: str = AGAINST, runtime: str = "ort_1"
) -> RatioCI:
    """(head/against in ``cell``) over (head/against in ``other``), paired on process and round."""
    logs = {}
    for name in (cell, other):
        mine = rounds[(rounds["cell_id"] == name) & (rounds["runtime"] == runtime)]
        rows = mine.to_dict("records")
        per_process = paired_log_ratios(rows, head, against)
        keys = sorted({(r["process"], r["round"]) for r in rows if r["head"] == head})
        logs[name] = {p: dict(zip([k[1] for k in keys if k[0] == p], v)) for p, v in per_process.items()}
    paired: dict[object, list[float]] = {}
    for process, values in logs[cell].items():
        others = logs[other].get(process, {})
        paired[process] = [v - others[r] for r, v in values.items() if r in others]
    return hierarchical_ratio(paired)


def row(kind: str, cell: str, other: str, head: str, runtime: str, ci: RatioCI) -> dict[str, object]:
    return {
        "kind": kind,
        "cell_id": cell,
        "other_cell": other,
        "head": head,
        "against": AGAINST,
        "runtime": runtime,
        "ratio": ci.ratio,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "processes": ci.processes,
        "rounds": ci.rounds,
        "negligible": ci.within(SESOI) if np.isfinite(ci.ratio) else None,
    }


def ratio_table(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per runtime: every head against flatten per cell (``endpoint``; ``control: same graph`` for
    flatten_dropout), and the same architectures' ratio across cells (``control: same model, two cells``)."""
    if rounds.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for runtime in [r for r in RUNTIMES if r in set(rounds["runtime"])]:
        timed = rounds[rounds["runtime"] == runtime]
        for cell, group in timed.groupby("cell_id", sort=True):
            if AGAINST not in set(group["head"]):
                continue
            for head in sorted(set(group["head"]) - {AGAINST}):
                kind = "control: same graph" if head == "flatten_dropout" else "endpoint"
                rows.append(
                    row(kind, str(cell), "", head, runtime, latency_ratio(rounds, str(cell), head, AGAINST, runtime))
                )
        if "arch_id" not in timed:
            continue
        archs = timed.groupby("cell_id")[["head", "arch_id"]].apply(lambda g: dict(zip(g["head"], g["arch_id"])))
        for cell, other in combinations(sorted(archs.index), 2):
            a, b = archs[cell], archs[other]
            for head in sorted(set(a) & set(b) - {AGAINST}):
                if AGAINST in a and AGAINST in b and a[head] == b[head] and a[AGAINST] == b[AGAINST]:
                    ci = cross_cell_ratio(rounds, str(cell), str(other), head, AGAINST, runtime)
                    rows.append(row("control: same model, two cells", str(cell), str(other), head, runtime, ci))
    return pd.DataFrame(rows, columns=COLUMNS)


def display_ratios(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    out["runtime"] = table["runtime"].map(RUNTIMES)
    out["what"] = table["kind"]
    out["cell"] = [c if not o else f"{c} / {o}" for c, o in zip(table["cell_id"], table["other_cell"])]
    out["head / against"] = [f"{h} / {a}" for h, a in zip(table["head"], table["against"])]
    out["latency ratio [95 % CI]"] = [
        f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in zip(table["ratio"], table["ci_low"], table["ci_high"])
    ]
    out["processes x rounds"] = [f"{p} x {n // max(p, 1)}" for p, n in zip(table["processes"], table["rounds"])]
    out[f"within ±{100 * SESOI:.0f} %"] = table["negligible"].map({True: "yes", False: "NO", None: "—"})
    return out


def deploy_ratio_sections(roots: Sequence[Path], out: Path) -> list[str]:
    """``deploy_ratios.csv`` in ``out`` and the report.md section (nothing when no rounds are stored)."""
    table = ratio_table(read_rounds(*roots))
    if table.empty:
        return []
    atomic_write_text(out / "deploy_ratios.csv", table.to_csv(index=False))
    controls = table[table["kind"] != "endpoint"]
    floor = "No control pair in these cells."
    if not controls.empty:
        worst = max((controls["ci_low"] - 1).abs().max(), (controls["ci_high"] - 1).abs().max())
        floor = f"Largest control deviation from 1 (a CI bound): {worst:.1%}."
    return [
        "## Deployment latency ratio with CI (poolbench-deploy)",
        "",
        "Batch-1 latency of each head over flatten's, per runtime: geometric mean of per-round paired ratios, "
        "95 % CI by a hierarchical bootstrap over timing processes and rounds (`deploy_ratios.csv`; rounds in "
        f"`{ROUNDS_FILE}`). Controls do identical work at inference; they must lie within ±{100 * SESOI:.0f} %. "
        + floor,
        "",
        to_markdown(display_ratios(table)),
        "",
    ]
