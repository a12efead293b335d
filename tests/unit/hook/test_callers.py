"""The checks of a request stop before anything is recorded wherever they would wait, and
a report that waits for nothing is answered without a coroutine (``callers``,
``routes.post_status``): the hook's real checks, cache and coalescer over a fake API."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from asyncaction_hook import routes
from asyncaction_hook.app import Hook
from asyncaction_hook.callers import Caller, Wait, check, check_now
from asyncaction_hook.errors import HookError
from asyncaction_hook.fence import ShardFence
from asyncaction_hook.httpmessages import Headers, Request, Response
from asyncaction_job.signing import headers_v2
from tests.support.hookserver import KEYS, UID, build_hook
from tests.unit.hook.test_report_path import OneActionApi

KEY = KEYS.issue("ns", UID, 1)


def report(hook: Hook, body: bytes, *, complete: bool = True, key: str = KEY) -> Request:
    """A signed ``POST /status`` whose body has all arrived (or not yet: ``complete``)."""
    signed = headers_v2(UID, key, "POST", "/status", body, hook.clock_ms() - 1000)
    fields = {name.lower(): value for name, value in signed.items()}
    fields["content-length"] = str(len(body))
    request = Request(None, "POST", "/status", "/status", "1.1", Headers(fields), True)
    if complete:
        request._add(body, 1 << 20)
        request._end()
    return request


def recorded(hook: Hook) -> tuple[int, int]:
    """What accepting a request records: replay entries, and per-action budgets."""
    size = getattr(hook.guard, "size", 0)
    return size, len(hook.budgets.actions)


@pytest_asyncio.fixture
async def hook() -> AsyncIterator[Hook]:
    built = build_hook(OneActionApi())
    built.cache.start()
    assert await built.cache.wait_synced(5)
    yield built
    built.coalescer.forget(UID)
    await built.cache.stop()


@pytest.mark.asyncio
async def test_a_progress_report_is_answered_at_once_and_a_phase_change_after_its_write(
    hook: Hook,
) -> None:
    answer = routes.post_status(hook, report(hook, b'{"progress": 40}'), {})
    assert isinstance(answer, Response)  # no coroutine: the server answers in its read
    assert (answer.status, json.loads(answer.body)) == (
        200,
        {"id": UID, "name": "a", "namespace": "ns", "phase": "RUNNING", "progress": 40,
         "attempts": 1},
    )  # fmt: skip
    assert hook.coalescer.pending_view(UID) == {"progress": 40}
    api: Any = hook.kube
    written = routes.post_status(hook, report(hook, b'{"status": "SUCCEEDED"}'), {})
    assert not isinstance(written, Response)  # written before the answer: awaited
    assert api.patches == []
    answered = await written
    assert (answered.status, json.loads(answered.body)["phase"]) == (200, "SUCCEEDED")
    assert [p["status"]["phase"] for p in api.patches] == ["SUCCEEDED"]
    assert api.patches[0]["status"]["progress"] == 100


@pytest.mark.asyncio
async def test_a_body_still_arriving_is_waited_for_then_checked(hook: Hook) -> None:
    body = b'{"progress": 7}'
    request = report(hook, body, complete=False)
    assert check(hook, request) is Wait.BODY
    assert check_now(hook, request) is None
    assert recorded(hook) == (0, 0)  # nothing accepted, nothing charged
    waiting = routes.post_status(hook, request, {})
    assert not isinstance(waiting, Response)
    answer = asyncio.ensure_future(waiting)
    await asyncio.sleep(0.01)
    assert not answer.done()
    request._add(body, 1 << 20)
    request._end()
    assert json.loads((await answer).body)["progress"] == 7
    assert recorded(hook) == (1, 1)


@pytest.mark.asyncio
async def test_the_first_sync_is_waited_for_but_bad_headers_are_refused_before_it() -> None:
    hook = build_hook(OneActionApi())  # its cache not started: never synced
    request = report(hook, b"{}")
    assert check(hook, request) is Wait.SYNC
    forged = report(hook, b"{}")
    del forged.headers._by_name["x-job-hash"]
    with pytest.raises(HookError) as caught:
        check(hook, forged)
    assert (caught.value.status, caught.value.reason) == (401, "UNAUTHORIZED")
    assert recorded(hook) == (0, 0)


@pytest.mark.asyncio
async def test_a_shard_not_yet_held_is_waited_for_once_then_refuses(hook: Hook) -> None:
    """A new process of a shard waits for its Lease before accepting anything signed
    before it; a wait that ends without the Lease refuses (503), still recording
    nothing, and a bad signature is refused without waiting at all."""
    hook.fence = ShardFence(kube=None, namespace="ns", name="hook-shard-0", future_ms=0)  # type: ignore[arg-type]
    request = report(hook, b"{}")
    assert check(hook, request) is Wait.FENCE
    with pytest.raises(HookError) as caught:
        check(hook, request, waited=frozenset({Wait.FENCE}))
    assert (caught.value.status, caught.value.reason) == (503, "RESTARTED")
    with pytest.raises(HookError) as forged:
        check(hook, report(hook, b"{}", key="not-the-key"))
    assert (forged.value.status, forged.value.reason) == (401, "UNAUTHORIZED")
    assert recorded(hook) == (0, 0)
    hook.settings = dataclasses.replace(hook.settings, hold_seconds=0.05)
    with pytest.raises(HookError) as held:
        await hook.authenticate(request)  # waits the hold for the Lease, then refuses
    assert (held.value.status, held.value.reason) == (503, "RESTARTED")


@pytest.mark.asyncio
async def test_a_caller_is_accepted_once(hook: Hook) -> None:
    request = report(hook, b"{}")
    caller = check_now(hook, request)
    assert caller == Caller(UID, "ns", 2, b"{}", 1)
    assert recorded(hook) == (1, 1)
    with pytest.raises(HookError) as caught:
        check_now(hook, request)  # the same signature again
    assert (caught.value.status, caught.value.reason) == (401, "REPLAYED")


@pytest.mark.asyncio
async def test_a_pipelined_burst_of_reports_is_answered_whole() -> None:
    """1,500 signed progress reports in one read, answered at once one after another,
    every one 200, on the hook's real server."""
    from asyncaction_hook.server import create_server

    hook = build_hook(OneActionApi(), rate=1e9)  # budgets the burst does not exhaust
    hook.cache.start()
    assert await hook.cache.wait_synced(5)
    http = create_server(hook)
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    body, now, count = b'{"progress": 5}', hook.clock_ms() - 2000, 1500
    burst = []
    for n in range(count):
        signed = headers_v2(UID, KEY, "POST", "/status", body, now - n)
        head = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
        burst.append(f"POST /status HTTP/1.1\r\nHost: h\r\n{head}Content-Length: 15\r\n\r\n")
    writer.write(b"".join(request.encode() + body for request in burst))
    statuses: list[int] = []
    for _ in range(count):
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(answer.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        statuses.append(int(answer.split()[1]))
    assert statuses == [200] * count, sorted(set(statuses))
    writer.close()
    server.close()
    await http.shutdown(grace=1.0)
    hook.coalescer.forget(UID)
    await hook.cache.stop()
