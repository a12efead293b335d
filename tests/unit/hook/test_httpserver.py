"""The hook's HTTP/1.1 protocol (``asyncaction_hook.httpserver``) on a loopback socket,
spoken to byte by byte: what it must refuse, the order it answers in, when it closes.

Every pod in the cluster can reach the hook, so the parser's strictness and the
protocol's limits are its first line: these tests send what a confused or hostile
client sends (smuggling attempts, oversized heads, trickled headers, pipelines behind a
``Connection: close``) and read exactly what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from asyncaction_hook.httpmessages import (
    BodyTooLarge,
    Request,
    Response,
    json_response,
    text_response,
)
from asyncaction_hook.httpserver import MAX_FIELD_BYTES, MAX_HEADERS, HttpServer

Served = tuple[asyncio.StreamReader, asyncio.StreamWriter, HttpServer, list[Request]]


@asynccontextmanager
async def serving(
    answer: Callable[[Request], Awaitable[Response]] | None = None,
    *,
    max_body: int = 100,
    keepalive: float = 30.0,
    linger: float = 5.0,
    at_once: Callable[[Request], Response | Awaitable[Response]] | None = None,
) -> AsyncIterator[Served]:
    """A server whose handler records each request and, by default, answers its body
    (``at_once``: a handler that may answer without a coroutine, as the hook's does)."""
    seen: list[Request] = []

    async def echo(request: Request) -> Response:
        body = await request.read()
        return json_response({"path": request.path, "body": body.decode()})

    def handler(request: Request) -> Response | Awaitable[Response]:
        seen.append(request)
        if at_once is not None:
            return at_once(request)
        return (answer or echo)(request)

    http = HttpServer(
        handler, max_body=max_body, keepalive_timeout=keepalive, linger_seconds=linger
    )
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer, http, seen
    finally:
        writer.close()
        server.close()
        await http.shutdown(grace=1.0)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One answer: its status, headers (lower-case names) and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
    return int(status_line.split()[1]), headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection (nothing more to read)."""
    return await asyncio.wait_for(reader.read(), 10) == b""


async def until(condition: Callable[[], object]) -> None:
    """Wait (up to 10 s) for ``condition``: the server's side of what the client sent."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never got there")


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: hook", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.mark.asyncio
async def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    async def slow_first(request: Request) -> Response:
        body = await request.read()
        if body == b"first":
            await asyncio.sleep(0.2)  # the second is parsed meanwhile and waits its turn
        return text_response(200, body.decode())

    async with serving(slow_first) as (reader, writer, _, seen):
        writer.write(post("/a", b"first") + post("/b", b"second"))
        first = await read_answer(reader)
        second = await read_answer(reader)
        assert (first[0], first[2], first[1]["connection"]) == (200, b"first", "keep-alive")
        assert (second[0], second[2]) == (200, b"second")
        assert [r.path for r in seen] == ["/a", "/b"]
        assert first[1]["content-type"] == "text/plain; charset=utf-8"
        assert "date" in first[1]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "request_bytes",
    [
        # smuggling: both framings, or two lengths
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        # a folded header, a bare LF, a space before the colon, an unknown version
        b"GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n",
        b"GET /a HTTP/1.1\nHost: h\n\n",
        b"GET /a HTTP/1.1\r\nHost : h\r\n\r\n",
        b"GET /a HTTP/9.9\r\nHost: h\r\n\r\n",
    ],
)
async def test_what_llhttp_refuses_is_400_and_the_connection_closed(request_bytes: bytes) -> None:
    async with serving() as (reader, writer, _, seen):
        writer.write(request_bytes)
        status, headers, body = await read_answer(reader)
        assert (status, headers["connection"]) == (400, "close")
        assert body.startswith(b"400: Bad Request")
        assert await closed(reader)
        assert seen == []  # no handler saw any of it


@pytest.mark.asyncio
async def test_a_bad_chunk_ends_the_body_its_handler_reads_with_400() -> None:
    async with serving() as (reader, writer, _, seen):
        writer.write(b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        await asyncio.sleep(0.05)  # the handler has started and waits in read()
        writer.write(b"zz\r\nabc\r\n0\r\n\r\n")
        status, headers, body = await read_answer(reader)
        assert (status, headers["connection"]) == (400, "close")
        assert body.startswith(b"400: Bad Request: ")
        assert await closed(reader)
        assert [r.path for r in seen] == ["/a"]


@pytest.mark.asyncio
async def test_heads_over_the_limits_are_refused() -> None:
    long_target = b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    big_header = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"b" * MAX_FIELD_BYTES + b"\r\n\r\n"
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS + 1))
    too_many = b"GET / HTTP/1.1\r\n" + many + b"\r\n"
    for request_bytes, reason in (
        (long_target, b"request target over 8190 bytes"),
        (big_header, b"a header over 8190 bytes"),
        (too_many, b"more than 128 headers"),
    ):
        async with serving() as (reader, writer, _, seen):
            writer.write(request_bytes)
            status, _, body = await read_answer(reader)
            assert (status, body) == (400, b"400: Bad Request: " + reason)
            assert await closed(reader)
            assert seen == []
    # at the limits, served
    fits = b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS - 1))
    async with serving() as (reader, writer, _, seen):
        writer.write(b"POST /fits HTTP/1.1\r\nContent-Length: 0\r\n" + fits + b"\r\n")
        assert (await read_answer(reader))[0] == 200


@pytest.mark.asyncio
async def test_a_body_past_the_limit_raises_in_read_and_the_answer_closes() -> None:
    async def reads(request: Request) -> Response:
        try:
            await request.read()
        except BodyTooLarge:
            return text_response(413)
        return text_response(200)

    async with serving(reads, max_body=10) as (reader, writer, _, _seen):
        # chunked, so no Content-Length announces it: read() stops at the limit
        writer.write(
            b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"8\r\n12345678\r\n8\r\n12345678\r\n"
        )
        status, headers, body = await read_answer(reader)
        assert (status, headers["connection"], body) == (
            413,
            "close",
            b"413: Request Entity Too Large",
        )
        writer.write(b"0\r\n\r\n")  # the rest is read and dropped, then the connection ends
        assert await closed(reader)


@pytest.mark.asyncio
async def test_an_answer_before_the_body_closes_once_the_body_is_in() -> None:
    async def refuses(request: Request) -> Response:
        return text_response(401, "no")  # refused on its headers, body never read

    async with serving(refuses, max_body=1000) as (reader, writer, _, seen):
        writer.write(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n12345")
        status, headers, _ = await read_answer(reader)
        assert (status, headers["connection"]) == (401, "close")
        # a request pipelined after the body is never handled
        writer.write(b"6789012345678901" + post("/b", b""))
        assert await closed(reader)
        assert [r.path for r in seen] == ["/a"]


@pytest.mark.asyncio
async def test_a_request_behind_connection_close_is_never_handled() -> None:
    async with serving() as (reader, writer, _, seen):
        writer.write(post("/a", b"x", "Connection: close") + post("/b", b"y"))
        status, headers, _ = await read_answer(reader)
        assert (status, headers["connection"]) == (200, "close")
        assert await closed(reader)
        await asyncio.sleep(0.05)
        assert [r.path for r in seen] == ["/a"]


@pytest.mark.asyncio
async def test_http_1_0_closes_unless_it_asks_to_keep_alive() -> None:
    async with serving() as (reader, writer, _, _seen):
        writer.write(b"GET /a HTTP/1.0\r\n\r\n")
        status, headers, _ = await read_answer(reader)
        assert (status, headers["connection"]) == (200, "close")
        assert await closed(reader)
    async with serving() as (reader, writer, _, _seen):
        writer.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert (await read_answer(reader))[1]["connection"] == "keep-alive"
        writer.write(b"GET /b HTTP/1.0\r\n\r\n")
        assert (await read_answer(reader))[1]["connection"] == "close"


@pytest.mark.asyncio
async def test_head_has_the_length_and_no_body_and_204_has_neither() -> None:
    async def answer(request: Request) -> Response:
        if request.path == "/empty":
            return Response(204)
        return json_response({"ok": True}, headers={"Retry-After": "3"})

    async with serving(answer) as (reader, writer, _, _seen):
        writer.write(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert b"Content-Length: 12\r\n" in head
        assert b"Retry-After: 3\r\n" in head
        writer.write(b"GET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 204 No Content\r\n")
        assert b"Content-Length" not in head
        writer.write(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")  # nothing was sent for HEAD or 204
        status, headers, body = await read_answer(reader)
        assert (status, headers["content-type"], body) == (
            200,
            "application/json; charset=utf-8",
            b'{"ok": true}',
        )


@pytest.mark.asyncio
async def test_idle_and_trickling_connections_close_after_the_keepalive_timeout() -> None:
    async with serving(keepalive=0.2) as (reader, writer, _, _seen):
        writer.write(post("/a", b""))
        assert (await read_answer(reader))[0] == 200
        assert await closed(reader)  # idle after its answer
    async with serving(keepalive=0.2) as (reader, writer, _, seen):
        writer.write(b"GET /a HTTP/1.1\r\nHost: h\r\n")  # the head never ends
        assert await closed(reader)
        assert seen == []


@pytest.mark.asyncio
async def test_a_path_is_decoded_as_aiohttp_decoded_it_and_the_target_kept_as_sent() -> None:
    async with serving() as (reader, writer, _, seen):
        writer.write(b"GET /d/in%2Fputs/%C3%A9/100%25?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
        await read_answer(reader)
        writer.write(b"GET http://hook:8080/abs?q=2 HTTP/1.1\r\nHost: h\r\n\r\n")
        await read_answer(reader)
    assert [(r.path, r.raw_path) for r in seen] == [
        ("/d/in%2Fputs/\u00e9/100%25", "/d/in%2Fputs/%C3%A9/100%25?x=1"),
        ("/abs", "/abs?q=2"),
    ]
    assert seen[0].headers.get("HOST") == "h"
    assert "host" in seen[0].headers


@pytest.mark.asyncio
async def test_a_repeated_header_is_its_first_value() -> None:
    async with serving() as (reader, writer, _, seen):
        writer.write(b"GET /a HTTP/1.1\r\nX-Job-Id: first\r\nX-Job-Id: second\r\n\r\n")
        await read_answer(reader)
    assert seen[0].headers["x-job-id"] == "first"


@pytest.mark.asyncio
async def test_a_client_that_leaves_mid_body_ends_its_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def reads(request: Request) -> Response:
        try:
            await request.read()
        except ConnectionResetError:
            outcome.set_result("reset")
            raise
        outcome.set_result("read")
        return text_response(200)

    async with serving(reads) as (_reader, writer, _, _seen):
        writer.write(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        assert await asyncio.wait_for(outcome, 10) == "reset"
    await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_a_handler_that_raises_is_a_500_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="asyncaction_hook.httpserver"):
        async with serving(broken) as (reader, writer, _, _seen):
            writer.write(post("/a", b""))
            status, _, body = await read_answer(reader)
            assert (status, body) == (500, b"500: Internal Server Error")
            writer.write(post("/b", b""))  # the connection goes on
            assert (await read_answer(reader))[0] == 500
    assert [r.getMessage() for r in caplog.records] == [
        "error while serving POST /a",
        "error while serving POST /b",
    ]


@pytest.mark.asyncio
async def test_expect_100_continue_is_answered_before_the_body() -> None:
    async def continues(request: Request) -> Response:
        request.send_continue()
        return text_response(200, (await request.read()).decode())

    async with serving(continues) as (reader, writer, _, _seen):
        writer.write(
            b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == (
            b"HTTP/1.1 100 Continue\r\n\r\n"
        )
        writer.write(b"body")
        assert (await read_answer(reader))[2] == b"body"


@pytest.mark.asyncio
async def test_shutdown_finishes_the_request_in_progress_and_closes_idle_connections() -> None:
    release = asyncio.Event()

    async def held(request: Request) -> Response:
        await release.wait()
        return text_response(200, "done")

    http = HttpServer(held, max_body=100)
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    busy_writer.write(post("/a", b""))
    await until(lambda: len(http.connections) == 2 and http.tasks)
    server.close()
    stopping = asyncio.create_task(http.shutdown(grace=10.0))
    assert await closed(idle_reader)  # idle: closed at once
    release.set()
    status, headers, body = await read_answer(busy_reader)
    assert (status, headers["connection"], body) == (200, "close", b"done")
    await asyncio.wait_for(stopping, 10)
    assert http.connections == set()
    busy_writer.close()
    idle_writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


@pytest.mark.asyncio
async def test_a_client_that_never_reads_its_answers_is_cut_off() -> None:
    """Pipelined requests whose answers the client never reads: the server stops
    answering once the socket's buffer is full, and drops the connection after the
    keep-alive timeout instead of buffering answers without bound."""
    big = b"x" * 65536

    async def large(request: Request) -> Response:
        return Response(200, big, "application/octet-stream")

    async with serving(large, keepalive=0.3, linger=0.3) as (_, writer, http, seen):
        writer.write(b"GET /m HTTP/1.1\r\nHost: h\r\n\r\n" * 2000)
        await writer.drain()
        await until(lambda: not http.connections)
        assert len(seen) < 200  # not 2,000 answers of 64 KiB queued (125 MiB)


@pytest.mark.asyncio
async def test_a_head_that_never_ends_is_refused_at_a_mebibyte() -> None:
    """One header value that never ends: refused once the head passes 1 MiB, not held
    (llhttp hands its pieces to httptools, which joins them: memory and quadratic CPU
    until the connection's keep-alive timeout). The 400 may be lost to the reset the
    close causes while the client still sends."""
    async with serving() as (reader, writer, http, seen):
        writer.write(b"GET / HTTP/1.1\r\nX-Long: ")
        with contextlib.suppress(ConnectionError):
            for _ in range(20):  # 1.25 MiB in 64 KiB pieces
                writer.write(b"a" * 65536)
                await writer.drain()
        await until(lambda: not http.connections)
        assert seen == []
        with contextlib.suppress(ConnectionError):
            answer = await asyncio.wait_for(reader.read(), 10)
            assert answer == b"" or answer.endswith(
                b"400: Bad Request: a request head over 1048576 bytes"
            )


@pytest.mark.asyncio
async def test_trailers_never_become_headers_and_upgrades_are_refused() -> None:
    async with serving() as (reader, writer, _, seen):
        writer.write(
            b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\nX-Job-Id: injected\r\n\r\n"
        )
        status, _, body = await read_answer(reader)
        assert (status, body) == (200, b'{"path": "/t", "body": "abc"}')
    assert "x-job-id" not in seen[0].headers
    async with serving() as (reader, writer, _, seen):
        writer.write(
            b"POST /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n"
            b"Content-Length: 5\r\n\r\nhello"
        )
        status, _, body = await read_answer(reader)
        assert (status, body) == (400, b"400: Bad Request: an upgrade is not served")
        assert await closed(reader)
    assert seen == []


@pytest.mark.asyncio
async def test_shutdown_cancels_what_outlives_its_grace() -> None:
    ended: list[str] = []

    async def stuck(request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise
        return text_response(200)

    http = HttpServer(stuck, max_body=100)
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post("/a", b""))
    await until(lambda: http.tasks)
    server.close()
    await http.shutdown(grace=0.1)
    assert (ended, http.connections, http.tasks) == (["cancelled"], set(), set())
    writer.close()


@pytest.mark.asyncio
async def test_the_idle_timer_counts_from_the_last_answer() -> None:
    """One timer per connection, moved on when it fires: a request answered before the
    first deadline keeps the connection for a whole timeout after its answer. (A second
    of margin either side: a loaded machine's sleeps overshoot.)"""
    loop = asyncio.get_running_loop()
    async with serving(keepalive=3.0) as (reader, writer, _, _seen):
        writer.write(post("/a", b""))
        await read_answer(reader)
        await asyncio.sleep(2.0)  # the first deadline is a second away
        writer.write(post("/b", b""))
        await read_answer(reader)
        await asyncio.sleep(2.0)  # past the first deadline, a second before /b's
        writer.write(post("/c", b""))
        assert (await read_answer(reader))[0] == 200
        answered = loop.time()
        assert await closed(reader)
        assert loop.time() - answered >= 2.9  # a whole timeout after the last answer


def answer_now_or_later(
    tasks_seen: list[asyncio.Task[object] | None],
) -> Callable[[Request], Response | Awaitable[Response]]:
    """Answers a request whose body has all arrived at once (recording that no task runs
    it), and the others once their body is read; a body "raise" raises."""

    def now(request: Request) -> Response:
        tasks_seen.append(asyncio.current_task())
        body = request.body()
        if body == b"raise":
            raise RuntimeError("boom")
        return text_response(200, body.decode())

    async def later(request: Request) -> Response:
        await request.read()
        return now(request)

    return lambda request: now(request) if request.body_complete() else later(request)


@pytest.mark.asyncio
async def test_a_request_whose_body_came_with_it_is_answered_in_the_read() -> None:
    """The hook's reports: parsed and answered in the protocol's callback, no task; a
    body still arriving is waited for by a task, and the answers keep their order."""
    tasks_seen: list[asyncio.Task[object] | None] = []
    async with serving(at_once=answer_now_or_later(tasks_seen)) as (reader, writer, http, seen):
        half = b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nth"
        writer.write(post("/a", b"first") + post("/b", b"second") + half)
        await asyncio.sleep(0.05)
        assert len(http.tasks) == 1  # the third waits for its body in a task
        writer.write(b"ird")
        answers = [await read_answer(reader) for _ in range(3)]
        assert [(status, body) for status, _, body in answers] == [
            (200, b"first"),
            (200, b"second"),
            (200, b"third"),
        ]
        assert [r.path for r in seen] == ["/a", "/b", "/c"]
        assert tasks_seen[:2] == [None, None]  # answered at once
        assert tasks_seen[2] is not None
        writer.write(post("/d", b"fourth"))
        assert (await read_answer(reader))[2] == b"fourth"
        assert tasks_seen[3] is None
        assert not http.tasks


@pytest.mark.asyncio
async def test_an_answer_at_once_fails_as_an_awaited_one(caplog: pytest.LogCaptureFixture) -> None:
    tasks_seen: list[asyncio.Task[object] | None] = []
    with caplog.at_level(logging.ERROR, logger="asyncaction_hook.httpserver"):
        async with serving(at_once=answer_now_or_later(tasks_seen)) as (reader, writer, _, _seen):
            writer.write(post("/a", b"raise"))
            assert (await read_answer(reader))[:3:2] == (500, b"500: Internal Server Error")
            writer.write(post("/b", b"ok"))  # the connection goes on
            assert (await read_answer(reader))[2] == b"ok"
            # a bad chunk in the read that brought the headers: the handler, started once
            # the read is parsed, finds the body broken (400), and the connection closes
            writer.write(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            status, headers, _ = await read_answer(reader)
            assert (status, headers["connection"]) == (400, "close")
            assert await closed(reader)
    assert [r.getMessage() for r in caplog.records] == ["error while serving POST /a"]


@pytest.mark.asyncio
async def test_thousands_of_pipelined_requests_answered_at_once_are_all_answered() -> None:
    """One read can hold thousands of small pipelined requests, each answered at once:
    they are started one after another, not each from the answer of the one before (that
    recursion ended in RecursionError and an aborted connection after about 450)."""
    tasks_seen: list[asyncio.Task[object] | None] = []
    count = 3000
    async with serving(at_once=answer_now_or_later(tasks_seen)) as (reader, writer, http, _):
        writer.write(b"".join(post(f"/{n}", str(n).encode()) for n in range(count)))
        bodies = [(await read_answer(reader))[2] for _ in range(count)]
        assert bodies == [str(n).encode() for n in range(count)]
        assert tasks_seen == [None] * count
        assert not http.tasks


@pytest.mark.asyncio
async def test_a_route_coroutine_whose_task_never_started_is_closed() -> None:
    """A shutdown past its grace cancels handler tasks, some before their first step: the
    route's coroutine they were to await is closed, not left unawaited (a warning)."""
    started: list[str] = []
    outcomes: list[Coroutine[Any, Any, Response]] = []

    async def write_then_answer(request: Request) -> Response:
        started.append(request.path)
        return text_response(200)

    routed = asyncio.Event()

    def route(request: Request) -> Awaitable[Response]:
        outcomes.append(write_then_answer(request))
        routed.set()  # this test wakes before the task's first step (both are ready)
        return outcomes[-1]

    http = HttpServer(route, max_body=100)
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", 0)
    _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    writer.write(post("/a", b"x"))
    async with asyncio.timeout(10):  # (wait_for would take loop turns of its own)
        await routed.wait()
    (task,) = http.tasks
    task.cancel()  # before its first step, as shutdown cancels past its grace
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert started == []
    assert inspect.getcoroutinestate(outcomes[0]) == inspect.CORO_CLOSED
    writer.close()
    server.close()
    await http.shutdown(grace=0.1)


class _Transport(asyncio.Transport):
    """A transport that keeps what the protocol writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.mark.asyncio
async def test_a_pipelined_read_is_answered_a_few_requests_a_loop_turn() -> None:
    """Answered at once, one client's read of thousands of pipelined requests held the
    loop, and every other connection, for all of it: at most MAX_WAITING more are
    answered before the loop's next turn, the rest after, all in order."""
    from asyncaction_hook.httpserver import MAX_WAITING

    tasks_seen: list[asyncio.Task[object] | None] = []
    http = HttpServer(answer_now_or_later(tasks_seen), max_body=100)
    connection = http()
    transport = _Transport()
    connection.connection_made(transport)
    count = 500
    connection.data_received(b"".join(post(f"/{n}", str(n).encode()) for n in range(count)))
    assert len(tasks_seen) == 1 + MAX_WAITING  # the first, then a turn's worth
    for _ in range(count):
        if len(tasks_seen) == count:
            break
        await asyncio.sleep(0)
    assert len(tasks_seen) == count
    answers = bytes(transport.written).split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert [answer.rsplit(b"\r\n\r\n", 1)[1] for answer in answers] == [
        str(n).encode() for n in range(count)
    ]
    connection.connection_lost(None)
