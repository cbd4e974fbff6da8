"""An on-disk cache of decoded images as uint8 tensors, keyed by the content of the folder they came from.

Decoding thousands of JPEG/PNG files costs far more than training a small model for an epoch, so the first run
decodes once and writes ``DATA_DIR/image_cache/NAME-KEY.pt`` (atomically: an interrupted write leaves no file);
later runs with an unchanged folder load it in about a second. The key is the folder's content key
(``poolbench.config.folder_layout.content_key``: every file's relative path, size and modification time plus
the decoding settings), so adding, removing, replacing or touching an image starts a fresh decode; nothing is
ever served from a stale cache.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from poolbench.atomic import atomic_torch_save

log = logging.getLogger("poolbench.data")

CACHE_FOLDER = "image_cache"


def cache_path(data_dir: Path, name: str, key: str) -> Path:
    return data_dir / CACHE_FOLDER / f"{name}-{key}.pt"


def load_cached(path: Path) -> dict[str, Any] | None:
    """The cached tensors, or None if there is no usable cache (a damaged one is logged and ignored)."""
    if not path.is_file():
        return None
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or foreign file: decode again and overwrite it
        log.warning("ignoring the unreadable image cache %s (%s); decoding the images again", path, error)
        return None
    return cached if isinstance(cached, dict) else None


def save_cached(path: Path, tensors: dict[str, Any]) -> None:
    """Write the cache atomically; a data_dir that cannot be written costs a warning, never the run."""
    try:
        atomic_torch_save(path, tensors)
    except OSError as error:
        log.warning("could not write the image cache %s (%s); the next run decodes the images again", path, error)
    else:
        log.info("decoded images cached in %s", path)
