"""Keep freed memory inside the process on glibc, so CPU training steps stop page-faulting.

Every CPU training step frees and re-allocates the same activation buffers (tens of MB). glibc returns large
freed blocks to the kernel (``munmap``, heap trimming), so the next step faults every page in again: for the
default small CNN at batch 128 that was ~5,600 minor page faults and 13-20 ms of kernel time per step (see
``scripts/bench.py``, docs/performance.md). With the mmap and trim thresholds raised, freed blocks stay in
the heap and are reused by the next step: no faults. The process keeps its peak footprint, which every step
needs again anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("poolbench.malloc")

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
RETAIN_BYTES = 1 << 30

_done = False


def retain_freed_memory(limit: int = RETAIN_BYTES) -> bool:
    """Ask glibc to serve blocks up to ``limit`` bytes from the heap and keep up to ``limit`` free bytes at its
    top instead of giving them back. True if applied (or already), False where there is no glibc ``mallopt``."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))
    log.debug("glibc mallopt(mmap/trim threshold = %d): %s", limit, "applied" if _done else "refused")
    return _done
