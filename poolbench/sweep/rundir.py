"""Run-directory identity: which folder a config's run lives in, and whether that folder's run is done.

- ``variant_suffix``: the resolver behind ``hydra.run.dir`` / ``hydra.sweep.subdir``. Overrides that are not
  already in the path (``trainer.lr=0.1``, ``backbone.widths=[8,16]``) add ``-<hash>`` to the run directory,
  so two configs never share one; the common case keeps the plain ``.../seed0`` path.
- ``read_folder`` / ``done_record``: a directory holding ``result.json`` with status ok and this run key is done
  (checked without importing torch); a directory of another config is refused (``force=true`` replaces it),
  except where only the data changed (an image folder's ``dataset.content_key``): that run is stale, and the
  new one replaces it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from poolbench.errors import PoolbenchError
from poolbench.objective import DIRECTION_RESOLVER, direction
from poolbench.record import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    EPOCHS_FILE,
    RESULT_FILE,
    RunRecord,
    compute_run_key,
    is_semantic,
    read_result,
)

log = logging.getLogger("poolbench.sweep")

VARIANT_RESOLVER = "poolbench_variant"
# Overrides already visible in the run path, or naming a preset (which sets `name`): no hash for them.
PATH_KEYS = ("name", "seed", "dataset", "backbone", "head", "experiment", "launcher")


class RunDirConflict(PoolbenchError):
    """The run directory holds the record of a different config."""

    exit_code = 2


def _override_key(override: str) -> str:
    return override.lstrip("~+").split("=", 1)[0].strip()


def _changes_the_directory(key: str) -> bool:
    root = key.split("/", 1)[0].split("@", 1)[0]
    return key not in PATH_KEYS and is_semantic(key) and is_semantic(root)


def variant_suffix(task_overrides: Sequence[Any] | None) -> str:
    """'' when only path-visible or non-semantic keys were overridden, else '-' + 8 hex of the other overrides.

    Sorted, so the order on the command line does not matter."""
    kept = sorted(str(o) for o in (task_overrides or ()) if _changes_the_directory(_override_key(str(o))))
    if not kept:
        return ""
    return "-" + hashlib.sha256("\n".join(kept).encode()).hexdigest()[:8]


def register_resolvers() -> None:
    OmegaConf.register_new_resolver(VARIANT_RESOLVER, variant_suffix, replace=True)
    OmegaConf.register_new_resolver(DIRECTION_RESOLVER, direction, replace=True)  # the Optuna preset's direction


def recorded_run_key(run_dir: Path) -> str | None:
    """Run key of whatever run lives in ``run_dir``: from result.json, else from its config.yaml."""
    if (run_dir / RESULT_FILE).is_file():
        return read_result(run_dir).run_key
    if (run_dir / CONFIG_FILE).is_file():
        saved = OmegaConf.to_container(OmegaConf.load(run_dir / CONFIG_FILE), resolve=False)
        return compute_run_key(saved)  # type: ignore[arg-type]
    return None


def recorded_content_key(run_dir: Path) -> str | None:
    """``dataset.content_key`` of the data the run in ``run_dir`` saw (an image folder's), if any."""
    if (run_dir / RESULT_FILE).is_file():
        return read_result(run_dir).content_key
    if (run_dir / CONFIG_FILE).is_file():
        return OmegaConf.select(OmegaConf.load(run_dir / CONFIG_FILE), "dataset.content_key", default=None)
    return None


def data_changed(run_dir: Path, resolved: Mapping[str, Any], existing: str) -> str | None:
    """The content key the run in ``run_dir`` (run key ``existing``) saw, when it ran this very config on other
    data (the images of the folder changed since): that run is stale. None in every other case. A run recorded
    before poolbench kept the content key ("not recorded") is stale too: which images it saw is unknown."""
    dataset = resolved.get("dataset") or {}
    seen = recorded_content_key(run_dir)
    if dataset.get("content_key") in (None, seen):
        return None
    as_then = {**resolved, "dataset": {**dataset, "content_key": seen}}
    if seen is None:
        del as_then["dataset"]["content_key"]
    return (seen or "not recorded") if existing == compute_run_key(as_then) else None


def clear_run(run_dir: Path) -> None:
    """``force=true``: forget the earlier attempt (record, curve, checkpoint) so the run starts at epoch 0."""
    for name in (RESULT_FILE, EPOCHS_FILE, CHECKPOINT_FILE):
        (run_dir / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class FolderState:
    """What a run folder holds for one run key, read once (no torch, nothing written).

    ``kind``: ``new`` (nothing there), ``resume`` (this config's run, cut short), ``retry`` (this config's run
    ended failed or diverged), ``done`` (this config's run, ok: skip it), ``stale`` (this config's run on
    images that changed since: replaced) or ``other`` (another config's run)."""

    kind: str
    record: RunRecord | None = None  # the record found (done, retry)
    other_key: str | None = None  # kind ``other``: the run key of the config that ran there; ``stale``: the
    # content key of the images it saw


def read_folder(run_dir: Path, run_key: str, resolved: Mapping[str, Any] | None = None) -> FolderState:
    """``resolved`` (the config) tells a stale run (only ``dataset.content_key`` differs) from another config's."""
    existing = recorded_run_key(run_dir)
    if existing is None:
        return FolderState("new")
    if existing != run_key:
        seen = data_changed(run_dir, resolved, existing) if resolved is not None else None
        return FolderState("stale", other_key=seen) if seen else FolderState("other", other_key=existing)
    if not (run_dir / RESULT_FILE).is_file():
        return FolderState("resume")
    record = read_result(run_dir)
    return FolderState("done" if record.status == "ok" else "retry", record)


def done_record(
    run_dir: Path, run_key: str, folder: FolderState, force: bool, content_key: str | None = None
) -> RunRecord | None:
    """The finished record when the run is done (skip it); None when it must (re)run, with ``force`` forgetting
    an earlier attempt first. A folder holding another config's run is refused (``force`` replaces it); one
    holding this config's run on images that changed since (``stale``) is cleared: the run trains again."""
    if force:
        clear_run(run_dir)
        return None
    if folder.kind == "stale":
        log.info(
            "%s: the images changed since its run (content key %s, now %s); training again",
            run_dir,
            folder.other_key,
            content_key,
        )
        clear_run(run_dir)
        return None
    if folder.kind == "other":
        raise RunDirConflict(
            f"{run_dir} holds a run of a different config (run key {folder.other_key}; this config: {run_key}), "
            "e.g. a YAML file changed since. poolbench does not overwrite it. Fix: rerun with force=true to "
            "replace it, or write elsewhere with name=NEW_NAME (or hydra.run.dir=DIR)."
        )
    if folder.kind == "retry":
        assert folder.record is not None
        log.info("retrying %s (last attempt: %s)", run_dir, folder.record.status)
    if folder.kind != "done":
        return None
    log.info("skipped: %s is done (status ok, run key %s); force=true reruns it", run_dir, run_key)
    return folder.record
