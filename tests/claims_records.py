"""Hand-written run records for the claims tests: result.json, config.yaml and epochs.csv of one run, and small
analysis plans written as YAML (so the tests do not depend on the shipped plan's cells)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from poolbench.record import RunRecord, write_config, write_epochs, write_result

PARAMS = {"gap": 94_186, "gmp": 94_186, "flatten": 155_626, "flatten_dropout": 155_626}
MACS = {"gap": 7_452_416, "gmp": 7_452_416, "flatten": 7_515_136, "flatten_dropout": 7_515_136}
BYTES = {"gap": 385_000, "gmp": 385_000, "flatten": 636_000, "flatten_dropout": 636_000}


def write_run(
    root: Path, dataset: str, head: str, seed: int, config: dict[str, Any], converged: bool = True, **fields: Any
) -> Path:
    """One ok run under root/<dataset>/<cell>/<head>/seed<k>; ``converged`` False: it does not fit its training
    set (final train accuracy 85 %, the curve still rising) and convergence.md says "no"."""
    cell = "-".join(str(v) for v in _leaves(config)) or dataset
    run_dir = root / dataset / cell / head / f"seed{seed}"
    values: dict[str, Any] = dict(
        test_acc=0.80,
        train_acc=1.0 if converged else 0.85,
        overfit_acc=0.05,
        test_loss=0.5,
        train_loss=0.4,
        overfit_loss=0.1,
        params_total=PARAMS.get(head, 100_000),
        params_backbone=93_000,
        params_head=PARAMS.get(head, 100_000) - 93_000,
        macs_per_image=MACS.get(head, 7_500_000),
        flops_per_image=2 * MACS.get(head, 7_500_000),
        model_bytes=BYTES.get(head, 400_000),
    )
    values.update(fields)
    record = RunRecord(
        status="ok",
        run_key=f"{dataset}-{cell}-{head}-{seed}",
        dataset=dataset,
        backbone="small_cnn",
        head=head,
        seed=seed,
        epochs=8,
        epochs_completed=8,
        **values,
    )
    write_config(run_dir, OmegaConf.to_yaml({"seed": seed, **config}))
    write_result(run_dir, record)
    final = float(values["train_acc"])
    rise = [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0] if not converged else [0.5, 0.8, 0.9, 0.95, 1, 1, 1, 1]
    rows = [
        {"epoch": e + 1, "train_acc": final * r, "test_acc": float(values["test_acc"]) * r} for e, r in enumerate(rise)
    ]
    write_epochs(run_dir, rows)
    return run_dir


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    return [node]


# The grid of the test plans: the cells tests/test_claims.py writes (four heads, five seeds each).
TEST_CELLS = {
    "fashion": {"dataset": "fashion_mnist", "dataset.train_samples": 1000},
    "density": {"dataset": "probe_density", "dataset.task": "density"},
    "presence": {"dataset": "probe_presence", "dataset.task": "presence"},
    "position": {"dataset": "probe_position", "dataset.task": "position"},
}


def endpoint(name: str, **fields: Any) -> dict[str, Any]:
    """One endpoint of a test plan: GAP minus flatten in test accuracy (a primary: on the fashion cell; a secondary
    row: on every declared cell) unless told otherwise."""
    base = {
        "name": name,
        "head": "gap",
        "against": "flatten",
        "metric": "test_acc",
        "effect": "difference",
        "direction": "greater",
        "sesoi": "accuracy",
    }
    return {**base, **fields}


def write_plan(path: Path, claims: list[dict[str, Any]], counter_cases: list[dict[str, Any]] | None = None) -> Path:
    """A test plan over ``TEST_CELLS``: each claim combines its parts by ``all`` and each primary tests the
    claim's words, and reads the fashion cell, unless the test says otherwise."""
    claims = [
        {
            "combine": "all",
            **claim,
            "primary": [
                {"phrase": claim["words"], **({} if "cell" in spec else {"cell": "fashion"}), **spec}
                for spec in claim.get("primary") or []
            ],
        }
        for claim in claims
    ]
    plan = {
        "alpha": 0.05,
        "power": 0.8,
        "sesoi": {
            "accuracy": {"value": 0.01, "unit": "pp", "reason": "one point"},
            "interaction": {"value": 0.02, "unit": "pp", "reason": "two points"},
            "cost": {"value": 0.1, "unit": "%", "reason": "a tenth"},
        },
        "cells": {
            name: {"pins": pins, "heads": ["gap", "gmp", "flatten", "flatten_dropout"], "seeds": 5}
            for name, pins in TEST_CELLS.items()
        },
        "counter_cases": counter_cases or [],
        "claims": claims,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# a test plan\n" + yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path
