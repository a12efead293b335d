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
import builtins
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

from asyncaction_client import errors
from asyncaction_client.connection import (
    context_namespace,
    first_path,
    in_cluster_namespace,
    kubeconfig_paths,
)
from asyncaction_client.contract import (
    ACTION_PLURAL,
    GROUP,
    LABEL_ACTION_UID,
    LABEL_ATTEMPT,
    VERSION,
    utcnow,
)
from asyncaction_client.errors import ActionNotFound, ApiError, WaitTimeout, short_reason
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
    rerun_of,
    result_or_raise,
    select,
)

log = logging.getLogger("asyncaction_client")
WATCH_SECONDS = 60
RETRYABLE = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def api_error(exc: ApiException) -> ApiError:
    return errors.api_error(exc.status, exc.body, exc.reason)


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


class AsyncClient:
    """AsyncActions of one cluster, for asyncio programs. Build it with ``connect``."""

    def __init__(
        self, api_client: k8s.ApiClient, namespace: str, kubeconfig_file: str | None = None
    ) -> None:
        self.api = api_client
        self.namespace = namespace
        self.kubeconfig_file = kubeconfig_file
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.batch = k8s.BatchV1Api(api_client)

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
        return cls(api, namespace or found or "default", first_path(paths))

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

    async def _list_raw(
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
            listed: dict[str, Any] = await self.custom.list_cluster_custom_object(
                GROUP, VERSION, ACTION_PLURAL, **kwargs
            )
        else:
            listed = await self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, ACTION_PLURAL, **kwargs
            )
        return listed

    async def list(
        self,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        filters: Filters | None = None,
    ) -> builtins.list[Action]:
        """Actions oldest first; the label selector runs on the server, ``filters`` here."""
        try:
            listed = await self._list_raw(namespace, all_namespaces, label_selector)
        except ApiException as exc:
            raise api_error(exc) from None
        return select(listed.get("items") or [], filters or Filters(), utcnow())

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
        version: str | None = None
        failures = 0
        listed_once = False
        # The first list runs even when the deadline has passed: a wait with no time left
        # still reports an action that had already finished.
        while not listed_once or deadline is None or time.monotonic() < deadline:
            try:
                if version is None:
                    listed = await self._list_raw(
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
                watch: dict[str, Any] = {
                    "watch": True,
                    "resource_version": version,
                    "timeout_seconds": seconds,
                    "allow_watch_bookmarks": True,
                    "_preload_content": False,
                    "_request_timeout": seconds + 30,
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
                    # kubernetes_asyncio does not raise for an unread response. A restarting
                    # API server answers 404 (plain text) until it serves the CRDs again.
                    body = (await response.text())[:200].strip()
                    response.release()
                    raise WatchError(f"watch answered {response.status}: {body}")
                if failures:
                    log.info("reconnected; watching from version %s", version)
                failures = 0  # only once the server answered: backoff grows while it is down
                try:
                    async for line in response_lines(response.content):
                        if not line.strip():
                            continue
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
            # A merge patch: kubernetes_asyncio otherwise sends a JSON patch content type,
            # which the API server refuses for this body (400).
            patched: Action = await self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                ACTION_PLURAL,
                name,
                {"spec": dict(spec)},
                _content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            if exc.status == 404:
                raise ActionNotFound(ns, name) from None
            raise api_error(exc) from None
        return patched

    async def pause(self, name: str, namespace: str | None = None) -> Action:
        return await self.patch_spec(name, {"suspend": True}, namespace)

    async def resume(self, name: str, namespace: str | None = None) -> Action:
        return await self.patch_spec(name, {"suspend": False}, namespace)

    async def abort(self, name: str, namespace: str | None = None) -> Action:
        return await self.patch_spec(name, {"abort": True}, namespace)

    async def rerun(
        self, name: str, namespace: str | None = None, *, generate_name: str | None = None
    ) -> Action:
        """A new action with the same spec; the old one stays as the record of its run."""
        old = await self.get(name, namespace)
        return await self.submit(rerun_of(old, generate_name), namespace=namespace_of(old))

    # -- what happened --------------------------------------------------------------------

    async def events(self, action: Mapping[str, Any]) -> builtins.list[Any]:
        """Events about the action, oldest first (CoreV1Event objects)."""
        meta = action["metadata"]
        try:
            listed = await self.core.list_namespaced_event(
                meta["namespace"], field_selector=f"involvedObject.uid={meta['uid']}"
            )
        except ApiException as exc:
            raise api_error(exc) from None
        return sorted(
            listed.items,
            key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp),
        )

    async def jobs(self, action: Mapping[str, Any]) -> builtins.list[Any]:
        """The action's Jobs, one per attempt, by attempt."""
        meta = action["metadata"]
        try:
            listed = await self.batch.list_namespaced_job(
                meta["namespace"], label_selector=f"{LABEL_ACTION_UID}={meta['uid']}"
            )
        except ApiException as exc:
            raise api_error(exc) from None
        return sorted(
            listed.items, key=lambda j: int((j.metadata.labels or {}).get(LABEL_ATTEMPT, 0))
        )

    async def pods(
        self, action: Mapping[str, Any], attempt: int | None = None
    ) -> builtins.list[Any]:
        """Pods of one attempt (the current one when None), newest last."""
        meta = action["metadata"]
        status = action.get("status") or {}
        number = attempt if attempt is not None else int(status.get("attempts") or 0)
        selector = f"{LABEL_ACTION_UID}={meta['uid']},{LABEL_ATTEMPT}={number}"
        try:
            listed = await self.core.list_namespaced_pod(meta["namespace"], label_selector=selector)
        except ApiException as exc:
            raise api_error(exc) from None
        return sorted(listed.items, key=lambda p: str(p.metadata.creation_timestamp))

    async def pod_log(
        self, pod: Any, *, follow: bool = False, tail: int | None = None
    ) -> AsyncIterator[str]:
        """Lines of the pod's first container, from the API server (which asks the node)."""
        kwargs: dict[str, Any] = {"follow": follow, "_preload_content": False}
        if tail is not None:
            kwargs["tail_lines"] = tail
        container = pod.spec.containers[0].name
        try:
            response = await self.core.read_namespaced_pod_log(
                pod.metadata.name, pod.metadata.namespace, container=container, **kwargs
            )
        except ApiException as exc:
            raise api_error(exc) from None
        try:
            if response.status != 200:
                raise errors.api_error(response.status, await response.text(), response.reason)
            async for line in response_lines(response.content):
                yield line.decode("utf-8", errors="replace")
        finally:
            response.release()
