"""Watching and waiting, for the synchronous ``Client``: list the actions, then follow
their changes through watch requests, surviving watch timeouts, 410 Gone and API server
restarts (re-watch, re-list, backoff), and wait for one action to finish on top of that.

It is the one part of the client with a loop, retries and a deadline, so it lives apart
from the single requests in ``asyncaction_client.sync``; ``Client`` inherits it.
``asyncaction_client.aio_watch`` is its asyncio twin, split the same way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from asyncaction_client.contract import ACTION_PLURAL, GROUP, VERSION, utcnow
from asyncaction_client.errors import ActionNotFound, WaitTimeout, api_error_of, short_reason
from asyncaction_client.model import (
    Action,
    WatchError,
    backoff,
    interpret,
    is_finished,
    result_or_raise,
)

log = logging.getLogger("asyncaction_client")
WATCH_SECONDS = 60
# What _watch_once yields first: the server answered.
CONNECTED: dict[str, Any] = {"type": "CONNECTED"}
RETRYABLE = (urllib3.exceptions.HTTPError, OSError)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in (0, 429, 500, 502, 503, 504) or exc.status is None
    return isinstance(exc, RETRYABLE)


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
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
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
        version: str | None = None
        failures = 0
        listed_once = False
        # The first list runs even when the deadline has passed: a wait with no time left
        # still reports an action that had already finished.
        while not listed_once or deadline is None or time.monotonic() < deadline:
            try:
                if version is None:
                    listed = self._list_raw(
                        namespace, all_namespaces, label_selector, field_selector
                    )
                    listed_once = True
                    version = listed["metadata"]["resourceVersion"]
                    failures = 0
                    log.info(
                        "listed %d action(s) at version %s; watching",
                        len(listed.get("items") or []),
                        version,
                    )
                    for item in listed.get("items") or []:
                        yield "LISTED", item
                    if field_selector and not listed.get("items"):
                        yield "MISSING", {}
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                seconds = WATCH_SECONDS
                if deadline is not None:
                    seconds = max(1, min(WATCH_SECONDS, int(deadline - time.monotonic()) + 1))
                for event in self._watch_once(
                    namespace, all_namespaces, field_selector, label_selector, version, seconds
                ):
                    if event is CONNECTED:
                        if failures:
                            log.info("reconnected; watching from version %s", version)
                        failures = 0
                        continue
                    step = interpret(event, version)
                    if step.relist:
                        version = None
                        break
                    version = step.resource_version
                    if step.action is not None:
                        yield "CHANGED", step.action
                    if step.deleted is not None:
                        yield "DELETED", step.deleted
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                if not _retryable(exc):
                    raise api_error_of(exc) from None
                failures += 1
                self._pause(failures, deadline, exc)
            except (WatchError, *RETRYABLE) as exc:
                failures += 1
                self._pause(failures, deadline, exc)

    @staticmethod
    def _pause(failures: int, deadline: float | None, exc: BaseException) -> None:
        delay = backoff(failures)
        if deadline is not None:
            delay = max(0.0, min(delay, deadline - time.monotonic()))
        log.warning("watch interrupted (%s); reconnecting in %.1fs", short_reason(exc), delay)
        time.sleep(delay)

    def _watch_once(
        self,
        namespace: str,
        all_namespaces: bool,
        field_selector: str | None,
        label_selector: str | None,
        version: str,
        seconds: int,
    ) -> Iterator[dict[str, Any]]:
        """One watch request; the server ends it and the client re-watches."""
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": version,
            "timeout_seconds": seconds,
            "allow_watch_bookmarks": True,
            "_preload_content": False,
            "_request_timeout": (10, seconds + 30),
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
