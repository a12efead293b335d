"""The async client: a few verbs over aiohttp, with retries of transient failures.

Transient failures (connection errors, 429, 5xx) are retried here with capped exponential
backoff (or the server's ``Retry-After``), so callers only see errors that mean
something: NotFound, Conflict (a resourceVersion precondition failed: re-read and decide
again), AlreadyExists (adopt the existing object), Gone (a watch must list again),
WriteOutcomeUnknown (a write that may have landed), or an ApiError after retries. This is
the only retry layer for single requests; a failed reconcile is retried by the work
queue, with its own backoff, from a fresh read of the caches.

A write is repeated only when repeating it cannot do something twice: a POST that
timed out after it was sent is checked by reading the name back, never sent blindly.
Watches hold their connections for minutes and so use a pool of their own.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from os import PathLike
from typing import Any

import aiohttp

from asyncaction.kube.config import ConnectionInfo, load_connection
from asyncaction.kube.errors import (
    AlreadyExists,
    ApiError,
    NotFound,
    WriteOutcomeUnknown,
    error_from_status,
)
from asyncaction.logthrottle import ThrottledLog

log = logging.getLogger(__name__)

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


def _decode(text: str) -> Any:
    """JSON when it is JSON; proxies and load balancers may answer errors in plain text."""
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The stream's lines, however long: aiohttp's own line reader refuses lines over
    512 KiB (aiohttp 3.14), so one large object (an action with a big status, up to
    etcd's 1.5 MiB) would end the watch."""
    buffer = bytearray()
    async for chunk in content.iter_any():
        start = len(buffer)
        buffer.extend(chunk)
        end = buffer.find(b"\n", start)
        while end >= 0:
            yield bytes(buffer[:end])
            del buffer[: end + 1]
            end = buffer.find(b"\n")
    if buffer:
        yield bytes(buffer)


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: dict[str, Any]


# Methods the API server may receive twice with the same outcome.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Answers that say the server did not act on the request: safe to send again.
NOT_PROCESSED = frozenset({429, 503})


def retry_after(header: str | None, cap: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), cap)


def same_origin(landed: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """The object found by name is the one we sent: same labels and owner references."""
    got, want = landed.get("metadata") or {}, sent.get("metadata") or {}
    owners = [(ref.get("kind"), ref.get("uid")) for ref in got.get("ownerReferences") or []] == [
        (ref.get("kind"), ref.get("uid")) for ref in want.get("ownerReferences") or []
    ]
    return owners and (got.get("labels") or {}) == (want.get("labels") or {})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    # Longest wait a server's Retry-After is honoured with (longer ones are cut to it).
    max_retry_after: float = 30.0

    def delay(self, attempt: int) -> float:
        capped: float = min(self.max_delay, self.base_delay * 2**attempt)
        return capped * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


class KubeClient:
    def __init__(
        self,
        info: ConnectionInfo,
        *,
        retry: RetryPolicy | None = None,
        request_timeout: float = 30.0,
        connections: int = 50,
    ) -> None:
        self.info = info
        self.retry = retry or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        # Told (method, HTTP code; 0: no answer) of every request sent, for metrics.
        self.on_response: Callable[[str, int], None] = lambda method, code: None
        # Retries while the API server is down: a line per interval, not one per request.
        self.retry_log = ThrottledLog(log)

    @classmethod
    async def from_kubeconfig(cls, path: str | PathLike[str] | None = None) -> KubeClient:
        info = await asyncio.to_thread(load_connection, path)
        return cls(info)

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.info.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _get_session(self) -> aiohttp.ClientSession:
        """Requests (reads and writes) share a bounded pool of connections."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.info.ssl_context(), limit=self._connections)
            self._session = aiohttp.ClientSession(self.info.server, connector=connector)
        return self._session

    def _get_watch_session(self) -> aiohttp.ClientSession:
        """Watches get their own pool without a limit: each holds its connection for
        minutes, so in the shared pool 50 of them (9 namespaces of 6 caches) would leave
        no connection for the writes and lists the controllers wait on."""
        if self._watch_session is None or self._watch_session.closed:
            connector = aiohttp.TCPConnector(ssl=self.info.ssl_context(), limit=0)
            self._watch_session = aiohttp.ClientSession(self.info.server, connector=connector)
        return self._watch_session

    async def close(self) -> None:
        for session in (self._session, self._watch_session):
            if session is not None:
                await session.close()
        self._session = self._watch_session = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | list[Any] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        retry: bool = True,
        request_timeout: float | None = None,
    ) -> dict[str, Any]:
        """One API call. ``retry=False`` makes one attempt (the Lease: its caller judges
        time itself); ``request_timeout`` replaces the client's per-request timeout.

        A write that may not be repeated safely (``POST``, a JSON patch) is retried only
        when the server surely did not act on it (no connection, 429, 503); when it timed
        out or the connection broke after it was sent, ``WriteOutcomeUnknown`` is raised
        (``create`` checks what landed instead)."""
        data = None if body is None else json.dumps(body)
        repeatable = method in IDEMPOTENT or (
            method == "PATCH" and content_type != PATCH_TYPES["json"]
        )
        attempts = self.retry.attempts if retry else 1
        limit = (
            self._timeout
            if request_timeout is None
            else aiohttp.ClientTimeout(total=request_timeout)
        )
        last: Exception | None = None
        for attempt in range(attempts):
            wait: float | None = None
            try:
                async with self._get_session().request(
                    method,
                    path,
                    data=data,
                    params=params,
                    headers=self._headers(content_type if data is not None else None),
                    timeout=limit,
                ) as response:
                    self.on_response(method, response.status)
                    payload = _decode(await response.text())
                    if response.status < 400:
                        self.retry_log.recovered("retry", "requests to the API server succeed")
                        return payload if isinstance(payload, dict) else {"items": payload}
                    error = error_from_status(response.status, payload)
                    if not error.transient:
                        raise error
                    if not repeatable and error.status not in NOT_PROCESSED:
                        raise WriteOutcomeUnknown(method, path, error) from error
                    last = error
                    wait = retry_after(
                        response.headers.get("Retry-After"), self.retry.max_retry_after
                    )
            except aiohttp.ClientConnectorError as exc:  # never reached the server
                self.on_response(method, 0)
                last = exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.on_response(method, 0)
                if not repeatable:
                    raise WriteOutcomeUnknown(method, path, exc) from exc
                last = exc
            if attempt + 1 == attempts:
                break
            delay = self.retry.delay(attempt) if wait is None else wait
            self.retry_log.warning(
                "retry", "%s %s failed (%s); retrying in %.2fs", method, path, last, delay
            )
            await asyncio.sleep(delay)
        if isinstance(last, ApiError):
            raise last
        raise ApiError(503, "Unavailable", f"{method} {path}: {last}")

    async def get(
        self, path: str, *, retry: bool = True, request_timeout: float | None = None
    ) -> dict[str, Any]:
        return await self.request("GET", path, retry=retry, request_timeout=request_timeout)

    async def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> dict[str, Any]:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return await self.request("GET", path, params=params)

    async def create(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        retry: bool = True,
        request_timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``body``. When the outcome is unknown (a timeout after sending), what
        landed is read back by name: our object (same labels and owners) is returned,
        another one raises ``AlreadyExists``, none is created again. Objects named by
        ``generateName`` cannot be checked: ``WriteOutcomeUnknown`` reaches the caller."""
        name = (body.get("metadata") or {}).get("name")
        for _ in range(self.retry.attempts if retry else 1):
            try:
                return await self.request(
                    "POST", path, body=body, retry=retry, request_timeout=request_timeout
                )
            except WriteOutcomeUnknown:
                if not name or not retry:
                    raise
                log.warning("create %s/%s timed out: reading what landed", path, name)
            try:
                landed = await self.get(f"{path}/{name}")
            except NotFound:
                continue  # it did not land (a duplicate in flight answers AlreadyExists)
            if same_origin(landed, body):
                return landed
            raise AlreadyExists(409, "AlreadyExists", f"{path}/{name} exists (not ours)")
        raise WriteOutcomeUnknown("POST", f"{path}/{name}", None)

    async def patch(
        self,
        path: str,
        body: Mapping[str, Any] | builtins.list[Any],
        *,
        patch_type: str = "merge",
        retry: bool = True,
        request_timeout: float | None = None,
    ) -> dict[str, Any]:
        return await self.request(
            "PATCH",
            path,
            body=body,
            content_type=PATCH_TYPES[patch_type],
            retry=retry,
            request_timeout=request_timeout,
        )

    async def delete(
        self,
        path: str,
        *,
        propagation: str = "Background",
        missing_ok: bool = True,
        preconditions: Mapping[str, str] | None = None,
    ) -> None:
        """DELETE; ``preconditions`` (``uid``, ``resourceVersion``) make the API server
        refuse it with 409 when the object is not the one decided on (re-created under
        the same name, or changed since the cache saw it)."""
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if preconditions:
            body["preconditions"] = dict(preconditions)
        try:
            await self.request("DELETE", path, body=body)
        except ApiError as exc:
            if not (missing_ok and exc.status == 404):
                raise

    async def watch(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        accepted: Callable[[], None] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """One watch request; ends when the server closes it. Raises Gone on 410.
        ``accepted`` is called once the server has answered it 200 (a quiet resource
        may send no event for a long time)."""
        params = {
            "watch": "true",
            "timeoutSeconds": str(timeout_seconds),
            "allowWatchBookmarks": "true",
        }
        if label_selector:
            params["labelSelector"] = label_selector
        if resource_version:
            params["resourceVersion"] = resource_version
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        async with self._get_watch_session().get(
            path, params=params, headers=self._headers(), timeout=timeout
        ) as response:
            self.on_response("WATCH", response.status)
            if response.status >= 400:
                raise error_from_status(response.status, _decode(await response.text()))
            if accepted is not None:
                accepted()
            async for line in _lines(response.content):
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise error_from_status(int(status.get("code", 500)), status)
                yield WatchEvent(type=event["type"], object=event["object"])
