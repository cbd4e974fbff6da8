"""The claims grid's training cost, estimated before running it: CPU-seconds of pure training per run, per
preset and in all (evaluation, the translation test and the deployment timing come on top).

Every distinct run configuration of the presets (cell x head x depth: seeds cost the same) trains one warm-up
epoch and then ``--epochs`` timed epochs on one thread; the time is this process's CPU time (what the epoch
takes on an idle core, also on a busy machine), times the run's epochs and its number of seeds.

    python scripts/claims_budget.py                    # the presets of make claims
    python scripts/claims_budget.py --presets claims --set trainer.epochs=10

The last line printed is JSON: {"runs": N, "train_cpu_seconds": S, "by_preset": {...}}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import dataclass

import torch

from poolbench.config import CONF_DIR
from poolbench.config.presets import claims_presets, sweep_axes

DEFAULT_PRESETS = claims_presets()  # what make claims runs (conf/experiment/claims_presets.txt)


@dataclass(frozen=True)
class Config:
    preset: str
    overrides: tuple[str, ...]  # the sweep's values except the seed
    seeds: int


def sweep_of(preset: str) -> list[Config]:
    """The distinct configurations a preset sweeps (its own file lists every sweep key), with their seed counts."""
    axes = sweep_axes(preset)
    seeds = len(axes.pop("seed", ["0"]))
    combos = itertools.product(*([f"{key}={value}" for value in values] for key, values in axes.items()))
    return [Config(preset, tuple(combo), seeds) for combo in combos]


def compose(config: Config, extra: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from poolbench.config.validate import validate

    overrides = [f"experiment={config.preset}", *config.overrides, "paths.output_dir=unused", "trainer.threads=1"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return validate(hydra_compose(config_name="config", overrides=[*overrides, *extra]))


def epoch_cpu_seconds(settings, timed_epochs: int) -> float:
    """CPU seconds of one training epoch of this configuration (mean over ``timed_epochs`` after a warm-up)."""
    from poolbench.data.batches import epoch_batches
    from poolbench.data.splits import prepare_data
    from poolbench.models import build_classifier
    from poolbench.runtime import prepare_runtime
    from poolbench.step import train_epoch
    from poolbench.training.loop import epoch_generator
    from poolbench.training.optim import build_train_step, epoch_steps

    trainer, augment = settings.trainer, settings.dataset.augment
    ctx = prepare_runtime(trainer, 1, settings.seed)
    data = prepare_data(settings.dataset, settings.data_dir, ctx.device, settings.seed)
    model, _ = build_classifier(
        settings.backbone, settings.head, data.channels, data.image_size, data.num_classes, seed=settings.seed
    )
    model.to(ctx.device).to(memory_format=ctx.memory_format).train()
    steps, drop_last = epoch_steps(len(data.train), trainer.batch_size)
    step = build_train_step(model, trainer, ctx, steps)

    def one_epoch(epoch: int) -> None:
        batches = epoch_batches(
            data.train,
            trainer.batch_size,
            data.mean,
            data.std,
            epoch_generator(settings.seed, epoch),
            crop_padding=augment.crop_padding,
            flip=augment.flip,
            drop_last=drop_last,
            memory_format=ctx.memory_format,
        )
        train_epoch(step, batches)

    one_epoch(0)
    began = time.process_time()
    for epoch in range(1, 1 + timed_epochs):
        one_epoch(epoch)
    return (time.process_time() - began) / timed_epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration (after a warm-up)")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every run, e.g. trainer.epochs=10")
    args = parser.parse_args()
    torch.set_num_threads(1)
    measured: dict[tuple[str, ...], float] = {}  # one measurement per distinct config (depth 1 is the default)
    by_preset: dict[str, float] = {}
    runs = 0
    for preset in args.presets:
        for config in sweep_of(preset):
            settings = compose(config, args.set)
            identity = tuple(sorted(o for o in config.overrides if not o.startswith("backbone.depth=1")))
            if identity not in measured:
                measured[identity] = epoch_cpu_seconds(settings, args.epochs)
            per_run = measured[identity] * settings.trainer.epochs
            by_preset[preset] = by_preset.get(preset, 0.0) + per_run * config.seeds
            runs += config.seeds
            print(f"{preset:13s} {' '.join(config.overrides):60s} x{config.seeds}  {per_run:6.1f} s/run", flush=True)
    total = sum(by_preset.values())
    rounded = {name: round(seconds) for name, seconds in by_preset.items()}
    print(json.dumps({"runs": runs, "train_cpu_seconds": round(total), "by_preset": rounded}))


if __name__ == "__main__":
    main()
