"""The ActionQueue controller: limits into admission, counts into the queue's status.

A queue's spec (``maxConcurrent``, ``suspend``) goes to ``Admissions`` as soon as the
watch delivers it, and a freed or added slot wakes only the actions it admits. The
status (``phaseCounts``, ``active``) is written through its own work queue: a change of
counts schedules the queue's key a little later, so a burst of changes in one queue
costs one write, and a write happens only when the cached status differs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asyncaction.controllers.admission import Admissions, QueueKey, QueueLimits
from asyncaction.kube import ApiError, KubeClient, paths
from asyncaction.runtime import Informers, Metrics, WorkQueue

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def limits_of(queue: Obj) -> QueueLimits:
    spec = queue.get("spec") or {}
    limit = spec.get("maxConcurrent")
    return QueueLimits(int(limit) if limit else None, suspended=bool(spec.get("suspend")))


def _uid(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("uid")


def status_patch(current: Obj, counts: dict[str, int], active: int) -> Obj | None:
    """The merge patch that makes ``current`` status say ``counts``/``active``, or None."""
    if current.get("phaseCounts") == counts and current.get("active") == active:
        return None
    removed = {phase: None for phase in current.get("phaseCounts") or {} if phase not in counts}
    return {"status": {"phaseCounts": {**removed, **counts}, "active": active}}


class QueueController:
    def __init__(
        self,
        kube: KubeClient,
        queues: Informers,
        admissions: Admissions,
        work: WorkQueue,
        metrics: Metrics,
        wake_granted: Callable[[QueueKey], None],
        status_delay: float = 1.0,
    ) -> None:
        self.kube = kube
        self.queues = queues
        self.admissions = admissions
        self.work = work
        self.metrics = metrics
        self.wake_granted = wake_granted
        self.status_delay = status_delay
        queues.add_handler(self._on_queue)

    def _on_queue(self, event: str, new: Obj | None, old: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        recreated = new is not None and old is not None and _uid(new) != _uid(old)
        if new is None:
            self.admissions.set_limits(key, None)
        elif old is None or recreated or new.get("spec") != old.get("spec"):
            self.admissions.set_limits(key, limits_of(new))
        else:
            # Our own status write seen again, or someone else's (an old leader's late
            # write): the reconcile writes only when the status differs from admission's
            # counts, so a foreign one does not stay until some count changes.
            self.counts_changed(key)
            return
        self.wake_granted(key)
        self.counts_changed(key)

    def counts_changed(self, key: QueueKey) -> None:
        self.work.add_after(f"{key[0]}/{key[1]}", self.status_delay)

    async def reconcile(self, key: str) -> float | None:
        queue = self.queues.get(key)
        if queue is None:
            return None  # the implied default queue has no object to write to
        namespace, name = key.split("/", 1)
        counts = self.admissions.phase_counts((namespace, name))
        active = self.admissions.active_count((namespace, name))
        patch = status_patch(queue.get("status") or {}, counts, active)
        if patch is None:
            return None
        try:
            updated = await self.kube.patch(paths.queue_path(namespace, name, status=True), patch)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        self.metrics.inc("asyncaction_api_writes_total", {"resource": "actionqueues/status"})
        self.queues.put_if_held(updated)  # not if its DELETED event came first
        return None
