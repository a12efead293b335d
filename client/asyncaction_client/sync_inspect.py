"""What happened to an action, for the synchronous ``Client``: its Events, its Jobs (one
per attempt), an attempt's Pods and a Pod's log lines.

These calls read core and batch objects the operator made, never the AsyncAction itself,
so they live apart from the action calls in ``asyncaction_client.sync``; ``Client``
inherits them. ``asyncaction_client.aio_inspect`` is their asyncio twin.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from asyncaction_client.contract import LABEL_ACTION_UID, LABEL_ATTEMPT
from asyncaction_client.errors import api_error_of


class Inspection:
    """``events``, ``jobs``, ``pods`` and ``pod_log`` of ``Client`` (which sets these two)."""

    core: k8s.CoreV1Api
    batch: k8s.BatchV1Api

    def events(self, action: Mapping[str, Any]) -> builtins.list[Any]:
        """Events about the action, oldest first (V1Event / CoreV1Event objects)."""
        meta = action["metadata"]
        events = self.core.list_namespaced_event(
            meta["namespace"], field_selector=f"involvedObject.uid={meta['uid']}"
        ).items
        return sorted(
            events,
            key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp),
        )

    def jobs(self, action: Mapping[str, Any]) -> builtins.list[Any]:
        """The action's Jobs, one per attempt, by attempt."""
        meta = action["metadata"]
        jobs = self.batch.list_namespaced_job(
            meta["namespace"], label_selector=f"{LABEL_ACTION_UID}={meta['uid']}"
        ).items
        return sorted(jobs, key=lambda j: int((j.metadata.labels or {}).get(LABEL_ATTEMPT, 0)))

    def pods(self, action: Mapping[str, Any], attempt: int | None = None) -> builtins.list[Any]:
        """Pods of one attempt (the current one when None), newest last."""
        meta = action["metadata"]
        status = action.get("status") or {}
        number = attempt if attempt is not None else int(status.get("attempts") or 0)
        selector = f"{LABEL_ACTION_UID}={meta['uid']},{LABEL_ATTEMPT}={number}"
        pods = self.core.list_namespaced_pod(meta["namespace"], label_selector=selector).items
        return sorted(pods, key=lambda p: str(p.metadata.creation_timestamp))

    def pod_log(self, pod: Any, *, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        """Lines of the pod's first container, from the API server (which asks the node)."""
        kwargs: dict[str, Any] = {"follow": follow, "_preload_content": False}
        if tail is not None:
            kwargs["tail_lines"] = tail
        container = pod.spec.containers[0].name
        try:
            response = self.core.read_namespaced_pod_log(
                pod.metadata.name, pod.metadata.namespace, container=container, **kwargs
            )
        except ApiException as exc:
            raise api_error_of(exc) from None
        try:
            yield from iter_resp_lines(response)
        finally:
            response.close()
            response.release_conn()
