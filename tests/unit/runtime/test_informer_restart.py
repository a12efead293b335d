"""A cache through an API server restart, against a small real HTTP server answering as
kube-apiserver 1.20 does (recorded on the test bed).

A just-started API server answers ``404 page not found`` for a custom resource until it
has read the CRDs, for about a second after it serves again. A quiet cache (ActionQueues
nobody changes) gets no watch event for minutes: taken as "never worked", it read that
404 as "no CRD" and ended, and the operator with it. A cache whose watch the server
accepted once retries; a resource that was never served is still reported at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncaction.kube import ConnectionInfo, KubeClient, NotServed
from asyncaction.kube.client import RetryPolicy
from asyncaction.runtime.informer import Backoff, CacheError, Informer

PAGE_NOT_FOUND = "404 page not found\n"


class RestartingApi:
    """An empty collection; each watch stays open, quiet, until ``restart`` drops it. The
    next ``unserved`` requests are answered 404 page not found, then it serves again."""

    def __init__(self) -> None:
        self.lists = 0
        self.watches = 0
        self.unserved = 0
        self.refused = 0
        self.restarted = asyncio.Event()

    async def things(self, request: web.Request) -> web.StreamResponse:
        if self.unserved:
            self.unserved -= 1
            self.refused += 1
            return web.Response(status=404, text=PAGE_NOT_FOUND)
        if request.query.get("watch") != "true":
            self.lists += 1
            return web.json_response({"items": [], "metadata": {"resourceVersion": "7"}})
        self.watches += 1
        response = web.StreamResponse()
        await response.prepare(request)  # accepted: 200, and nothing happens
        self.restarted.clear()
        await self.restarted.wait()
        assert request.transport is not None
        request.transport.close()  # the server stops mid-watch
        return response

    def restart(self, unserved: int) -> None:
        self.unserved = unserved
        self.restarted.set()


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[RestartingApi, KubeClient]]:
    fake = RestartingApi()
    app = web.Application()
    app.router.add_get("/things", fake.things)
    async with TestServer(app) as srv:
        info = ConnectionInfo(server=str(srv.make_url("")).rstrip("/"))
        async with KubeClient(info, retry=RetryPolicy(attempts=1)) as kube:
            yield fake, kube


async def until(condition: object, what: str) -> None:
    for _ in range(1000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


@pytest.mark.asyncio
async def test_a_quiet_cache_rides_out_an_api_server_that_has_not_read_its_crds(
    api: tuple[RestartingApi, KubeClient],
) -> None:
    fake, kube = api
    informer = Informer(kube, "/things", name="things@ns", backoff=Backoff(base=0.01, cap=0.02))
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 10)
        await until(lambda: fake.watches == 1, "the first watch")
        fake.restart(unserved=3)
        await until(lambda: fake.watches == 2, "a watch after the restart")
        assert not task.done()
        assert informer.failure is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert fake.refused == 3


@pytest.mark.asyncio
async def test_a_resource_never_served_is_reported_naming_it_and_the_crd(
    api: tuple[RestartingApi, KubeClient],
) -> None:
    fake, kube = api
    fake.unserved = 1
    informer = Informer(kube, "/things", name="things@ns")
    task = asyncio.create_task(informer.run())
    with pytest.raises(CacheError) as caught:
        await asyncio.wait_for(informer.wait_synced(), 10)
    await asyncio.wait_for(task, 10)  # the loop ended: nothing retries it forever
    assert isinstance(caught.value.error, NotServed)
    assert str(caught.value).startswith(
        "cache things@ns cannot list/watch /things: 503 NotServed: the API server answered"
        " 404 (404 page not found) for a resource type it does not serve"
    )
    assert str(caught.value).endswith("is the CustomResourceDefinition installed?")
