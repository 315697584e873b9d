"""Keep freed host memory for reuse: large temporaries without page faults.

A training step allocates and frees the same large arrays every time (the
logits of a large vocabulary are tokens x vocabulary floats, tens of MB).
glibc's malloc serves blocks above 32 MB with a fresh ``mmap`` and returns
them to the operating system when freed, so the next step's array of the
same size is page-faulted in again, page by page, and the kernel zeroes
every page: an extra pass over the memory for every such array.

``reuse_freed_memory()`` asks glibc to take every block from its heap and to
keep freed memory there (``mallopt``), so the next step reuses it.  The
process's memory then stays near its peak instead of shrinking between
steps.  It changes a process-wide setting, so only programs that own their
process call it: the ``minitransformer`` command and the benchmarks, never
the library on import.  Elsewhere than Linux with glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1   # mallopt parameters, from glibc's malloc.h
_M_MMAP_MAX = -4


def reuse_freed_memory() -> bool:
    """Keep freed heap memory for reuse; True if the allocator accepted it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    no_mmap = mallopt(_M_MMAP_MAX, 0) == 1                  # every block from the heap
    keep = mallopt(_M_TRIM_THRESHOLD, 2 ** 30) == 1         # return memory only above 1 GiB free
    return no_mmap and keep
