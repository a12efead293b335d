"""An informer's first LIST queues its keys as bulk; a watch event after it, or a
relist's change, queues ordinary keys in front of them (``runtime.initial_list``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncaction.kube.client import WatchEvent
from asyncaction.runtime.indexed_cache import Obj, object_key
from asyncaction.runtime.informer import Informer
from asyncaction.runtime.initial_list import in_initial_list, initial_list
from asyncaction.runtime.workqueue import WorkQueue


def thing(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


class OneListThenEvents:
    """A LIST of three objects, then the watch events put on ``events``."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[WatchEvent] = asyncio.Queue()

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        items = [thing(f"old-{i}", i) for i in range(1, 4)]
        return {"items": items, "metadata": {"resourceVersion": "3"}}

    async def watch(self, path: str, **_: Any) -> AsyncIterator[WatchEvent]:
        while True:
            yield await self.events.get()


@pytest.mark.asyncio
async def test_the_first_list_queues_bulk_and_a_change_meanwhile_goes_first() -> None:
    api = OneListThenEvents()
    informer = Informer(api, "/things")
    queue = WorkQueue()
    seen_in_list: list[bool] = []

    def handler(event: str, new: Obj | None, old: Obj | None) -> None:
        seen_in_list.append(in_initial_list())
        queue.add(object_key(new or old or {}))

    informer.add_handler(handler)
    tasks = [asyncio.create_task(informer.run())]
    await informer.wait_synced()
    api.events.put_nowait(WatchEvent("ADDED", thing("new", 4)))
    api.events.put_nowait(WatchEvent("MODIFIED", {**thing("old-2", 5), "spec": {"x": 1}}))
    for _ in range(2000):  # bounded; no time asserted
        if len(seen_in_list) == 5:
            break
        await asyncio.sleep(0.001)
    assert seen_in_list == [True, True, True, False, False]
    taken = [await queue._get() for _ in range(4)]
    assert taken == ["ns/new", "ns/old-2", "ns/old-1", "ns/old-3"]
    assert not in_initial_list()  # the informer's mark never leaves its own task
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_the_mark_is_scoped_to_its_block() -> None:
    assert not in_initial_list()
    with initial_list():
        assert in_initial_list()
        with initial_list(False):
            assert not in_initial_list()
        assert in_initial_list()
    assert not in_initial_list()
