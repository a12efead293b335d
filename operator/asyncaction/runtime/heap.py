"""Keeping CPython's cyclic garbage collector from stalling the event loop.

A full (generation 2) collection walks every container object the process tracks. With
100,000 cached actions that is a few million dicts and lists, and one collection holds
the loop for seconds; during a start-up the heap grows fast and such collections come
one after another (measured by ``bench/bench_loop.py``: 0.5 s at 20,000 actions).

``settle`` runs a cheap young-generation collection, then moves every surviving object
to the permanent generation (``gc.freeze``), which later collections skip. Frozen
objects are still freed by reference counting when the caches drop them (the caches
hold acyclic dicts and lists); only a reference cycle that was alive when frozen and
died later is never collected, so ``settle`` is called at the moments the heap grows in
bulk (start-up, a relist, a resync), not continuously.

``trim`` hands the C allocator's free pages back to the system once a sync is done:
decoding 200 LIST pages leaves about 9 MiB of freed but mapped memory behind at 100,000
actions (``bench/bench_hook_memory.py``). glibc only (``malloc_trim``); elsewhere a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Callable


def settle() -> None:
    gc.collect(1)
    gc.freeze()


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl), or no C library found
        return None
    return trim


_TRIM = _malloc_trim()


def trim() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


async def settle_until(done: asyncio.Event, period: float = 0.05) -> None:
    """Settle the heap every ``period`` seconds until ``done`` is set, and once then."""
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=period)
        settle()
    trim()
