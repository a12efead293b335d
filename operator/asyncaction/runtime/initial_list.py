"""Whether the code running now replays an informer's first LIST.

client-go tells an event handler ``isInInitialList`` for the adds of an informer's first
LIST, and controller-runtime's priority queue queues those at low priority: an operator
starting (or a cold standby taking over) at 100,000 objects must not put every one of
them in front of the change a user makes meanwhile (a new action waited 4.4 s behind
a cold takeover's keys, ``bench/bench_takeover.py``). Here the informer marks its first
LIST in a context variable (set in the informer's own task, so no other task sees it)
and ``WorkQueue.add`` queues what its handlers add then as bulk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_REPLAYING: ContextVar[bool] = ContextVar("asyncaction_initial_list", default=False)


def in_initial_list() -> bool:
    return _REPLAYING.get()


@contextmanager
def initial_list(replaying: bool = True) -> Iterator[None]:
    """Mark the block (``replaying``: or not) as an informer's first LIST."""
    token = _REPLAYING.set(replaying)
    try:
        yield
    finally:
        _REPLAYING.reset(token)
