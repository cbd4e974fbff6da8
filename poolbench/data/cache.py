"""An on-disk cache of decoded images as uint8 tensors, keyed by the content of the folder they came from.

Decoding thousands of JPEG/PNG files costs far more than training a small model for an epoch, so the first run
decodes once and writes ``DATA_DIR/image_cache/NAME-KEY.pt`` (atomically: an interrupted write leaves no file);
later runs with an unchanged folder load it in about a second. The key hashes every file's relative path, size
and modification time plus the decoding settings (image size, channels), so adding, removing, replacing or
touching an image starts a fresh decode; nothing is ever served from a stale cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from poolbench.atomic import atomic_torch_save

log = logging.getLogger("poolbench.data")

CACHE_FORMAT = 1  # bump when the decoding changes, so old caches are not reused
CACHE_FOLDER = "image_cache"


def content_key(files: Iterable[Path], root: Path, decoding: dict[str, Any]) -> str:
    """Hex digest of (relative path, size, mtime in ns) of every file and of the decoding settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": CACHE_FORMAT, **decoding}, sort_keys=True).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"\0{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


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
