"""What happened to an action, for the asyncio ``AsyncClient``: its Events, its Jobs (one
per attempt), an attempt's Pods and a Pod's log lines.

These calls read core and batch objects the operator made, never the AsyncAction itself,
so they live apart from the action calls in ``asyncaction_client.aio``; ``AsyncClient``
inherits them. ``asyncaction_client.sync_inspect`` is their synchronous twin.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.rest import ApiException

from asyncaction_client import errors
from asyncaction_client.aio_watch import response_lines
from asyncaction_client.contract import LABEL_ACTION_UID, LABEL_ATTEMPT
from asyncaction_client.errors import api_error_of


class AsyncInspection:
    """``events``, ``jobs``, ``pods`` and ``pod_log`` of ``AsyncClient`` (which sets these
    two)."""

    core: k8s.CoreV1Api
    batch: k8s.BatchV1Api

    async def events(self, action: Mapping[str, Any]) -> builtins.list[Any]:
        """Events about the action, oldest first (CoreV1Event objects)."""
        meta = action["metadata"]
        try:
            listed = await self.core.list_namespaced_event(
                meta["namespace"], field_selector=f"involvedObject.uid={meta['uid']}"
            )
        except ApiException as exc:
            raise api_error_of(exc) from None
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
            raise api_error_of(exc) from None
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
            raise api_error_of(exc) from None
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
            raise api_error_of(exc) from None
        try:
            if response.status != 200:
                raise errors.api_error(response.status, await response.text(), response.reason)
            async for line in response_lines(response.content):
                yield line.decode("utf-8", errors="replace")
        finally:
            response.release()
