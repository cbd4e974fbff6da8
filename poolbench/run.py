"""``run(cfg) -> RunRecord``: one training run as a pure function of its config, ending in a run record."""

from __future__ import annotations

import logging
import random
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.flop_counter import FlopCounterMode

import poolbench
from poolbench.data import prepare_data
from poolbench.malloc import retain_freed_memory
from poolbench.models import Classifier, build_classifier
from poolbench.record import CHECKPOINT_FILE, RunRecord, compute_run_key, write_config, write_epochs, write_result
from poolbench.train import StepContext, default_threads, resolve_device, train

log = logging.getLogger("poolbench.run")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def step_context(device: torch.device, trainer_cfg: Any) -> StepContext:
    """channels_last ('auto': on for CUDA and CPU; on CPU the whole step measured 1.6-2x faster, see
    scripts/bench.py's "naive loader + poolbench step" rows) and bf16 autocast ('auto': CUDA only; CPU stays fp32)."""
    on_cuda = device.type == "cuda"
    channels_last = trainer_cfg.get("channels_last", "auto")
    use_channels_last = device.type in ("cuda", "cpu") if channels_last == "auto" else bool(channels_last)
    amp = trainer_cfg.get("amp", "auto")
    use_amp = on_cuda if amp == "auto" else bool(amp)
    if on_cuda:  # fixed batch shapes: let cuDNN time its conv algorithms once, unless runs must be bit-exact
        torch.backends.cudnn.benchmark = not bool(trainer_cfg.get("deterministic", False))
    return StepContext(
        device=device,
        memory_format=torch.channels_last if use_channels_last else torch.contiguous_format,
        autocast_dtype=torch.bfloat16 if use_amp and device.type in ("cuda", "cpu") else None,
    )


def count_flops_per_image(model: Classifier, channels: int, image_size: int, device: torch.device) -> int:
    """Forward FLOPs for one image (torch.utils.flop_counter: 2 per multiply-add), counted in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, channels, image_size, image_size, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(poolbench.__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(cfg: DictConfig) -> RunRecord:
    """Train one backbone x head x dataset x seed and write its run record into ``cfg.paths.output_dir``.

    Everything that can fail on bad input (data, model construction) happens before the first file is written.
    """
    started_at = now_iso()
    resolved: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    run_key = compute_run_key(resolved)
    run_dir = Path(cfg.paths.output_dir)
    trainer_cfg, dataset_cfg = resolved["trainer"], resolved["dataset"]
    seed = int(cfg.seed)

    torch.set_num_threads(int(trainer_cfg.get("threads") or default_threads(int(resolved.get("jobs") or 1))))
    device = resolve_device(str(trainer_cfg.get("device", "auto")))
    if device.type == "cpu":
        retain_freed_memory()  # steps reuse freed activation memory instead of page-faulting it back in
    seed_everything(seed, bool(trainer_cfg.get("deterministic", False)))
    data = prepare_data(dataset_cfg, resolved["data_dir"], device)
    model, _ = build_classifier(
        resolved["backbone"], resolved["head"], data.channels, data.image_size, data.num_classes, seed=seed
    )
    model.to(device)
    counts = model.param_counts()
    flops = count_flops_per_image(model, data.channels, data.image_size, device)
    ctx = step_context(device, trainer_cfg)
    model.to(memory_format=ctx.memory_format)
    log.info(
        "%s | %s | %s | seed %d | %d params (head %d) | %s, %d threads | data from %s",
        dataset_cfg["name"], resolved["backbone"]["name"], resolved["head"]["name"], seed,
        counts["params_total"], counts["params_head"], device, torch.get_num_threads(), data.source,
    )  # fmt: skip

    base = dict(
        run_key=run_key, dataset=dataset_cfg["name"], backbone=resolved["backbone"]["name"],
        head=resolved["head"]["name"], seed=seed, epochs=int(trainer_cfg["epochs"]), flops_per_image=flops,
        device=str(device), torch_version=torch.__version__, poolbench_version=poolbench.__version__,
        git_sha=git_sha(), started_at=started_at, **counts,
    )  # fmt: skip
    write_config(run_dir, OmegaConf.to_yaml(cfg, resolve=True))
    try:
        outcome = train(
            model, data, trainer_cfg, seed, ctx,
            augment=dataset_cfg.get("augment"),
            checkpoint_path=run_dir / CHECKPOINT_FILE if trainer_cfg.get("checkpoint", True) else None,
            run_key=run_key,
            on_epoch=lambda history: write_epochs(run_dir, history),
            progress=bool(cfg.get("progress", True)),
            eval_shifts=list(dataset_cfg.get("eval_shifts") or ()),
        )  # fmt: skip
    except Exception as error:
        record = RunRecord(status="failed", error=f"{type(error).__name__}: {error}", finished_at=now_iso(), **base)
        write_result(run_dir, record)
        raise
    write_epochs(run_dir, outcome.history)
    record = RunRecord(
        status=outcome.status,
        error=outcome.error,
        best_val_acc=outcome.best_val_acc,
        train_seconds=outcome.train_seconds,
        images_per_second=outcome.images_seen / outcome.train_seconds if outcome.train_seconds > 0 else None,
        pool_params=model.pool_params(),
        shift_acc=outcome.shift_acc,
        finished_at=now_iso(),
        epochs_completed=len(outcome.history),
        **_final_metrics(outcome.final, outcome.history),
        **base,
    )
    write_result(run_dir, record)
    return record


def _final_metrics(final: dict[str, float], history: list[dict[str, Any]]) -> dict[str, Any]:
    """Final metrics (train measured in eval mode on the whole train split) and the overfitting gaps."""
    if not final:  # diverged: report the last completed epoch, if any
        if not history:
            return {}
        last = history[-1]
        final = {key: last[key] for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")}
    metrics = {key: final[key] for key in ("test_acc", "test_loss", "val_acc", "train_acc", "train_loss")}
    metrics["gap_acc"] = final["train_acc"] - final["test_acc"]
    metrics["gap_loss"] = final["test_loss"] - final["train_loss"]
    return metrics
