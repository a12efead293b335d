"""The hook's HTTP/1.1 server: llhttp's parser (``httptools``, the parser of uvicorn and
Node.js) under one asyncio ``Protocol`` per connection, handing the hook's routes a
``Request`` and sending their ``Response`` (both in ``httpmessages``).

Why not aiohttp's server: answering a request (read its body, answer JSON) cost aiohttp's
low-level server about 116 µs of CPU on the project's machine and this protocol about
60 µs (``bench/bench_http_servers.py``), while the hook's own checks cost about 100 µs a
report: aiohttp's request, payload, URL, response and writer objects, and the task and
the two loop turns it spends on each request, were half the hook's CPU a report
(``docs/performance.md``). The hook has eight fixed routes and reads a request through
four things (method, target, headers, body); that is all ``Request`` holds.

What aiohttp did for the hook is done here, no less strictly:

- llhttp parses with no lenient flag: a request both chunked and with a Content-Length,
  two Content-Lengths, a bad chunk size, a bare LF or a folded header is refused 400 and
  the connection closed;
- aiohttp's limits: a request target and each header at most 8,190 bytes, at most 128
  headers (400 beyond, and the connection closed); a body over ``max_body`` makes
  ``read()`` raise ``BodyTooLarge`` as soon as it passes the limit;
- the requests of one connection are answered in order (pipelining); while one is
  handled, the next wait, and reading pauses once 16 wait or the client stops reading
  its answers;
- a connection with no request in progress (idle, or whose headers have not all arrived)
  is closed after ``keepalive_timeout`` seconds: a client that trickles headers holds a
  connection no longer than an idle one;
- an answer sent before its request's body has arrived (a refusal after the headers) is
  followed by the body being read and dropped, then the connection is closed, so that
  the client reads the answer rather than a reset; at most ``linger_seconds``;
- HEAD is answered without a body; ``Connection: close`` and HTTP/1.0 keep-alive as
  llhttp reads them; an Upgrade request is answered, then the connection closed;
- ``shutdown`` stops taking requests, closes idle connections, lets the requests in
  progress finish (bounded) and closes the rest.

A handler answers at once or with an awaitable. A request is handed to it once the read
that brought its headers is parsed, so a report whose body came in the same packet (all
of them, in practice) is answered right there, in ``data_received``: no task and no loop
turn, which cost each report about as much as its signature check
(``docs/performance.md``). An awaitable (a body still arriving, a status write before
the answer) runs as a task. Of a connection's pipelined requests, at most
``MAX_WAITING`` are answered a loop turn, so one client's long read never holds the
others.

A handler is not cancelled when its client goes away (aiohttp's default too): a status
write under way completes; its answer is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import httptools
from yarl import URL

from asyncaction_hook.httpmessages import (
    BadBody,
    Headers,
    Request,
    Response,
    encode,
    text_response,
)

log = logging.getLogger(__name__)

MAX_TARGET_BYTES = 8190  # aiohttp's max_line_size
MAX_FIELD_BYTES = 8190  # aiohttp's max_field_size, a header's name and value
MAX_HEADERS = 128  # aiohttp's max_headers
MAX_WAITING = 16  # pipelined requests read ahead before reading pauses
# All of a head (request line, headers) as fed to the parser: llhttp hands httptools a
# value in pieces and httptools joins them, so a header that never ends would cost
# memory and quadratic CPU before the per-field limit could see it. Counted per read
# from the last head or message that ended, so it can include up to one read (256 KiB)
# of what came before; no client's head comes near it.
MAX_HEAD_BYTES = 1 << 20

# A handler answers at once (in the protocol's callback: no task, no loop turn) or with
# an awaitable the connection runs as a task.
Handler = Callable[[Request], Response | Awaitable[Response]]


class HttpServer:
    """The protocol factory for ``loop.create_server`` and the connections it made."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body: int,
        keepalive_timeout: float = 75.0,
        linger_seconds: float = 10.0,
    ) -> None:
        self.handler = handler
        self.max_body = max_body
        self.keepalive_timeout = keepalive_timeout
        self.linger_seconds = linger_seconds
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        self.closing = False
        self._all_closed = asyncio.Event()

    def __call__(self) -> _Connection:
        return _Connection(self)

    async def shutdown(self, grace: float) -> None:
        """Take no more requests: idle connections close now, the others once their
        request is answered, all of them after ``grace`` seconds; the handlers of clients
        that left are waited for as long. Close the listening socket first
        (``asyncio.Server.close``)."""
        self.closing = True
        for connection in list(self.connections):
            connection.close_if_idle()
        self._check_closed()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._all_closed.wait()
        for connection in list(self.connections):
            connection.abort()
        for task in list(self.tasks):  # handlers of clients that left, past the grace
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()  # cancelled before their first step: no finally ran
        await asyncio.sleep(0)  # the aborted connections' connection_lost

    def finished(self, task: asyncio.Task[Any] | None) -> None:
        """A handler's task ends (held in ``tasks`` till then: a handler runs on when its
        client left, and the loop keeps only a weak reference)."""
        if task is not None:
            self.tasks.discard(task)
        self._check_closed()

    def forget(self, connection: _Connection) -> None:
        self.connections.discard(connection)
        self._check_closed()

    def _check_closed(self) -> None:
        if self.closing and not self.connections and not self.tasks:
            self._all_closed.set()


def _close_unstarted(outcome: Coroutine[Any, Any, Any], _: asyncio.Task[None]) -> None:
    """A handler's task cancelled before its first step (a shutdown past its grace)
    never awaited the route's coroutine: closed, not left for the collector to warn of."""
    if inspect.getcoroutinestate(outcome) == inspect.CORO_CREATED:
        outcome.close()


def _failed(request: Request, exc: Exception) -> Response:
    """The answer to a handler's exception."""
    if isinstance(exc, BadBody):
        return text_response(400, f"400: Bad Request: {exc}")
    if isinstance(exc, ConnectionError):
        return text_response(400)  # the client left; nobody reads this
    log.error("error while serving %s %s", request.method, request.path, exc_info=exc)
    return text_response(500)


class _Refused(Exception):
    """A request the protocol refuses before any handler: 400 and close."""


class _Connection(asyncio.Protocol):
    """One client connection: parses its requests in order and answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._target = b""
        self._fields: dict[str, str] = {}
        self._field_count = 0
        self._parsing: Request | None = None  # headers complete, body arriving
        self._waiting: deque[Request] = deque()  # parsed, not yet handled
        self._handling: Request | None = None
        self._idle: asyncio.TimerHandle | None = None  # checks _idle_since when due
        self._idle_since: float | None = None  # loop time the connection went idle
        self._reading_paused = False
        self._writing_paused = False
        self._closing_after: Request | None = None  # close once its body is read
        self._stopped = False  # nothing more is read: the connection ends after answers
        self._in_head = False  # a request line or headers are arriving
        self._fed = 0  # bytes fed since the last head or message ended
        self._starting: Request | None = None  # its headers came in the read being parsed
        self._in_turns = False  # _start_waiting is starting waiting requests

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        try:
            self._feed(data)
        finally:
            # started once what came with its headers is parsed: a report's body arrives
            # in the same read, and its handler can then answer at once
            starting = self._starting
            if starting is not None:
                self._starting = None
                self._start(starting)

    def _feed(self, data: bytes) -> None:
        self._fed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # refused in on_headers_complete: not reached
            self._refuse(_Refused("an upgrade is not served"))
            return
        except httptools.HttpParserError as exc:
            self._refuse(exc)
            return
        # a head, or a body's trailers, that goes on and on (``MAX_HEAD_BYTES``)
        limit = MAX_HEAD_BYTES if self._in_head else self._server.max_body + MAX_HEAD_BYTES
        if self._fed > limit:
            self._refuse(_Refused(f"a request head over {MAX_HEAD_BYTES} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server.forget(self)
        self._idle_since = None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._parsing is not None:
            self._parsing._lose()
        self._waiting.clear()

    def pause_writing(self) -> None:
        # the client does not read its answers: read no more requests from it
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()
        if self._handling is None and self._waiting:
            self._cancel_idle()
            self._start_waiting()

    # llhttp's callbacks (httptools)

    def on_message_begin(self) -> None:
        self._target = b""
        self._fields = {}
        self._field_count = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._target += url
        if len(self._target) > MAX_TARGET_BYTES:
            raise _Refused(f"request target over {MAX_TARGET_BYTES} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_count += 1
        if self._field_count > MAX_HEADERS:
            raise _Refused(f"more than {MAX_HEADERS} headers")
        if len(name) + len(value) > MAX_FIELD_BYTES:
            raise _Refused(f"a header over {MAX_FIELD_BYTES} bytes")
        if not self._in_head:
            return  # a chunked body's trailer: counted, never a header of the request
        key = name.decode("latin-1").lower()
        if key not in self._fields:
            self._fields[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._fed = 0
        transport = self._transport
        if self._stopped or transport is None or transport.is_closing():
            return  # pipelined behind a request that ends the connection: never handled
        parser = self._parser
        if parser.should_upgrade():  # an Upgrade or CONNECT: llhttp would skip its body
            raise _Refused("an upgrade is not served")
        target = self._target
        if target[:1] == b"/":
            path, _, _ = target.partition(b"?")
            path = path.partition(b"#")[0]
        else:  # absolute-form, or "*"
            try:
                url = httptools.parse_url(target)
            except httptools.HttpParserInvalidURLError:
                raise _Refused("a request target that is no URL") from None
            path = url.path or b""
            if not path.startswith(b"/"):
                raise _Refused("a request target with no path")
            target = path + (b"?" + url.query if url.query is not None else b"")
        raw = path.decode("latin-1")
        safe = URL.build(path=raw, encoded=True).path_safe if "%" in raw else raw
        request = Request(
            self,
            parser.get_method().decode("ascii"),
            target.decode("latin-1"),
            safe,
            parser.get_http_version(),
            Headers(self._fields),
            parser.should_keep_alive(),
        )
        self._parsing = request
        self._cancel_idle()
        if self._handling is None and not self._waiting:
            self._handling = request  # started when this read is parsed (data_received)
            self._starting = request
        else:
            self._waiting.append(request)
            self._update_reading()

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing._add(body, self._server.max_body)

    def on_message_complete(self) -> None:
        self._fed = 0
        request = self._parsing
        self._parsing = None
        if request is None:
            return
        request._end()
        if request is self._closing_after:
            self._close()

    # handling

    def _start(self, request: Request) -> None:
        self._handling = request
        try:
            outcome = self._server.handler(request)
        except Exception as exc:
            outcome = _failed(request, exc)
        if isinstance(outcome, Response):
            self._answer(request, outcome)
        else:
            task = self._loop.create_task(self._handle(request, outcome))
            if inspect.iscoroutine(outcome):
                task.add_done_callback(functools.partial(_close_unstarted, outcome))
            self._server.tasks.add(task)

    def _start_waiting(self) -> None:
        """Starts the waiting requests in turn while each is answered at once: in this
        loop, not by ``_answer`` starting the next (one read can hold thousands of
        pipelined requests, and a recursion through them ended in ``RecursionError``
        with the connection aborted; found by a review). A call from inside the loop,
        the answer of the request it started, leaves the next to the loop."""
        if self._in_turns:
            return
        self._in_turns = True
        try:
            started = 0
            while self._handling is None and self._waiting and not self._writing_paused:
                transport = self._transport
                if transport is None or transport.is_closing():
                    return
                if started == MAX_WAITING:
                    # the rest on the loop's next turn: one client's pipelined read must
                    # not hold every other connection for the whole of it (a task per
                    # request gave each connection a turn in between)
                    self._loop.call_soon(self._start_waiting)
                    return
                self._start(self._waiting.popleft())
                started += 1
        finally:
            self._in_turns = False

    async def _handle(self, request: Request, outcome: Awaitable[Response]) -> None:
        try:
            response = await outcome
        except Exception as exc:
            response = _failed(request, exc)
        finally:
            self._server.finished(asyncio.current_task())
        self._answer(request, response)

    def _answer(self, request: Request, response: Response) -> None:
        self._handling = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        # answered before its body arrived (a refusal), or past the limit: the rest is
        # read and dropped, then the connection closed, and the answer says so
        keep_alive = (
            request.keep_alive
            and not self._server.closing
            and request._complete
            and not request._too_large
        )
        transport.write(encode(response, head=request.method == "HEAD", keep_alive=keep_alive))
        if not keep_alive:
            self._close_after_body(request)
            return
        if self._waiting and not self._writing_paused:
            self._start_waiting()
            self._update_reading()
        elif self._waiting or self._parsing is None:
            # idle, or waiting for the client to read its answers (resume_writing starts
            # the next request): either way closed after the keep-alive timeout
            self._arm_idle()

    def _close_after_body(self, request: Request) -> None:
        self._waiting.clear()
        self._stopped = True  # no request after this one is handled
        if request._complete or request._lost:
            self._close()
            return
        # the parser goes on dropping its body until it ends (on_message_complete closes)
        self._closing_after = request
        request._dropped = True
        request._chunks = []
        self._loop.call_later(self._server.linger_seconds, self._close)

    def _pending(self) -> Iterator[Request]:
        if self._handling is not None:
            yield self._handling
        yield from self._waiting
        if self._parsing is not None and self._parsing is not self._handling:
            yield self._parsing

    # the connection

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close_if_idle(self) -> None:
        if self._handling is None and self._parsing is None and not self._waiting:
            self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _close(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()  # sends what is buffered first
            if transport.get_write_buffer_size():
                # a client that does not read would hold a closing transport for ever
                self._loop.call_later(self._server.linger_seconds, self.abort)

    def _refuse(self, exc: Exception) -> None:
        """400 for a request llhttp or the limits refuse, then close: the stream cannot
        be trusted to be in step any more."""
        reason = exc.__context__ if isinstance(exc.__context__, _Refused) else exc
        transport = self._transport
        answer = not self._stopped and self._handling is None  # else answered, or will be
        if transport is not None and not transport.is_closing() and answer:
            transport.write(
                encode(
                    text_response(400, f"400: Bad Request: {reason}"), head=False, keep_alive=False
                )
            )
        self._waiting.clear()
        if self._handling is None:
            self._close()
        else:
            for request in self._pending():
                request.keep_alive = False
            self._stop_reading()
        if self._parsing is not None:
            self._parsing._lose(str(reason))
            self._parsing = None

    def _stop_reading(self) -> None:
        self._stopped = True
        self._reading_paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._stopped:
            return
        pause = self._writing_paused or len(self._waiting) >= MAX_WAITING
        if pause and not self._reading_paused:
            self._reading_paused = True
            transport.pause_reading()
        elif not pause and self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def _arm_idle(self) -> None:
        """The connection is idle from now: closed after the keep-alive timeout unless a
        request arrives. One timer per connection, moved on lazily when it fires (a timer
        set and cancelled for every request cost each report a heap entry)."""
        if self._server.closing:
            self._close()
            return
        self._idle_since = self._loop.time()
        if self._idle is None:
            self._idle = self._loop.call_at(
                self._idle_since + self._server.keepalive_timeout, self._check_idle
            )

    def _cancel_idle(self) -> None:
        self._idle_since = None  # busy: the timer, when due, does nothing

    def _check_idle(self) -> None:
        self._idle = None
        since = self._idle_since
        if since is None:
            return  # busy now; armed again when it is idle
        due = since + self._server.keepalive_timeout
        if self._loop.time() >= due:
            self._close()
        else:
            self._idle = self._loop.call_at(due, self._check_idle)
