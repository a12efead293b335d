"""The client's single retry layer against a small real HTTP server: Retry-After, writes
that timed out after they were sent, Lease calls without retries, watch connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncaction.kube import (
    AlreadyExists,
    ApiError,
    ConnectionInfo,
    KubeClient,
    WriteOutcomeUnknown,
)
from asyncaction.kube.client import RetryPolicy, retry_after

OURS = {"labels": {"app": "x"}, "ownerReferences": [{"kind": "AsyncAction", "uid": "u1"}]}


class Api:
    """A collection at /things that is slow to answer creates (they land all the same)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, float]] = []
        self.create_delay = 0.0
        self.throttle = 0
        self.status_on_create = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/things", self.create)
        app.router.add_get("/things/{name}", self.get)
        app.router.add_get("/throttled", self.throttled)
        app.router.add_get("/hang", self.hang)
        return app

    async def create(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", request.path, time.monotonic()))
        body = await request.json()
        meta = body["metadata"]
        name = meta.get("name") or meta["generateName"] + "abcde"
        if name in self.objects:
            return web.json_response({"code": 409, "reason": "AlreadyExists"}, status=409)
        self.objects[name] = {**body, "metadata": {**meta, "name": name, "uid": "new"}}
        if self.status_on_create:
            return web.json_response({"reason": "Timeout"}, status=self.status_on_create)
        await asyncio.sleep(self.create_delay)  # landed, but the answer comes too late
        return web.json_response(self.objects[name], status=201)

    async def get(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path, time.monotonic()))
        found = self.objects.get(request.match_info["name"])
        if found is None:
            return web.json_response({"code": 404, "reason": "NotFound"}, status=404)
        return web.json_response(found)

    async def throttled(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path, time.monotonic()))
        if self.throttle > 0:
            self.throttle -= 1
            return web.json_response(
                {"reason": "TooManyRequests"}, status=429, headers={"Retry-After": "1"}
            )
        return web.json_response({"ok": True})

    async def hang(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await asyncio.sleep(60)
        return response


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[Api, KubeClient]]:
    fake = Api()
    async with TestServer(fake.app()) as srv:
        info = ConnectionInfo(server=str(srv.make_url("")).rstrip("/"))
        retry = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02)
        async with KubeClient(info, retry=retry, request_timeout=0.3) as kube:
            yield fake, kube


def posts(fake: Api) -> int:
    return sum(1 for method, _, _ in fake.calls if method == "POST")


@pytest.mark.asyncio
async def test_a_create_that_timed_out_but_landed_is_adopted_not_sent_again(
    api: tuple[Api, KubeClient],
) -> None:
    fake, kube = api
    fake.create_delay = 2.0
    created = await kube.create("/things", {"metadata": {"name": "a", **OURS}})
    assert created["metadata"]["name"] == "a"
    assert created["metadata"]["uid"] == "new"
    assert posts(fake) == 1
    assert [c[:2] for c in fake.calls] == [("POST", "/things"), ("GET", "/things/a")]


@pytest.mark.asyncio
async def test_what_landed_under_our_name_but_is_not_ours_is_already_exists(
    api: tuple[Api, KubeClient],
) -> None:
    fake, kube = api
    fake.create_delay = 2.0
    fake.objects["b"] = {"metadata": {"name": "b", "labels": {"app": "other"}}}
    with pytest.raises(AlreadyExists):
        await kube.create("/things", {"metadata": {"name": "b", **OURS}})


@pytest.mark.asyncio
async def test_a_generated_name_that_timed_out_is_reported_not_repeated(
    api: tuple[Api, KubeClient],
) -> None:
    fake, kube = api
    fake.create_delay = 2.0
    with pytest.raises(WriteOutcomeUnknown) as caught:
        await kube.create("/things", {"metadata": {"generateName": "g-", **OURS}})
    assert caught.value.reason == "WriteOutcomeUnknown"
    assert posts(fake) == 1


@pytest.mark.asyncio
async def test_a_504_on_create_is_checked_by_name(api: tuple[Api, KubeClient]) -> None:
    fake, kube = api
    fake.status_on_create = 504
    created = await kube.create("/things", {"metadata": {"name": "c", **OURS}})
    assert created["metadata"]["uid"] == "new"
    assert posts(fake) == 1


@pytest.mark.asyncio
async def test_retry_after_is_honoured(api: tuple[Api, KubeClient]) -> None:
    fake, kube = api
    fake.throttle = 1
    assert await kube.get("/throttled") == {"ok": True}
    (_, _, first), (_, _, second) = fake.calls
    assert second - first >= 0.95  # the server asked for 1 s; the backoff alone is 0.02 s


def test_retry_after_forms() -> None:
    assert retry_after("3", 30) == 3.0
    assert retry_after("120", 30) == 30.0
    assert retry_after(None, 30) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 30) == 0.0  # in the past
    assert retry_after("soon", 30) is None


@pytest.mark.asyncio
async def test_a_call_without_retries_is_made_once(api: tuple[Api, KubeClient]) -> None:
    fake, kube = api
    fake.throttle = 5
    with pytest.raises(ApiError) as caught:
        await kube.get("/throttled", retry=False)
    assert caught.value.status == 429
    assert len(fake.calls) == 1


@pytest.mark.asyncio
async def test_a_per_call_timeout_bounds_one_request(api: tuple[Api, KubeClient]) -> None:
    fake, kube = api
    fake.create_delay = 2.0
    with pytest.raises(WriteOutcomeUnknown):
        await kube.create("/things", {"metadata": {"name": "d", **OURS}}, retry=False)
    assert posts(fake) == 1


@pytest.mark.asyncio
async def test_watches_leave_the_connections_requests_need(api: tuple[Api, KubeClient]) -> None:
    fake, kube = api
    fake.objects["e"] = {"metadata": {"name": "e"}}

    async def watch() -> None:
        async for _ in kube.watch("/hang", timeout_seconds=60):
            pass

    watches = [asyncio.create_task(watch()) for _ in range(60)]  # more than the pool's 50
    try:
        await asyncio.sleep(0.5)
        assert (await kube.get("/things/e"))["metadata"]["name"] == "e"
    finally:
        for task in watches:
            task.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
