"""A relist after 410 Gone reports as deleted what vanished during the watch gap, and
nothing the controller wrote while the LIST was in flight.

The cache takes the controller's own writes (``put``) as they are answered. An object
created after the LIST's snapshot is not in that LIST, and was reported DELETED: a
Job created during a relist left the cache and its uid was tombstoned, and its action,
RUNNING, was failed with ``JobDeleted`` while the Job ran on (found by review).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncaction.kube import Gone
from asyncaction.kube.client import WatchEvent
from asyncaction.runtime.informer import Informer


def thing(name: str, rv: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"u-{name}",
            "resourceVersion": str(rv),
        }
    }


class RelistingApi:
    """LIST: ``old`` and ``gone`` at rv 10. The watch from 10 is Gone. The relist is
    answered (``gone`` deleted meanwhile) once ``answer`` is set."""

    def __init__(self) -> None:
        self.lists = 0
        self.relisting = asyncio.Event()
        self.answer = asyncio.Event()

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.lists += 1
        if self.lists == 1:
            return {
                "items": [thing("old", 5), thing("gone", 6)],
                "metadata": {"resourceVersion": "10"},
            }
        self.relisting.set()  # the server's snapshot: rv 20
        await self.answer.wait()
        return {"items": [thing("old", 5)], "metadata": {"resourceVersion": "20"}}

    async def watch(self, path: str, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        if kwargs.get("resource_version") == "10":
            raise Gone(410, "Expired", "too old resource version")
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})


@pytest.mark.asyncio
async def test_what_the_controller_wrote_during_a_relist_is_not_reported_deleted() -> None:
    api = RelistingApi()
    informer = Informer(api, "/things")
    events: list[tuple[str, str]] = []

    def record(event: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        events.append((event, (new or old or {})["metadata"]["name"]))

    informer.add_handler(record)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(api.relisting.wait(), 5)
        events.clear()
        informer.put(thing("created", 21))  # a create answered while the LIST is in flight
        api.answer.set()
        for _ in range(100):
            if api.lists == 2 and informer.lists == 2:
                break
            await asyncio.sleep(0.01)
        assert informer.lists == 2
        assert events == [("ADDED", "created"), ("DELETED", "gone")]
        assert sorted(informer.items) == ["ns/created", "ns/old"]
    finally:
        task.cancel()
