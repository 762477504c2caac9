"""glibc's malloc, set up for CTranslate2's work on CPU.

CTranslate2 allocates each layer's buffers with ``posix_memalign`` and frees them once the layer is
done. For a batch of three 30 s windows the encoder's attention scores alone take 216 MB per layer.
glibc serves a request that large with a fresh ``mmap`` and gives it back with ``munmap`` on free,
so every layer faults its pages in anew: on 2 cores ~370,000 page faults and 1.2-1.6 s of system
time per encoder batch, a third of its wall time (bench/results.md). Served from one arena that
keeps what is freed, the next layer reuses the same pages.

The setting is process-wide, so the library leaves it to its caller: the CLI's ``process`` and
``watch`` call ``keep_freed_memory`` first thing; a program driving ``Pipeline`` may do the same.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger("callscout")

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
# Free memory at the top of the heap beyond this goes back to the system; a batch of eight 30 s
# windows frees at most ~600 MB at once. (mallopt takes an int.)
KEEP_BYTES = 1 << 30

_kept = False


def keep_freed_memory() -> bool:
    """Makes glibc serve large allocations from the main heap and keep freed memory for reuse.

    A thread's arena is fixed at its first allocation, so this must run before the model loads
    and before other threads start: the CLI calls it first thing in ``process`` and ``watch``.
    Returns whether it took effect: only with glibc (Linux); elsewhere nothing is changed."""
    global _kept
    if _kept:
        return True
    if not sys.platform.startswith("linux") or not _glibc():
        return False
    libc = ctypes.CDLL(None)
    # Without mmap, a request over 64 MB cannot come from another thread's arena (glibc would
    # mmap it after all), so every thread shares the main arena.
    settings = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, KEEP_BYTES))
    _kept = all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)
    if not _kept:
        log.debug("glibc's mallopt refused a setting")
    return _kept


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not glibc (musl has no such name)
        return False
