"""Watching and waiting, for the asyncio ``AsyncClient``: list the actions, then follow
their changes through watch requests, surviving watch timeouts, 410 Gone and API server
restarts (re-watch, re-list, backoff), and wait for one action to finish on top of that.

It is the one part of the client with a loop, retries and a deadline, so it lives apart
from the single requests in ``asyncaction_client.aio``; ``AsyncClient`` inherits it.
``asyncaction_client.sync_watch`` is its synchronous twin, split the same way.
What the loop does next (list, watch from which version, list again, pause how long,
stop) is decided once for both by ``asyncaction_client.watchloop``; this module sends
the requests and sleeps the pauses.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.rest import ApiException

from asyncaction_client.contract import ACTION_PLURAL, GROUP, VERSION, utcnow
from asyncaction_client.errors import ActionNotFound, WaitTimeout, api_error_of
from asyncaction_client.model import Action, WatchError, is_finished, result_or_raise
from asyncaction_client.watchloop import WatchLoop

RETRYABLE = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


async def response_lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The stream's lines, however long. aiohttp's ``readline`` refuses lines over 512 KiB
    (aiohttp 3.14), and one watch event carries a whole action: a big status (up to
    etcd's 1.5 MiB object) would end every ``wait()`` on it."""
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


class AsyncWatching:
    """``watch``, ``wait_finished`` and ``wait`` of ``AsyncClient`` (which sets these two)."""

    namespace: str
    custom: k8s.CustomObjectsApi

    async def _list_raw(
        self,
        namespace: str | None,
        all_namespaces: bool,
        label_selector: str | None = None,
        field_selector: str | None = None,
        request_timeout: float | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if request_timeout is not None:  # the libraries set none: a silent server holds
            kwargs["_request_timeout"] = request_timeout
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        if all_namespaces:
            listed: dict[str, Any] = await self.custom.list_cluster_custom_object(
                GROUP, VERSION, ACTION_PLURAL, **kwargs
            )
        else:
            listed = await self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, ACTION_PLURAL, **kwargs
            )
        return listed

    async def watch(
        self,
        name: str | None = None,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the same call as the sync client
    ) -> AsyncIterator[Action]:
        """Every matching action as listed, then each change, until ``timeout``; survives
        watch timeouts, 410 Gone and API server restarts (re-watch, re-list, backoff). A
        deleted action is yielded once more with ``metadata.deletionTimestamp`` set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        field = f"metadata.name={name}" if name else None
        ns = namespace or self.namespace
        async for kind, action in self._events(ns, all_namespaces, field, label_selector, deadline):
            if kind == "MISSING":
                continue
            if kind == "DELETED":
                meta = action.setdefault("metadata", {})
                meta.setdefault("deletionTimestamp", utcnow().isoformat())
            yield action

    async def _events(
        self,
        namespace: str,
        all_namespaces: bool,
        field_selector: str | None,
        label_selector: str | None,
        deadline: float | None,
    ) -> AsyncIterator[tuple[str, Action]]:
        selector: dict[str, str] = {}
        if field_selector:
            selector["field_selector"] = field_selector
        if label_selector:
            selector["label_selector"] = label_selector
        loop = WatchLoop(field_selector, deadline)
        while loop.running():
            try:
                if loop.must_list:
                    listed = await self._list_raw(
                        namespace,
                        all_namespaces,
                        label_selector,
                        field_selector,
                        request_timeout=loop.list_seconds(),
                    )
                    for event in loop.listed(listed):
                        yield event
                    if loop.expired():
                        return
                seconds = loop.watch_seconds()
                watch: dict[str, Any] = {
                    "watch": True,
                    "resource_version": loop.version,
                    "timeout_seconds": seconds,
                    "allow_watch_bookmarks": True,
                    "_preload_content": False,
                    "_request_timeout": loop.request_seconds(seconds),
                    **selector,
                }
                if all_namespaces:
                    response = await self.custom.list_cluster_custom_object(
                        GROUP, VERSION, ACTION_PLURAL, **watch
                    )
                else:
                    response = await self.custom.list_namespaced_custom_object(
                        GROUP, VERSION, namespace, ACTION_PLURAL, **watch
                    )
                if response.status != 200:
                    # kubernetes_asyncio does not raise for an unread response: raised here
                    # as the sync client's library does, so that a 410 lists again and a
                    # 403 is the caller's, as there (every answer was retried for ever:
                    # found by a review)
                    refused = ApiException(status=response.status, reason=response.reason)
                    refused.body = await response.text()
                    response.release()
                    raise refused
                loop.connected()
                try:
                    async for line in response_lines(response.content):
                        if not line.strip():
                            continue
                        for event in loop.received(json.loads(line)):
                            yield event
                        if loop.must_list:
                            break
                finally:
                    response.release()
            except ApiException as exc:
                if exc.status == 410:
                    loop.gone()
                    continue
                if not loop.worth_retrying(exc):
                    raise api_error_of(exc) from None
                await asyncio.sleep(loop.interrupted(exc))
            except (WatchError, *RETRYABLE) as exc:
                await asyncio.sleep(loop.interrupted(exc))

    async def wait_finished(
        self,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the same call as the sync client
        on_update: Callable[[Action], None] | None = None,
    ) -> Action:
        """The action once terminal, whatever the outcome; raises WaitTimeout or
        ActionNotFound."""
        ns = namespace or self.namespace
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Action | None = None
        field = f"metadata.name={name}"
        async for kind, action in self._events(ns, False, field, None, deadline):
            if kind in ("MISSING", "DELETED"):
                raise ActionNotFound(ns, name)
            last = action
            if on_update is not None:
                on_update(action)
            if is_finished(action):
                return action
        raise WaitTimeout(name, timeout or 0.0, last)

    async def wait(
        self,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the same call as the sync client
        on_update: Callable[[Action], None] | None = None,
    ) -> dict[str, Any]:
        """The result of a SUCCEEDED action; raises ActionFailed for the other outcomes."""
        action = await self.wait_finished(name, namespace, timeout=timeout, on_update=on_update)
        return result_or_raise(action)
