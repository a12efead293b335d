"""The messages of the hook's HTTP/1.1 server (``httpserver``): the ``Request`` its
routes read (method, target, headers, body) and the ``Response`` they answer, and how an
answer is put on the wire (``encode``). Kept apart from the protocol so that the routes
and their tests depend on these four types only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol, TypeVar, overload

T = TypeVar("T")


class Channel(Protocol):
    """Where a request's ``100 Continue`` goes: its connection."""

    def write(self, data: bytes) -> None: ...


JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class BodyTooLarge(Exception):
    """The request's body passed the server's ``max_body``."""


class BadBody(ConnectionError):
    """The request's body broke the protocol (a bad chunk): the connection ends; the
    handler reading it answers 400, which is sent if it can be."""


class Headers(Mapping[str, str]):
    """A request's headers by lower-case name; of a repeated header the first, as
    aiohttp's ``headers.get`` answers."""

    __slots__ = ("_by_name",)

    def __init__(self, by_name: dict[str, str]) -> None:
        self._by_name = by_name  # keys in lower case

    def __getitem__(self, name: str) -> str:
        return self._by_name[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, /, default: str | T) -> str | T: ...

    def get(self, name: str, /, default: object = None) -> object:
        return self._by_name.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


class Request:
    """One request as the hook's routes read it. Its handler starts when the headers
    have arrived; ``read()`` waits for the body."""

    __slots__ = (
        "_broken",
        "_chunks",
        "_complete",
        "_connection",
        "_continued",
        "_dropped",
        "_lost",
        "_size",
        "_too_large",
        "_waiter",
        "headers",
        "keep_alive",
        "method",
        "path",
        "raw_path",
        "version",
    )

    def __init__(
        self,
        connection: Channel | None,
        method: str,
        raw_path: str,
        path: str,
        version: str,
        headers: Headers,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.raw_path = raw_path  # the target as sent: path and query, percent-encoded
        self.path = path  # its path, percent-decoded but for %2F and %25 (yarl's path_safe)
        self.version = version  # "1.1" or "1.0"
        self.headers = headers
        self.keep_alive = keep_alive
        self._connection = connection
        self._chunks: list[bytes] = []
        self._size = 0
        self._complete = False
        self._too_large = False
        self._lost = False
        self._broken: str | None = None  # why the parser refused the body
        self._waiter: asyncio.Future[None] | None = None
        self._continued = False
        self._dropped = False  # answered before its body: the rest is read and dropped

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None else None  # llhttp checked it is digits

    def body_complete(self) -> bool:
        """The whole body has arrived (or passed the limit): ``read()`` will not wait."""
        return self._complete or self._too_large or self._lost

    async def read(self) -> bytes:
        """The body, once it has all arrived. Raises ``BodyTooLarge`` past the server's
        limit and ``ConnectionResetError`` when the client went away first."""
        if not self.body_complete():
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self.body()

    def body(self) -> bytes:
        """The body, which has all arrived (``body_complete``): ``read()`` without its
        wait. Raises as ``read()`` does."""
        if not self.body_complete():
            raise RuntimeError("the body has not all arrived: await read()")
        if self._too_large:
            raise BodyTooLarge()
        if self._broken is not None:
            raise BadBody(self._broken)
        if self._lost and not self._complete:
            raise ConnectionResetError("the client closed the connection before its body")
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    def send_continue(self) -> None:
        """``100 Continue``: a client that sent ``Expect: 100-continue`` waits for it
        before it sends the body."""
        if not self._continued and not self.body_complete() and self._connection is not None:
            self._continued = True
            self._connection.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    # fed by the connection

    def _add(self, chunk: bytes, limit: int) -> None:
        if self._too_large or self._dropped:
            return
        self._size += len(chunk)
        if self._size > limit:
            self._too_large = True
            self._chunks = []
            self._wake()
        else:
            self._chunks.append(chunk)

    def _end(self) -> None:
        self._complete = True
        self._wake()

    def _lose(self, broken: str | None = None) -> None:
        self._lost = True
        self._broken = broken
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Response:
    """An answer: status, body, content type and more headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


_to_json = json.JSONEncoder().encode  # json.dumps's own defaults, without its checks


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, _to_json(data).encode(), JSON, headers)


def text_response(
    status: int, text: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """A plain-text answer; by default ``"404: Not Found"``, as aiohttp words its own."""
    if text is None:
        text = f"{status}: {_PHRASES.get(status, '')}"
    return Response(status, text.encode(), TEXT, headers)


_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_STATUS_LINES = {
    code: f"HTTP/1.1 {code} {phrase}\r\n".encode() for code, phrase in _PHRASES.items()
}
_NO_BODY = frozenset({204, 304})
_CONTENT_TYPE_LINES = {kind: f"Content-Type: {kind}\r\n".encode() for kind in (JSON, TEXT)}


class _Date:
    """The Date header, formatted once a second."""

    def __init__(self) -> None:
        self._second = 0
        self._line = b""

    def line(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._line = f"Date: {formatdate(second, usegmt=True)}\r\n".encode()
        return self._line


_DATE = _Date()


def encode(response: Response, *, head: bool, keep_alive: bool) -> bytes:
    """``response`` as bytes on the wire: status line, headers, body."""
    status = response.status
    line = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n".encode()
    parts = [line, _DATE.line()]
    content_type = response.content_type
    if content_type is not None:
        known = _CONTENT_TYPE_LINES.get(content_type)
        parts.append(known or f"Content-Type: {content_type}\r\n".encode("latin-1"))
    if status not in _NO_BODY:
        parts.append(b"Content-Length: %d\r\n" % len(response.body))
    if response.headers:
        for name, value in response.headers.items():
            parts.append(f"{name}: {value}\r\n".encode("latin-1"))
    parts.append(b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    if not head and status not in _NO_BODY:
        parts.append(response.body)
    return b"".join(parts)
