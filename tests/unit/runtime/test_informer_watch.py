"""The informer's list/watch loop against a small real HTTP server: a watch that ends or
fails resumes from its last resourceVersion; only 410 Gone relists (in pages); a refusal
before the cache ever worked is reported, not retried forever."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncaction.kube import ConnectionInfo, KubeClient
from asyncaction.kube.client import RetryPolicy
from asyncaction.runtime.informer import Backoff, CacheError, Informer


def thing(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


class Api:
    def __init__(self) -> None:
        self.lists: list[dict[str, str]] = []
        self.watches: list[dict[str, str]] = []
        self.refuse = 0

    async def things(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        if self.refuse:
            return web.json_response({"reason": "Forbidden", "message": "no"}, status=403)
        if params.get("watch") != "true":
            self.lists.append(params)
            if "continue" not in params:  # page 1 of 2
                items, meta = [thing("a", 1)], {"resourceVersion": "2", "continue": "p2"}
            else:
                items, meta = [thing("b", 2)], {"resourceVersion": "2"}
            if len(self.lists) > 2:  # the relist: b was deleted meanwhile
                items, meta = ([thing("a", 1)] if "continue" not in params else []), meta
            return web.json_response({"items": items, "metadata": meta})
        self.watches.append(params)
        response = web.StreamResponse()
        await response.prepare(request)
        turn = len(self.watches)

        async def send(event: dict[str, Any]) -> None:
            await response.write(json.dumps(event).encode() + b"\n")

        if turn == 1:  # one event, then the connection drops mid-stream
            await send({"type": "ADDED", "object": thing("c", 3)})
            await response.write(b'{"type": "MODIF')
            assert request.transport is not None
            request.transport.close()
        elif turn == 2:  # a bookmark, then the server's timeout ends the watch
            await send({"type": "BOOKMARK", "object": thing("", 5)})
        elif turn == 3:
            await send({"type": "ERROR", "object": {"code": 410, "reason": "Expired"}})
        else:
            await asyncio.sleep(60)
        return response


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[Api, KubeClient]]:
    fake = Api()
    app = web.Application()
    app.router.add_get("/things", fake.things)
    async with TestServer(app) as srv:
        info = ConnectionInfo(server=str(srv.make_url("")).rstrip("/"))
        async with KubeClient(info, retry=RetryPolicy(attempts=1)) as kube:
            yield fake, kube


@pytest.mark.asyncio
async def test_a_broken_or_ended_watch_resumes_and_only_gone_relists(
    api: tuple[Api, KubeClient],
) -> None:
    fake, kube = api
    informer = Informer(kube, "/things", page_size=1, backoff=Backoff(base=0.01, cap=0.02))
    task = asyncio.create_task(informer.run())
    try:
        for _ in range(500):
            if len(fake.watches) >= 4:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [w.get("resourceVersion") for w in fake.watches[:4]] == ["2", "3", "5", "2"]
    assert all(w["allowWatchBookmarks"] == "true" for w in fake.watches)
    assert informer.lists == 2  # the first list and the one after 410, nothing else
    assert [p.get("continue") for p in fake.lists] == [None, "p2", None, "p2"]
    assert all(p["limit"] == "1" for p in fake.lists)
    assert sorted(informer.items) == ["ns/a"]  # b and c vanished during the gap


@pytest.mark.asyncio
async def test_a_refused_list_is_reported_naming_the_resource(
    api: tuple[Api, KubeClient],
) -> None:
    fake, kube = api
    fake.refuse = 1
    informer = Informer(kube, "/things", name="things@ns")
    task = asyncio.create_task(informer.run())
    with pytest.raises(CacheError, match=r"things@ns cannot list/watch /things: 403 Forbidden"):
        await asyncio.wait_for(informer.wait_synced(), 10)
    await asyncio.wait_for(task, 10)  # the loop ended: nothing retries a refusal forever
    assert not informer.synced.is_set()
