"""The async client: a few verbs over aiohttp, with retries of transient failures.

Transient failures (connection errors, 429, 5xx) are retried here with capped exponential
backoff, so callers only see errors that mean something: NotFound, Conflict (a
resourceVersion precondition failed: re-read and decide again), AlreadyExists (adopt
the existing object), Gone (a watch must list again), or an ApiError after retries.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

import aiohttp

from asyncaction.kube.config import ConnectionInfo, load_connection
from asyncaction.kube.errors import ApiError, error_from_status

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


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0

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
    ) -> None:
        self.info = info
        self.retry = retry or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._session: aiohttp.ClientSession | None = None
        # Told (method, HTTP code; 0: no answer) of every request sent, for metrics.
        self.on_response: Callable[[str, int], None] = lambda method, code: None

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
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.info.ssl_context(), limit=50)
            self._session = aiohttp.ClientSession(self.info.server, connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            try:
                async with self._get_session().request(
                    method,
                    path,
                    data=data,
                    params=params,
                    headers=self._headers(content_type if data is not None else None),
                    timeout=self._timeout,
                ) as response:
                    self.on_response(method, response.status)
                    payload = _decode(await response.text())
                    if response.status < 400:
                        return payload if isinstance(payload, dict) else {"items": payload}
                    error = error_from_status(response.status, payload)
                    if not error.transient:
                        raise error
                    last = error
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                self.on_response(method, 0)
                last = exc
            delay = self.retry.delay(attempt)
            log.warning("%s %s failed (%s); retrying in %.2fs", method, path, last, delay)
            await asyncio.sleep(delay)
        if isinstance(last, ApiError):
            raise last
        raise ApiError(503, "Unavailable", f"{method} {path}: {last}")

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> dict[str, Any]:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def patch(
        self, path: str, body: Mapping[str, Any] | builtins.list[Any], *, patch_type: str = "merge"
    ) -> dict[str, Any]:
        return await self.request("PATCH", path, body=body, content_type=PATCH_TYPES[patch_type])

    async def delete(
        self, path: str, *, propagation: str = "Background", missing_ok: bool = True
    ) -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
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
    ) -> AsyncIterator[WatchEvent]:
        """One watch request; ends when the server closes it. Raises Gone on 410."""
        params = {"watch": "true", "timeoutSeconds": str(timeout_seconds)}
        if label_selector:
            params["labelSelector"] = label_selector
        if resource_version:
            params["resourceVersion"] = resource_version
            params["allowWatchBookmarks"] = "true"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        async with self._get_session().get(
            path, params=params, headers=self._headers(), timeout=timeout
        ) as response:
            self.on_response("WATCH", response.status)
            if response.status >= 400:
                raise error_from_status(response.status, _decode(await response.text()))
            async for line in _lines(response.content):
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise error_from_status(int(status.get("code", 500)), status)
                yield WatchEvent(type=event["type"], object=event["object"])
