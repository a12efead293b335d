"""A signed progress report through the hook's real app, and what ``/metrics`` says of it.

The report path is tuned for throughput (cached metric children, the one-shot HMAC, the
cheap depth bound, the coalescer's merge); this pins what it must keep: every check
still refuses what it refused, each answer is the same, and the exposition has the same
series with the same labels and values, and no series before its first use.

It also pins what the hook answers to signed requests a buggy or hostile job sends to
the other routes: a 4xx saying what is wrong, never a 500.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from asyncaction.kube import ApiError
from asyncaction.kube.client import WatchEvent
from asyncaction.kube.errors import error_from_status
from asyncaction.stores import Store
from asyncaction_hook.app import Hook
from asyncaction_hook.errors import HookError
from asyncaction_hook.httpmessages import Headers, Request
from asyncaction_job.signing import headers_v1, headers_v2
from tests.support.hookserver import KEYS, UID, HookTestServer, build_hook

OTHER = "0b9f1a52-52d4-4bd6-9b4f-8f7c0a0e1c12"
ACTION: dict[str, Any] = {
    "metadata": {"name": "a", "namespace": "ns", "uid": UID, "resourceVersion": "3"},
    "spec": {"template": {"spec": {}}},
    "status": {"phase": "RUNNING", "attempts": 1, "progress": 5},
}


class OneActionApi:
    """A LIST with one RUNNING action, then a watch on which nothing happens; status
    patches are recorded and applied."""

    def __init__(self) -> None:
        self.action = copy.deepcopy(ACTION)
        self.patches: list[dict[str, Any]] = []

    async def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(self.action)

    async def patch(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.patches.append(body)
        self.action["status"].update(body["status"])
        self.action["metadata"]["resourceVersion"] = str(len(self.patches) + 3)
        return copy.deepcopy(self.action)

    async def create(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return body  # the Event of a transition

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        items = [] if "actiontemplates" in path else [ACTION]
        return {"items": items, "metadata": {"resourceVersion": "3"}}

    async def watch(self, path: str, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})


@pytest_asyncio.fixture
async def client() -> AsyncIterator[tuple[TestClient[Any, Any], Hook, OneActionApi]]:
    api: Any = OneActionApi()
    hook = build_hook(api)  # nothing is written during the test unless asked
    cache, coalescer = hook.cache, hook.coalescer
    cache.start()
    assert await cache.wait_synced(5)
    http: TestClient[Any, Any]
    async with TestClient(HookTestServer(hook)) as http:
        yield http, hook, api
    coalescer.forget(UID)
    await cache.stop()


def signed_before(hook: Hook) -> int:
    """A signing time ten seconds back, for tests that sign several requests at distinct
    milliseconds from it: inside the time window, and never "in the future" (the
    fixture allows no future) however fast the requests go. Signing at now + k failed
    when k requests were answered within k milliseconds."""
    return hook.clock_ms() - 10_000


def signed(uid: str, key: str, body: bytes, time_ms: int) -> dict[str, str]:
    return {**headers_v2(uid, key, "POST", "/status", body, time_ms), "Content-Type": "x"}


@pytest.mark.asyncio
async def test_reports_answers_and_exposition(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    http, hook, api = client
    key = KEYS.issue("ns", UID, 1)
    now = signed_before(hook)
    first = json.dumps({"progress": 40, "statusDetails": {"step": "a"}}).encode()
    second = json.dumps({"progress": 60, "logs": ["x"]}).encode()
    deep = b"[" * 40 + b"]" * 40  # 40 levels: over max_json_depth (32)
    answers = []
    for uid, sign_key, body, at in (
        (UID, key, first, now),
        (UID, key, second, now + 1),
        (UID, key, first, now),  # the same signature again: a replay
        (UID, "wrong", first, now + 2),
        (OTHER, key, first, now + 3),  # no such action
        (UID, key, deep, now + 4),
    ):
        response = await http.post("/status", data=body, headers=signed(uid, sign_key, body, at))
        answers.append((response.status, await response.json()))
    view = {"id": UID, "name": "a", "namespace": "ns", "phase": "RUNNING", "attempts": 1}
    assert answers[0] == (200, {**view, "progress": 40})
    assert answers[1] == (200, {**view, "progress": 60})
    assert [(status, body["error"]["reason"]) for status, body in answers[2:]] == [
        (401, "REPLAYED"),
        (401, "UNAUTHORIZED"),
        (404, "NOT_FOUND"),
        (400, "BAD_REQUEST"),
    ]
    assert "bad signature" in answers[3][1]["error"]["message"]
    assert "deeper than 32" in answers[5][1]["error"]["message"]
    # the first report of an action is written at once, the next waits for its window
    await asyncio.sleep(0.05)
    assert [(p["metadata"], set(p["status"])) for p in api.patches] == [
        ({"resourceVersion": "3"}, {"lastReportAt", "progress", "statusDetails"})
    ]
    assert api.patches[0]["status"]["progress"] == 40
    assert api.patches[0]["status"]["statusDetails"] == {"step": "a"}
    assert hook.coalescer.pending_view(UID) == {"progress": 60, "logs": ["x"]}
    third = json.dumps({"statusDetails": {"step": "b"}, "logs": ["y"]}).encode()
    response = await http.post("/status", data=third, headers=signed(UID, key, third, now + 5))
    assert response.status == 200
    assert (await response.json())["progress"] is None  # none reported; the cache keeps none
    # merged field by field, the later wins, log lines accumulate
    assert hook.coalescer.pending_view(UID) == {
        "progress": 60,
        "status_details": {"step": "b"},
        "logs": ["x", "y"],
    }

    scraped = await (await http.get("/metrics")).text()
    lines = [line for line in scraped.splitlines() if line.startswith("asyncaction_hook_")]
    for line in (
        'asyncaction_hook_requests_total{code="200",route="/status"} 3.0',
        'asyncaction_hook_requests_total{code="401",route="/status"} 2.0',
        'asyncaction_hook_requests_total{code="404",route="/status"} 1.0',
        'asyncaction_hook_requests_total{code="400",route="/status"} 1.0',
        'asyncaction_hook_refusals_total{reason="replay"} 1.0',
        'asyncaction_hook_refusals_total{reason="bad_signature"} 1.0',
        'asyncaction_hook_refusals_total{reason="unknown_id"} 1.0',
        'asyncaction_hook_reports_total{kind="progress"} 3.0',
        'asyncaction_hook_request_duration_seconds_count{route="/status"} 7.0',
        'asyncaction_hook_request_duration_seconds_bucket{le="+Inf",route="/status"} 7.0',
    ):
        assert line in lines, line
    # a series exists only once used: no report of another kind, no presigned URL
    assert not any('kind="running"' in line or 'kind="terminal"' in line for line in lines)
    assert not any(line.startswith("asyncaction_hook_presigned_urls_total{") for line in lines)
    assert not any(line.startswith("asyncaction_hook_events_total{") for line in lines)
    series = {line.split("{")[0].split(" ")[0] for line in lines}
    assert series == {
        "asyncaction_hook_requests_total",
        "asyncaction_hook_requests_created",
        "asyncaction_hook_request_duration_seconds_bucket",
        "asyncaction_hook_request_duration_seconds_count",
        "asyncaction_hook_request_duration_seconds_sum",
        "asyncaction_hook_request_duration_seconds_created",
        "asyncaction_hook_refusals_total",
        "asyncaction_hook_refusals_created",
        "asyncaction_hook_reports_total",
        "asyncaction_hook_reports_created",
        "asyncaction_hook_status_writes_total",
        "asyncaction_hook_coalescer_backlog",
        "asyncaction_hook_status_writes_paced_total",
        "asyncaction_hook_status_writes_paced_seconds_total",
        "asyncaction_hook_status_write_lag_seconds",
        "asyncaction_hook_cache_synced",
        "asyncaction_hook_cached_actions",
        "asyncaction_hook_per_uid_entries",
        "asyncaction_hook_replay_entries",
    }


@pytest.mark.asyncio
async def test_half_a_surrogate_pair_is_refused_as_malformed_not_a_500(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    http, hook, api = client
    key = KEYS.issue("ns", UID, 1)
    body = b'{"progress": 1, "statusDetails": {"a": "\\ud800"}}'
    response = await http.post(
        "/status", data=body, headers=signed(UID, key, body, hook.clock_ms())
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert error == {
        "reason": "BAD_REQUEST",
        "message": "malformed JSON: half of a surrogate pair is not Unicode text",
    }
    assert api.patches == []


@pytest.mark.asyncio
async def test_numbers_json_cannot_carry_are_refused_before_anything_is_kept(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """A terminal report with NaN went to the API server, which refuses it (a 503 to the
    job, which retries for ever); a progress report with 1e400 was acknowledged, then its
    write failed and it was dropped. Both are the job's error: a 400 saying which number."""
    http, hook, api = client
    key = KEYS.issue("ns", UID, 1)
    now = signed_before(hook)
    answers = []
    for at, body in enumerate(
        (
            b'{"status": "SUCCEEDED", "result": {"score": NaN}}',
            b'{"progress": 7, "statusDetails": {"rate": 1e400}}',
        )
    ):
        response = await http.post("/status", data=body, headers=signed(UID, key, body, now + at))
        answers.append((response.status, await response.json()))
    assert answers == [
        (
            400,
            {
                "error": {
                    "reason": "BAD_REQUEST",
                    "message": "malformed JSON: NaN is not a JSON number",
                }
            },
        ),
        (
            400,
            {
                "error": {
                    "reason": "BAD_REQUEST",
                    "message": "malformed JSON: the number 1e400 is out of range (a 64-bit float)",
                }
            },
        ),
    ]
    assert api.patches == []
    assert hook.coalescer.pending_view(UID) == {}


@pytest.mark.asyncio
async def test_a_task_id_or_object_index_of_thousands_of_digits_is_a_404_not_a_500(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """int() of over 4,300 digits raises ValueError: the id of POST /task/{id} and the
    index of GET /download/... made a 500. Such a number names no task and no object."""
    http, hook, api = client
    # a real store, never called: the index is refused before any S3 call
    hook.stores.by_name["s3"] = Store(
        "s3",
        {
            "bucket": "b",
            "endpoint": "http://127.0.0.1:9",
            "accessKeyId": "k",
            "secretAccessKey": "s",
        },
        60,
    )
    key = KEYS.issue("ns", UID, 1)
    now = signed_before(hook)
    huge = "9" * 4301
    body = b'{"status": "done"}'
    task_path = f"/task/{huge}"
    answer = await http.post(
        task_path, data=body, headers=headers_v2(UID, key, "POST", task_path, body, now)
    )
    assert (answer.status, await answer.json()) == (
        404,
        {
            "error": {
                "reason": "NOT_FOUND",
                "message": "no task 99999999999999999999... (4301 digits)",
            }
        },
    )
    download = f"/download/s3/{UID}/out/{huge}"
    answer = await http.get(download, headers=headers_v2(UID, key, "GET", download, b"", now + 1))
    assert (answer.status, await answer.json()) == (
        404,
        {"error": {"reason": "NOT_FOUND", "message": "no object out/99999999999999999999..."}},
    )
    # the longest index still read as a number, and one digit more
    for at, index in enumerate(("9" * 18, "1" + "0" * 18), start=2):
        task_path = f"/task/{index}"
        answer = await http.post(
            task_path, data=body, headers=headers_v2(UID, key, "POST", task_path, body, now + at)
        )
        assert answer.status == 404, index
    assert api.patches == []


@pytest.mark.asyncio
async def test_a_body_that_never_comes_is_answered_408_not_waited_for_for_ever(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """Headers of the right form, for a known action, and a Content-Length the body
    never reaches: the handler waited in ``request.read()`` as long as the connection
    stayed open, drawing on no budget. It waits ``--hold-seconds`` at most."""
    http, hook, api = client
    hook.settings = dataclasses.replace(hook.settings, hold_seconds=0.2)
    body = b'{"progress": 1}'
    head = "".join(
        f"{name}: {value}\r\n"
        for name, value in signed(UID, KEYS.issue("ns", UID, 1), body, hook.clock_ms()).items()
    )
    reader, writer = await asyncio.open_connection(http.host, http.port)
    writer.write(
        f"POST /status HTTP/1.1\r\nHost: hook\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
        + body[:5]
    )
    await writer.drain()
    try:
        # generous: the old code never answered (the test then fails here, not hangs)
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status_line, *header_lines = head_bytes.decode().split("\r\n")
        length = next(
            int(line.split(":", 1)[1])
            for line in header_lines
            if line.lower().startswith("content-length:")
        )
        answer = await reader.readexactly(length)
    finally:
        writer.close()
    assert status_line.startswith("HTTP/1.1 408 ")
    assert json.loads(answer) == {
        "error": {
            "reason": "BODY_TIMEOUT",
            "message": "the request's body did not arrive within 0.2 s of its headers",
        }
    }
    assert api.patches == []


@pytest.mark.asyncio
async def test_a_body_that_is_not_an_object_or_a_wrong_field_is_a_422_naming_it(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """``[]``, ``0`` or ``""`` as a report was read as an empty report (200, a write);
    ``[1]`` got pydantic's words naming the model class; a task report with a wrong
    field got only "1 validation error for TaskReport". Each now says what is wrong."""
    http, hook, api = client
    key = KEYS.issue("ns", UID, 1)
    answers = []
    for path, body in (
        ("/status", b"[]"),
        ("/status", b'""'),
        ("/status", b"[1]"),
        ("/task/0", b"[1]"),
        ("/task/0", b'{"status": "DONE"}'),
        ("/task/0", b'{"status": "failed", "errorMessage": {"a": 1}}'),
    ):
        headers = headers_v2(UID, key, "POST", path, body, hook.clock_ms())
        response = await http.post(path, data=body, headers=headers)
        answers.append((response.status, (await response.json())["error"]))
    not_an_object = (422, {"reason": "INVALID", "message": "the body must be a JSON object"})
    assert answers == [
        not_an_object,
        not_an_object,
        not_an_object,
        not_an_object,
        (
            422,
            {
                "reason": "INVALID",
                "message": "status: String should match pattern '^(executing|done|failed)$'",
            },
        ),
        (422, {"reason": "INVALID", "message": "errorMessage: Input should be a valid string"}),
    ]
    assert api.patches == []
    # an empty body is still an empty report
    response = await http.post("/status", data=b"", headers=signed(UID, key, b"", hook.clock_ms()))
    assert response.status == 200


@pytest.mark.asyncio
async def test_a_path_that_is_not_ascii_is_a_400_not_a_500(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """A client signs the ASCII it sends; raw non-ASCII bytes in a path (llhttp passes
    bytes of 0x80 and over through, decoded as latin-1; aiohttp's pure-Python parser did
    too) were encoded as latin-1 by the signature check: "/task/٣" raised
    UnicodeEncodeError, a 500. Both as the server builds the request and on the wire."""
    http, hook, _ = client
    key = KEYS.issue("ns", UID, 1)
    headers = headers_v2(UID, key, "POST", "/task/3", b"", hook.clock_ms())
    by_name = Headers({name.lower(): value for name, value in headers.items()})
    for path in ("/task/\u0663", "/upload/s3/x/\u00e9"):
        request = Request(None, "POST", path, path, "1.1", by_name, True)
        request._end()
        with pytest.raises(HookError) as caught:
            await hook.authenticate(request)
        assert (caught.value.status, caught.value.reason, caught.value.message) == (
            400,
            "BAD_REQUEST",
            "the request's path must be ASCII: percent-encode other characters",
        )
    reader, writer = await asyncio.open_connection(http.host, http.port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(b"POST /task/\xd9\xa3 HTTP/1.1\r\nHost: hook\r\nContent-Length: 0\r\n")
    writer.write(head.encode() + b"\r\n")
    status_line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 400 "), status_line


@pytest.mark.asyncio
async def test_an_api_outage_is_a_503_each_time_and_one_log_line(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi], caplog: pytest.LogCaptureFixture
) -> None:
    """Terminal reports are written before the answer: while the API server refuses,
    each is a 503 the job retries, and the hook's log says so once an interval."""
    http, hook, api = client
    caplog.set_level(logging.INFO, "asyncaction_hook.server")

    async def refused(path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        raise ApiError(503, "ServiceUnavailable", "the API server is down")

    api.patch = refused  # type: ignore[method-assign]
    key = KEYS.issue("ns", UID, 1)
    body = json.dumps({"status": "SUCCEEDED", "result": {"n": 1}}).encode()
    statuses = []
    for _ in range(5):
        await asyncio.sleep(0.002)  # a signature of its own each: a new millisecond
        response = await http.post(
            "/status", data=body, headers=signed(UID, key, body, hook.clock_ms())
        )
        statuses.append((response.status, (await response.json())["error"]["reason"]))
    assert statuses == [(503, "UNAVAILABLE")] * 5
    assert [r.getMessage() for r in caplog.records if r.name == "asyncaction_hook.server"] == [
        "API error while serving /status: 503 ServiceUnavailable: the API server is down"
    ]


@pytest.mark.asyncio
async def test_an_api_server_not_yet_serving_the_crd_is_an_outage_not_a_missing_action(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """Found by the e2e API-server restart: a just-started API server answers
    ``404 page not found`` for custom resources until it has read the CRDs. The hook
    took it for "no action with this id", and the job, told 404, failed its run."""
    http, hook, api = client

    async def starting(path: str, **kwargs: Any) -> dict[str, Any]:
        raise error_from_status(404, "404 page not found\n")  # as the client decodes it

    api.get = starting  # type: ignore[method-assign]
    key = KEYS.issue("ns", UID, 1)
    body = json.dumps({"status": "SUCCEEDED", "result": {"n": 1}}).encode()
    headers = signed(UID, key, body, hook.clock_ms())
    response = await http.post("/status", data=body, headers=headers)
    answer = await response.json()
    assert (response.status, answer["error"]["reason"]) == (503, "UNAVAILABLE")  # retried
    assert api.patches == []


@pytest.mark.asyncio
async def test_what_the_server_answers_before_any_route_is_what_aiohttp_answered(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """The hook serves on aiohttp's low-level server with its own route table
    (``server.create_server``); these are the answers ``web.Application`` gave before:
    404 and 405 with ``Allow`` (both counted under route "other"), HEAD on a GET route,
    ``Expect: 100-continue``, and a body over the limit refused with 413. One answer is
    counted now that was not: the 417 for an unknown ``Expect``, which the application
    gave before its middleware ran."""
    http, hook, _ = client
    unknown = await http.post("/nowhere", data=b"{}")
    assert (unknown.status, await unknown.text()) == (404, "404: Not Found")
    wrong = await http.post("/healthz", data=b"")
    assert (wrong.status, set(wrong.headers["Allow"].split(","))) == (405, {"GET", "HEAD"})
    head = await http.head("/healthz")
    assert (head.status, await head.read()) == (200, b"")
    odd = await http.get("/healthz", headers={"Expect": "something-else"})
    assert odd.status == 417
    empty = await http.get("/healthz", headers={"Expect": ""})  # no expectation at all
    assert empty.status == 200

    key = KEYS.issue("ns", UID, 1)
    body = json.dumps({"progress": 70, "statusDetails": {"pad": "x" * 2000}}).encode()
    continued = await http.post(
        "/status", data=body, headers=signed(UID, key, body, hook.clock_ms()), expect100=True
    )
    assert (continued.status, (await continued.json())["progress"]) == (200, 70)

    # over the body limit, with no Content-Length to refuse it early: read() stops it
    big = b"x" * (hook.settings.max_body_bytes + 10)

    async def chunks() -> AsyncIterator[bytes]:
        yield big

    await asyncio.sleep(0.002)
    too_big = await http.post(
        "/status", data=chunks(), headers=signed(UID, key, big, hook.clock_ms())
    )
    assert (too_big.status, (await too_big.json())["error"]["reason"]) == (413, "TOO_LARGE")

    scraped = await (await http.get("/metrics")).text()
    for line in (
        'asyncaction_hook_requests_total{code="404",route="other"} 1.0',
        'asyncaction_hook_requests_total{code="405",route="other"} 1.0',
        'asyncaction_hook_requests_total{code="200",route="/healthz"} 2.0',
        'asyncaction_hook_requests_total{code="417",route="/healthz"} 1.0',
        'asyncaction_hook_requests_total{code="200",route="/status"} 1.0',
        'asyncaction_hook_requests_total{code="413",route="/status"} 1.0',
    ):
        assert line in scraped.splitlines(), line


async def _send_in_two_parts(
    http: TestClient[Any, Any], headers: dict[str, str], body: bytes, between: Any
) -> tuple[str, dict[str, Any]]:
    """POST /status with the body's tail sent after ``between()`` ran: the hook has the
    headers and waits for the rest."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    reader, writer = await asyncio.open_connection(http.host, http.port)
    try:
        request = f"POST /status HTTP/1.1\r\nHost: hook\r\nContent-Length: {len(body)}\r\n"
        writer.write(f"{request}{head}\r\n".encode() + body[:3])
        await writer.drain()
        await asyncio.sleep(0.2)  # the hook has checked the headers and waits in read()
        between()
        writer.write(body[3:])
        await writer.drain()
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status_line, *header_lines = head_bytes.decode().split("\r\n")
        length = next(
            int(line.split(":", 1)[1])
            for line in header_lines
            if line.lower().startswith("content-length:")
        )
        return status_line, json.loads(await reader.readexactly(length))
    finally:
        writer.close()


@pytest.mark.asyncio
async def test_a_signature_that_expires_while_its_body_arrives_is_refused_not_replayed(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """The time window was checked when the headers arrived, the replay memory when the
    body had: a replay of a signature near the window's end whose body took a few
    seconds found its second already forgotten, and was accepted a second time. With
    signature v1 (the body is not signed) that replay carried a forged terminal report,
    which was written. The window is checked again when the signature is accepted, with
    the clock the replay memory uses."""
    http, hook, api = client
    offset = [0]
    hook.clock_ms = lambda: int(time.time() * 1000) + offset[0]
    hook.started_ms = hook.clock_ms() - 600_000  # no start fence for a 299 s old signature
    progress = b'{"progress": 7}'
    headers = {**headers_v1(UID, KEYS.issue("ns", UID, 1), hook.clock_ms() - 299_000)}
    first = await http.post("/status", data=progress, headers=headers)
    assert first.status == 200
    forged = b'{"status": "SUCCEEDED", "result": {"forged": true}}'
    again = await http.post("/status", data=forged, headers=headers)
    assert (again.status, await again.json()) == (
        401,
        {"error": {"reason": "REPLAYED", "message": "this signature was already used"}},
    )

    def three_seconds_pass() -> None:
        offset[0] += 3_000

    status_line, answer = await _send_in_two_parts(http, headers, forged, three_seconds_pass)
    assert status_line.startswith("HTTP/1.1 401 ")
    assert answer == {
        "error": {
            "reason": "UNAUTHORIZED",
            "message": "X-Job-Time is too old: check the clock, and sign each request anew",
        }
    }
    # the first report's progress, written at once; nothing of the forged report
    assert [sorted(p["status"]) for p in api.patches] == [["lastReportAt", "progress"]]
    assert api.action["status"]["phase"] == "RUNNING"


@pytest.mark.asyncio
async def test_progress_answered_before_a_failed_terminal_write_is_not_lost(
    client: tuple[TestClient[Any, Any], Hook, OneActionApi],
) -> None:
    """A terminal report takes the progress still waiting for its window and writes both
    at once. When that write failed (one 503 of the API server), the waiting progress,
    answered 200 already, was gone: the job's retry of the terminal report succeeded
    without the ``statusDetails`` and log lines it had reported (found by review)."""
    http, hook, api = client
    key = KEYS.issue("ns", UID, 1)
    at = signed_before(hook)

    async def post(document: dict[str, Any]) -> int:
        nonlocal at
        at += 1
        body = json.dumps(document).encode()
        response = await http.post("/status", data=body, headers=signed(UID, key, body, at))
        return response.status

    assert await post({"progress": 10}) == 200  # written at once: the first of the action
    details = {"progress": 90, "statusDetails": {"rows": 123}, "logs": ["step 9 done"]}
    assert await post(details) == 200  # waits for the window
    real_patch = api.patch
    failures = [ApiError(503, "ServiceUnavailable", "etcd leader change")]

    async def patch(path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if failures:
            raise failures.pop()
        return await real_patch(path, body, **kwargs)

    api.patch = patch  # type: ignore[method-assign]
    assert await post({"status": "SUCCEEDED", "result": {"ok": True}}) == 503
    assert await post({"status": "SUCCEEDED", "result": {"ok": True}}) == 200
    status = api.action["status"]
    assert status["phase"] == "SUCCEEDED"
    assert status["result"] == {"ok": True}
    assert status["statusDetails"] == {"rows": 123}
    assert status["logTail"] == ["step 9 done"]
