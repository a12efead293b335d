"""Watching and waiting, for the synchronous ``Client``: list the actions, then follow
their changes through watch requests, surviving watch timeouts, 410 Gone and API server
restarts (re-watch, re-list, backoff), and wait for one action to finish on top of that.

It is the one part of the client with a loop, retries and a deadline, so it lives apart
from the single requests in ``asyncaction_client.sync``; ``Client`` inherits it.
``asyncaction_client.aio_watch`` is its asyncio twin, split the same way.
What the loop does next (list, watch from which version, list again, pause how long,
stop) is decided once for both by ``asyncaction_client.watchloop``; this module sends
the requests and sleeps the pauses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from asyncaction_client.contract import ACTION_PLURAL, GROUP, VERSION, utcnow
from asyncaction_client.errors import ActionNotFound, WaitTimeout, api_error_of
from asyncaction_client.model import Action, WatchError, is_finished, result_or_raise
from asyncaction_client.watchloop import WatchLoop

# What _watch_once yields first: the server answered.
CONNECTED: dict[str, Any] = {"type": "CONNECTED"}
RETRYABLE = (urllib3.exceptions.HTTPError, OSError)


class Watching:
    """``watch``, ``wait_finished`` and ``wait`` of ``Client`` (which sets these two)."""

    namespace: str
    custom: k8s.CustomObjectsApi

    def _list_raw(
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
            listed: dict[str, Any] = self.custom.list_cluster_custom_object(
                GROUP, VERSION, ACTION_PLURAL, **kwargs
            )
        else:
            listed = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, ACTION_PLURAL, **kwargs
            )
        return listed

    def watch(
        self,
        name: str | None = None,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[Action]:
        """Every matching action as listed, then each time one changes, until ``timeout``
        (forever when None). Watch timeouts, 410 Gone and API server restarts are handled
        by re-watching or re-listing, with backoff while the server is unreachable. A
        deleted action is yielded once more with ``metadata.deletionTimestamp`` set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        field = f"metadata.name={name}" if name else None
        ns = namespace or self.namespace
        for kind, action in self._events(ns, all_namespaces, field, label_selector, deadline):
            if kind == "MISSING":  # a named action that does not exist (yet): nothing to show
                continue
            if kind == "DELETED":
                meta = action.setdefault("metadata", {})
                meta.setdefault("deletionTimestamp", utcnow().isoformat())
            yield action

    def _events(
        self,
        namespace: str,
        all_namespaces: bool,
        field_selector: str | None,
        label_selector: str | None,
        deadline: float | None,
    ) -> Iterator[tuple[str, Action]]:
        loop = WatchLoop(field_selector, deadline)
        while loop.running():
            try:
                if loop.must_list:
                    yield from loop.listed(
                        self._list_raw(
                            namespace,
                            all_namespaces,
                            label_selector,
                            field_selector,
                            request_timeout=loop.list_seconds(),
                        )
                    )
                    if loop.expired():
                        return
                seconds = loop.watch_seconds()
                watched = self._watch_once(
                    namespace,
                    all_namespaces,
                    field_selector,
                    label_selector,
                    loop.version or "",
                    seconds,
                    loop.request_seconds(seconds),
                )
                for event in watched:
                    if event is CONNECTED:
                        loop.connected()
                        continue
                    yield from loop.received(event)
                    if loop.must_list:
                        break
            except ApiException as exc:
                if exc.status == 410:
                    loop.gone()
                    continue
                if not loop.worth_retrying(exc):
                    raise api_error_of(exc) from None
                time.sleep(loop.interrupted(exc))
            except (WatchError, *RETRYABLE) as exc:
                time.sleep(loop.interrupted(exc))

    def _watch_once(
        self,
        namespace: str,
        all_namespaces: bool,
        field_selector: str | None,
        label_selector: str | None,
        version: str,
        seconds: int,
        request_seconds: float,
    ) -> Iterator[dict[str, Any]]:
        """One watch request; the server ends it and the client re-watches."""
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": version,
            "timeout_seconds": seconds,
            "allow_watch_bookmarks": True,
            "_preload_content": False,
            "_request_timeout": (10, request_seconds),
        }
        if field_selector:
            kwargs["field_selector"] = field_selector
        if label_selector:
            kwargs["label_selector"] = label_selector
        if all_namespaces:
            response = self.custom.list_cluster_custom_object(
                GROUP, VERSION, ACTION_PLURAL, **kwargs
            )
        else:
            response = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, ACTION_PLURAL, **kwargs
            )
        try:
            yield CONNECTED
            for line in iter_resp_lines(response):
                if line:
                    yield json.loads(line)
        finally:
            response.close()
            response.release_conn()

    def wait_finished(
        self,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float | None = None,
        on_update: Callable[[Action], None] | None = None,
    ) -> Action:
        """The action once in a terminal phase, whatever the outcome. ``on_update`` sees
        every state on the way. Raises WaitTimeout, or ActionNotFound (also if deleted)."""
        ns = namespace or self.namespace
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Action | None = None
        for kind, action in self._events(ns, False, f"metadata.name={name}", None, deadline):
            if kind in ("MISSING", "DELETED"):
                raise ActionNotFound(ns, name)
            last = action
            if on_update is not None:
                on_update(action)
            if is_finished(action):
                return action
        raise WaitTimeout(name, timeout or 0.0, last)

    def wait(
        self,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float | None = None,
        on_update: Callable[[Action], None] | None = None,
    ) -> dict[str, Any]:
        """Block until the action finishes; its ``status.result`` when it SUCCEEDED.
        Raises ActionFailed (FAILED, ABORTED, TIMEOUT), WaitTimeout or ActionNotFound."""
        return result_or_raise(
            self.wait_finished(name, namespace, timeout=timeout, on_update=on_update)
        )
