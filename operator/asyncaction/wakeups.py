"""Wake an action's reconcile loop early when something about it changes.

Each action is reconciled by one loop (a kopf daemon) that sleeps between passes; events
on the action, its Job or its Pods set the action's wake-up so the next pass runs now
instead of at the poll deadline. Only one operator process reconciles an action, so a
plain in-memory map is enough.
"""

from __future__ import annotations

import asyncio
import contextlib


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def _event(self, uid: str) -> asyncio.Event:
        event = self._events.get(uid)
        if event is None:
            event = self._events[uid] = asyncio.Event()
        return event

    def wake(self, uid: str) -> None:
        self._event(uid).set()

    def forget(self, uid: str) -> None:
        self._events.pop(uid, None)

    async def sleep(self, uid: str, seconds: float) -> None:
        """Sleep up to ``seconds``, less if woken; a wake-up before the sleep counts."""
        event = self._event(uid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))
        event.clear()
