"""The informer's backoff counts consecutive failures to reach the API server: a LIST
it answered in full ends the count (``runtime.informer.Informer.run``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncaction.kube.client import WatchEvent
from asyncaction.kube.errors import ApiError, Gone
from asyncaction.runtime.informer import Backoff, Informer


class Recording(Backoff):
    """No real waiting; remembers how many failures each pause counted."""

    def __init__(self) -> None:
        super().__init__(base=0.0, cap=0.0)
        self.counted: list[int] = []

    def next(self) -> float:
        delay = super().next()
        self.counted.append(self.failures)
        return delay


class Script:
    """LISTs always answer; each watch plays the next outcome of ``watches``."""

    def __init__(self, watches: list[Exception | None]) -> None:
        self.watches = watches
        self.lists = 0
        self.done = asyncio.Event()

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.lists += 1
        return {"items": [], "metadata": {"resourceVersion": str(self.lists)}}

    async def watch(self, path: str, **_: Any) -> AsyncIterator[WatchEvent]:
        if not self.watches:
            self.done.set()
            await asyncio.Event().wait()
        outcome = self.watches.pop(0)
        if outcome is not None:
            raise outcome
        yield WatchEvent("BOOKMARK", {})


@pytest.mark.asyncio
async def test_a_relist_the_api_server_answered_ends_the_count_of_failures() -> None:
    down = ApiError(503, "ServiceUnavailable", "server is starting")
    # an outage (three failures), its version expired meanwhile (410), the relist works,
    # then the next short outage: its first pause must count one failure, not four
    api = Script([down, down, down, Gone(410, "Expired", "too old"), down, down])
    backoff = Recording()
    informer = Informer(api, "/things", backoff=backoff)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(api.done.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert api.lists == 2  # the first LIST and the one after 410
    assert backoff.counted == [1, 2, 3, 1, 2]  # before: [1, 2, 3, 4, 5]
