"""The asynchronous client, on the maintained ``kubernetes_asyncio`` package: the same
calls as ``asyncaction_client.Client`` for programs running an event loop (no blocking
call inside the loop).

    from asyncaction_client import AsyncClient

    async with await AsyncClient.connect() as client:
        action = await client.submit(template_ref="wordcount", request={"text": "a b"},
                                     generate_name="wc-")
        result = await client.wait(action["metadata"]["name"], timeout=600)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.rest import ApiException

from asyncaction.api.names import ACTION_PLURAL, GROUP, VERSION
from asyncaction.timeutil import utcnow
from asyncaction_client.connection import (
    context_namespace,
    in_cluster_namespace,
    kubeconfig_paths,
)
from asyncaction_client.errors import ActionNotFound, ClientError, WaitTimeout, short_reason
from asyncaction_client.model import (
    Action,
    Filters,
    WatchError,
    backoff,
    build_action,
    interpret,
    is_finished,
    name_of,
    namespace_of,
    result_or_raise,
    select,
)

log = logging.getLogger("asyncaction_client")
WATCH_SECONDS = 60
RETRYABLE = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class ApiError(ClientError):
    """The API server refused a request (status and message as it sent them)."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def api_error(exc: ApiException) -> ApiError:
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        message = exc.reason
    return ApiError(int(exc.status or 0), f"{message} ({exc.status})")


class AsyncClient:
    """AsyncActions of one cluster, for asyncio programs. Build it with ``connect``."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self.api = api_client
        self.namespace = namespace
        self.custom = k8s.CustomObjectsApi(api_client)

    @classmethod
    async def connect(
        cls,
        *,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        namespace: str | None = None,
    ) -> AsyncClient:
        """Load a kubeconfig (contexts, exec plugins, OIDC) or the in-cluster account."""
        paths = kubeconfig_paths(kubeconfig)
        if paths is None:
            k8s_config.load_incluster_config()
            return cls(k8s.ApiClient(), namespace or in_cluster_namespace() or "default")
        api = await k8s_config.new_client_from_config(config_file=paths, context=context)
        contexts, active = k8s_config.list_kube_config_contexts(config_file=paths)
        found = context_namespace(contexts, active, context)
        return cls(api, namespace or found or "default")

    async def close(self) -> None:
        await self.api.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def submit(
        self,
        manifest: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
        name: str | None = None,
        generate_name: str | None = None,
        template_ref: str | None = None,
        request: Mapping[str, Any] | None = None,
        queue: str | None = None,
        priority: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Action:
        body = build_action(
            base=manifest,
            name=name,
            generate_name=generate_name,
            template_ref=template_ref,
            request=request,
            queue=queue,
            priority=priority,
            labels=labels,
        )
        ns = namespace or (manifest or {}).get("metadata", {}).get("namespace") or self.namespace
        body["metadata"].pop("namespace", None)
        try:
            created: Action = await self.custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, body
            )
        except ApiException as exc:
            raise api_error(exc) from None
        return created

    async def get(self, name: str, namespace: str | None = None) -> Action:
        ns = namespace or self.namespace
        try:
            action: Action = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                raise ActionNotFound(ns, name) from None
            raise api_error(exc) from None
        return action

    async def list(
        self,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        filters: Filters | None = None,
    ) -> list[Action]:
        kwargs = {"label_selector": label_selector} if label_selector else {}
        try:
            listed = await self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, ACTION_PLURAL, **kwargs
            )
        except ApiException as exc:
            raise api_error(exc) from None
        return select(listed.get("items") or [], filters or Filters(), utcnow())

    async def watch(
        self,
        name: str | None = None,
        namespace: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AsyncIterator[Action]:
        """Every matching action as listed, then each change, until ``timeout``; survives
        watch timeouts, 410 Gone and API server restarts (re-watch, re-list, backoff)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        field = f"metadata.name={name}" if name else None
        async for kind, action in self._events(namespace or self.namespace, field, deadline):
            if kind == "MISSING":
                continue
            yield action

    async def _events(
        self, namespace: str, field_selector: str | None, deadline: float | None
    ) -> AsyncIterator[tuple[str, Action]]:
        selector = {"field_selector": field_selector} if field_selector else {}
        version: str | None = None
        failures = 0
        while deadline is None or time.monotonic() < deadline:
            try:
                if version is None:
                    listed = await self.custom.list_namespaced_custom_object(
                        GROUP, VERSION, namespace, ACTION_PLURAL, **selector
                    )
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
                seconds = WATCH_SECONDS
                if deadline is not None:
                    seconds = max(1, min(WATCH_SECONDS, int(deadline - time.monotonic()) + 1))
                response = await self.custom.list_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    ACTION_PLURAL,
                    watch=True,
                    resource_version=version,
                    timeout_seconds=seconds,
                    allow_watch_bookmarks=True,
                    _preload_content=False,
                    _request_timeout=seconds + 30,
                    **selector,
                )
                if response.status != 200:
                    # kubernetes_asyncio does not raise for an unread response. A restarting
                    # API server answers 404 (plain text) until it serves the CRDs again.
                    body = (await response.text())[:200].strip()
                    response.release()
                    raise WatchError(f"watch answered {response.status}: {body}")
                if failures:
                    log.info("reconnected; watching from version %s", version)
                failures = 0  # only once the server answered: backoff grows while it is down
                try:
                    while True:
                        line = await response.content.readline()
                        if not line:
                            break
                        step = interpret(json.loads(line), version)
                        if step.relist:
                            version = None
                            break
                        version = step.resource_version
                        if step.action is not None:
                            yield "CHANGED", step.action
                        if step.deleted is not None:
                            yield "DELETED", step.deleted
                finally:
                    response.release()
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                if exc.status not in (None, 0, 429, 500, 502, 503, 504):
                    raise api_error(exc) from None
                failures += 1
                await self._pause(failures, deadline, exc)
            except (WatchError, *RETRYABLE) as exc:
                failures += 1
                await self._pause(failures, deadline, exc)

    @staticmethod
    async def _pause(failures: int, deadline: float | None, exc: BaseException) -> None:
        delay = backoff(failures)
        if deadline is not None:
            delay = max(0.0, min(delay, deadline - time.monotonic()))
        log.warning("watch interrupted (%s); reconnecting in %.1fs", short_reason(exc), delay)
        await asyncio.sleep(delay)

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
        async for kind, action in self._events(ns, f"metadata.name={name}", deadline):
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

    async def run(
        self,
        manifest: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the same call as the sync client
        **options: Any,
    ) -> dict[str, Any]:
        """``submit`` then ``wait``."""
        created = await self.submit(manifest, **options)
        return await self.wait(name_of(created), namespace_of(created), timeout=timeout)

    async def patch_spec(
        self, name: str, spec: Mapping[str, Any], namespace: str | None = None
    ) -> Action:
        ns = namespace or self.namespace
        try:
            patched: Action = await self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, name, {"spec": dict(spec)}
            )
        except ApiException as exc:
            if exc.status == 404:
                raise ActionNotFound(ns, name) from None
            raise api_error(exc) from None
        return patched

    async def abort(self, name: str, namespace: str | None = None) -> Action:
        return await self.patch_spec(name, {"abort": True}, namespace)
