"""The client against a small real HTTP server: error mapping, retries, watches."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncaction.kube import (
    AlreadyExists,
    ApiError,
    Conflict,
    ConnectionInfo,
    Gone,
    KubeClient,
    NotFound,
    NotServed,
)
from asyncaction.kube.client import RetryPolicy

# The API server's answers (kube-apiserver 1.20, recorded): a missing object, and any
# custom resource while the server has not yet read the CRDs after a (re)start.
OBJECT_NOT_FOUND = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'asyncactions.asyncaction.dev "nope" not found', "reason": "NotFound",
    "details": {"name": "nope", "group": "asyncaction.dev", "kind": "asyncactions"},
    "code": 404,
}  # fmt: skip
PAGE_NOT_FOUND = "404 page not found\n"


def status(code: int, reason: str) -> web.Response:
    return web.json_response(
        {"kind": "Status", "code": code, "reason": reason, "message": "m"}, status=code
    )


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[TestServer, dict[str, int]]]:
    calls: dict[str, int] = {}

    async def flaky(request: web.Request) -> web.Response:
        calls["flaky"] = calls.get("flaky", 0) + 1
        if calls["flaky"] < 3:
            return status(503, "ServiceUnavailable")
        return web.json_response({"ok": True, "auth": request.headers.get("Authorization")})

    async def conflict(request: web.Request) -> web.Response:
        body = await request.json()
        if request.content_type != "application/merge-patch+json":
            return status(415, "UnsupportedMediaType")
        return status(409, "AlreadyExists" if body.get("create") else "Conflict")

    async def down(request: web.Request) -> web.Response:
        calls["down"] = calls.get("down", 0) + 1
        return status(503, "ServiceUnavailable")

    async def missing(request: web.Request) -> web.Response:
        calls["missing"] = calls.get("missing", 0) + 1
        return web.json_response(OBJECT_NOT_FOUND, status=404)

    async def unserved(request: web.Request) -> web.Response:
        """A just-started API server: custom resources are 404 until it has read the
        CRDs (``calls["served-after"]`` answers), then they are there."""
        calls[request.method] = calls.get(request.method, 0) + 1
        if calls[request.method] <= calls.get("served-after", 0):
            return web.Response(status=404, text=PAGE_NOT_FOUND)  # text/plain, as it is
        return web.json_response({"metadata": {"name": "x"}}, status=201)

    async def watch(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for event in (
            {"type": "ADDED", "object": {"metadata": {"name": "a"}}},
            {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
        ):
            await response.write(json.dumps(event).encode() + b"\n")
        return response

    async def big_watch(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        huge = {"metadata": {"name": "big"}, "status": {"statusDetails": {"x": "y" * 1_200_000}}}
        for event in ({"type": "ADDED", "object": huge}, {"type": "DELETED", "object": huge}):
            line = json.dumps(event).encode() + b"\n"
            for start in range(0, len(line), 64_000):  # in pieces, as a network delivers it
                await response.write(line[start : start + 64_000])
        return response

    async def plain(request: web.Request) -> web.Response:
        return web.Response(status=405, text="405: Method Not Allowed")

    app = web.Application()
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/down", down)
    app.router.add_get("/big-watch", big_watch)
    app.router.add_patch("/conflict", conflict)
    app.router.add_get("/missing", missing)
    app.router.add_delete("/missing", missing)
    app.router.add_get("/plain", plain)
    app.router.add_get("/unserved", unserved)
    app.router.add_post("/unserved", unserved)
    app.router.add_get("/watch", watch)
    srv = TestServer(app)
    async with srv:  # its __aenter__ is typed as returning the base class
        yield srv, calls


def client_for(srv: TestServer) -> KubeClient:
    info = ConnectionInfo(server=str(srv.make_url("")).rstrip("/"), token="secret-token")
    return KubeClient(info, retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02))


@pytest.mark.asyncio
async def test_transient_errors_are_retried(server: tuple[TestServer, dict[str, int]]) -> None:
    srv, calls = server
    async with client_for(srv) as kube:
        answer = await kube.get("/flaky")
    assert answer == {"ok": True, "auth": "Bearer secret-token"}
    assert calls["flaky"] == 3


@pytest.mark.asyncio
async def test_not_found_is_not_retried(server: tuple[TestServer, dict[str, int]]) -> None:
    srv, calls = server
    async with client_for(srv) as kube:
        with pytest.raises(NotFound):
            await kube.get("/missing")
        await kube.delete("/missing")  # missing_ok by default
        with pytest.raises(NotFound):
            await kube.delete("/missing", missing_ok=False)
    assert calls["missing"] == 3


@pytest.mark.asyncio
async def test_a_resource_not_yet_served_is_retried_as_unavailable_not_taken_for_gone(
    server: tuple[TestServer, dict[str, int]],
) -> None:
    """Found by the e2e API-server restart: the hook read "404 page not found" for a
    running job's action as "no such action" and the job failed."""
    srv, calls = server
    calls["served-after"] = 2
    async with client_for(srv) as kube:
        assert await kube.get("/unserved") == {"metadata": {"name": "x"}}
        # a create the server surely did not act on is sent again, not "outcome unknown"
        assert await kube.create("/unserved", {"metadata": {"name": "x"}}) == {
            "metadata": {"name": "x"}
        }
        assert (calls["GET"], calls["POST"]) == (3, 3)
        calls["served-after"] = 100  # it lasts: the CRD is not installed
        with pytest.raises(NotServed) as caught:
            await kube.get("/unserved")
    error = caught.value
    assert (error.status, error.reason, error.transient) == (503, "NotServed", True)
    assert not isinstance(error, NotFound)
    assert error.message.startswith("the API server answered 404 (404 page not found) for")
    assert "is the CustomResourceDefinition installed?" in error.message


@pytest.mark.asyncio
async def test_plain_text_errors_are_reported(server: tuple[TestServer, dict[str, int]]) -> None:
    srv, _ = server
    async with client_for(srv) as kube:
        with pytest.raises(ApiError, match="Method Not Allowed") as caught:
            await kube.get("/plain")
    assert caught.value.status == 405


@pytest.mark.asyncio
async def test_conflicts_are_told_apart(server: tuple[TestServer, dict[str, int]]) -> None:
    srv, _ = server
    async with client_for(srv) as kube:
        with pytest.raises(Conflict):
            await kube.patch("/conflict", {"x": 1})
        with pytest.raises(AlreadyExists):
            await kube.patch("/conflict", {"create": True})


@pytest.mark.asyncio
async def test_retries_give_up_with_the_last_error(
    server: tuple[TestServer, dict[str, int]],
) -> None:
    srv, _ = server
    info = ConnectionInfo(server=str(srv.make_url("")).rstrip("/"))
    async with KubeClient(info, retry=RetryPolicy(attempts=2, base_delay=0.01)) as kube:
        with pytest.raises(ApiError) as caught:
            await kube.get("/flaky")
    assert caught.value.status == 503


@pytest.mark.asyncio
async def test_watch_yields_events_then_raises_gone(
    server: tuple[TestServer, dict[str, int]],
) -> None:
    srv, _ = server
    seen = []

    async def consume(kube: KubeClient) -> None:
        async for event in kube.watch("/watch", resource_version="1"):
            seen.append((event.type, event.object["metadata"]["name"]))

    async with client_for(srv) as kube:
        with pytest.raises(Gone):
            await consume(kube)
    assert seen == [("ADDED", "a")]


@pytest.mark.asyncio
async def test_watch_reads_objects_larger_than_aiohttps_line_limit(
    server: tuple[TestServer, dict[str, int]],
) -> None:
    srv, _ = server
    async with client_for(srv) as kube:
        seen = [
            (event.type, len(event.object["status"]["statusDetails"]["x"]))
            async for event in kube.watch("/big-watch")
        ]
    assert seen == [("ADDED", 1_200_000), ("DELETED", 1_200_000)]


@pytest.mark.asyncio
async def test_retries_during_an_outage_log_a_line_not_one_per_request(
    server: tuple[TestServer, dict[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    """20 requests retried 3 times each against a server that answers 503: one warning
    (the rest counted into the next line an interval later), then one line once requests
    succeed again an interval after the last failure."""
    caplog.set_level(logging.INFO, "asyncaction.kube.client")
    srv, calls = server
    now = [0.0]
    async with client_for(srv) as kube:
        kube.retry_log.clock = lambda: now[0]
        for _ in range(20):
            with pytest.raises(ApiError):
                await kube.get("/down")
        now[0] = 31.0
        await kube.get("/flaky")  # 503 twice (two lines: one now, one counted), then 200
        now[0] = 62.0
        await kube.get("/flaky")
    assert calls["down"] == 80
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncaction.kube.client"]
    assert [m.split(" (")[0] for m in messages] == [
        "GET /down failed",
        "GET /flaky failed",
        "requests to the API server succeed: 62 failure(s) over 31s",
    ]
    assert "(59 more like it in the last 31s, 61 since the first 31s ago)" in messages[1]
