"""Keep the heap's large blocks for reuse, so taking a camera frame does not page-fault it afresh.

Why: every raw take copies a serialized frame out of the middleware into a new buffer, twice
(rmw's serialized message, then Python ``bytes``). glibc serves a block over 128 KB with its own
``mmap`` and unmaps it when freed, so the next 1080p frame (6 MB) touches 1,500 fresh pages
again. Measured on this 2-core virtual machine, taking one 1920x1080 bgr8 frame cost 7.8 ms of
CPU that way and 2.7 ms with large blocks served from (and kept in) the heap: for the frame the
node processes and for each older one it drains on the way (see ``intake``), on cores that
inference shares. The heap then keeps up to a few frames' worth of memory it has used before.

Only glibc has ``mallopt``; elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ['MMAP_THRESHOLD_BYTES', 'TRIM_THRESHOLD_BYTES', 'keep_frame_buffers']

_M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> option numbers
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Blocks below this come from the heap: a 4K bgr8 frame (25 MB) fits; glibc's own maximum."""

TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
"""Free memory at the heap's top is returned to the system only beyond this."""


def keep_frame_buffers() -> bool:
    """Set glibc's mmap and trim thresholds for frame-sized blocks; False where not glibc."""
    name = ctypes.util.find_library('c')
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting the mmap threshold also stops glibc's own
    # adjustment of both thresholds, which would otherwise undo the trim threshold.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
