"""The ActionSchedule controller: caches in, the pure decision, writes out.

Two caches feed it: its own of the schedules, and the action controller's cache of the
actions, which keeps of each run what a schedule reads (owner, slot annotation, abort,
phase, end) and indexes runs by their schedule. A second informer for the runs (a label
selector) made the API server read every action twice at start: on Kubernetes a label
selector on a custom resource filters after reading, and at 100,000 actions that was
half of the operator's sync time (``bench/bench_scale.py``). A schedule's key is
reconciled when its spec changes, when one of its runs changes, and at the time
``lifecycle.schedule.decide`` asked for (the next slot, on the work queue's delay
heap): no polling.

A reconcile applies the decision in the crash-safe order:

1. the status (observed fields) with the schedule's resourceVersion as a precondition,
   so a replica working from a stale cache stops at a Conflict;
2. the effects: delete pruned runs, abort runs being replaced, create the slot's run
   under its derived name (an existing run of that name is adopted when this schedule
   owns it, reported otherwise), post Events named by slot;
3. ``lastScheduleTime``, only once the run exists: a slot at or before it is never
   considered again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asyncaction.api.names import ANNOTATION_SCHEDULED_AT
from asyncaction.api.phases import Phase
from asyncaction.kube import AlreadyExists, ApiError, Conflict, KubeClient, NotFound, paths
from asyncaction.lifecycle.schedule import (
    AbortRun,
    CreateRun,
    DeleteRun,
    Notify,
    RunView,
    ScheduleDecision,
    decide,
    schedule_view_from,
)
from asyncaction.manifests.runs import build_run, build_schedule_event
from asyncaction.runtime import Informers, Metrics, RateLimiter, WorkQueue, object_key
from asyncaction.runtime.indexed_cache import strip_managed_fields
from asyncaction.timeutil import parse_time, utcnow

log = logging.getLogger(__name__)
Obj = dict[str, Any]
BY_OWNER = "schedule-owner"
BY_UID = "uid"


def _owner_uid(obj: Mapping[str, Any]) -> Iterable[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r["uid"] for r in refs if r.get("controller") and r.get("kind") == "ActionSchedule"]


def _uid(obj: Mapping[str, Any]) -> Iterable[str]:
    uid = (obj.get("metadata") or {}).get("uid")
    return [uid] if uid else []


def run_view_from(action: Mapping[str, Any]) -> RunView:
    meta = action.get("metadata") or {}
    status = action.get("status") or {}
    phase = status.get("phase")
    ttl = (action.get("spec") or {}).get("ttlSecondsAfterFinished")
    return RunView(
        name=meta["name"],
        uid=meta.get("uid", ""),
        scheduled_at=parse_time((meta.get("annotations") or {}).get(ANNOTATION_SCHEDULED_AT)),
        phase=Phase(phase) if isinstance(phase, str) and phase in Phase.__members__ else None,
        finished_at=parse_time(status.get("finishedAt")),
        abort_requested=bool((action.get("spec") or {}).get("abort")),
        ttl_work_pending=ttl is not None and not status.get("childrenRemovedAt"),
    )


def status_changes(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> Obj:
    """The fields of ``wanted`` that differ from ``current`` (None: absent)."""
    return {k: v for k, v in wanted.items() if current.get(k) != v}


class ScheduleController:
    def __init__(
        self,
        kube: KubeClient,
        namespaces: Iterable[str],
        metrics: Metrics,
        actions: Informers,
        accept: Callable[[Obj], object],
        *,
        watch_timeout: int = 300,
        workers: int = 4,
    ) -> None:
        """``actions``: the action controller's cache (its summaries keep what
        ``run_view_from`` reads); ``accept``: how a write's answer enters it
        (``Caches.accept``, never for an action whose deletion was seen)."""
        self.kube = kube
        self.metrics = metrics
        self.workers = workers
        self.schedules = Informers(
            kube,
            paths.schedule_path,
            list(namespaces),
            name="actionschedules",
            transform=strip_managed_fields,
            watch_timeout=watch_timeout,
        )
        self.runs = actions
        self.accept = accept
        self.queue = WorkQueue("schedules", RateLimiter(base=0.5, cap=60.0))
        self.schedules.add_index(BY_UID, _uid)
        self.runs.add_index(BY_OWNER, _owner_uid)
        self.schedules.add_handler(self._on_schedule)
        self.runs.add_handler(self._on_run)

    def caches(self) -> list[Informers]:
        """The caches this controller starts (the actions' is the action controller's)."""
        return [self.schedules]

    async def run(self) -> None:
        await self.queue.run(self.reconcile, self.workers)

    def resync(self) -> None:
        for key in self.schedules.all_keys():
            self.queue.add(key, bulk=True)

    # -- events → keys -------------------------------------------------------------------

    def _on_schedule(self, event: str, new: Obj | None, old: Obj | None) -> None:
        if new is None:
            return  # the garbage collector removes its runs
        if old is not None and new.get("spec") == old.get("spec"):
            return  # our own status write seen again
        self.queue.add(object_key(new))

    def _on_run(self, event: str, new: Obj | None, old: Obj | None) -> None:
        """An action changed: when a schedule owns it, that schedule looks again."""
        for uid in _owner_uid(new or old or {}):
            for key in self.schedules.index_keys(BY_UID, uid):
                self.queue.add(key)

    # -- one reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        schedule = self.schedules.get(key)
        if schedule is None or schedule["metadata"].get("deletionTimestamp"):
            return None
        uid = schedule["metadata"]["uid"]
        runs = [run_view_from(r) for r in self.runs.by_index(BY_OWNER, uid)]
        decision = decide(schedule_view_from(schedule), runs, utcnow())
        log.debug("schedule %s: %s", key, decision)
        current = schedule.get("status") or {}
        changes = status_changes(current, decision.status)
        if changes and not await self._write_status(schedule, changes, precondition=True):
            return 1.0  # a newer schedule is on its way through the watch
        for effect in decision.effects:
            await self._apply(schedule, effect)
        if decision.after:
            await self._write_status(schedule, decision.after, precondition=False)
        return decision.requeue_after

    async def _write_status(self, schedule: Obj, status: Obj, *, precondition: bool) -> bool:
        meta = schedule["metadata"]
        body: Obj = {"status": status}
        if precondition:
            body["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        path = paths.schedule_path(meta["namespace"], meta["name"], status=True)
        try:
            updated = await self.kube.patch(path, body)
        except (Conflict, NotFound):
            return False
        self.metrics.inc("asyncaction_api_writes_total", {"resource": "actionschedules/status"})
        self.schedules.put_if_held(updated)  # not if its DELETED event came first
        return True

    async def _apply(self, schedule: Obj, effect: object) -> None:
        ns = schedule["metadata"]["namespace"]
        if isinstance(effect, CreateRun):
            await self._create_run(schedule, effect)
        elif isinstance(effect, AbortRun):
            await self._patch_run(ns, effect.name, {"spec": {"abort": True}})
        elif isinstance(effect, DeleteRun):
            try:  # that run, not one re-created under its name since the cache saw it
                await self.kube.delete(
                    paths.action_path(ns, effect.name), preconditions={"uid": effect.uid}
                )
                self.metrics.inc("asyncaction_api_writes_total", {"resource": "asyncactions"})
            except (NotFound, Conflict):
                pass  # gone, or another object now: the next decision sees it
        elif isinstance(effect, Notify):
            await self._notify(schedule, effect)
        else:  # pragma: no cover - a new effect without its executor
            raise TypeError(f"unknown effect {effect!r}")

    async def _patch_run(self, ns: str, name: str, body: Obj) -> None:
        try:
            updated = await self.kube.patch(paths.action_path(ns, name), body)
        except NotFound:
            return
        self.metrics.inc("asyncaction_api_writes_total", {"resource": "asyncactions"})
        self.accept(updated)

    async def _create_run(self, schedule: Obj, effect: CreateRun) -> None:
        meta = schedule["metadata"]
        ns = meta["namespace"]
        body = build_run(schedule, effect.name, effect.scheduled_at)
        try:
            created = await self.kube.create(paths.action_path(ns), body)
        except AlreadyExists:
            existing = await self.kube.get(paths.action_path(ns, effect.name))
            if meta["uid"] not in _owner_uid(existing):
                await self._notify(
                    schedule,
                    Notify(
                        "Warning",
                        "NameTaken",
                        f"{effect.name} exists and is not this schedule's: the slot is skipped",
                        effect.scheduled_at,
                    ),
                )
                return
            log.info("run %s/%s exists already: adopted", ns, effect.name)
            self.accept(existing)
            return
        self.metrics.inc("asyncaction_api_writes_total", {"resource": "asyncactions"})
        self.accept(created)

    async def _notify(self, schedule: Obj, effect: Notify) -> None:
        event = build_schedule_event(
            schedule,
            type=effect.type,
            reason=effect.reason,
            message=effect.message,
            slot=effect.slot,
            now=utcnow(),
        )
        try:
            await self.kube.create(paths.event_path(schedule["metadata"]["namespace"]), event)
            self.metrics.inc("asyncaction_api_writes_total", {"resource": "events"})
        except AlreadyExists:
            pass  # this slot's Event was posted by an earlier decision
        except ApiError as exc:  # best effort: never block the schedule on an Event
            log.warning("could not post event %s: %s", effect.reason, exc)


__all__ = ["ScheduleController", "ScheduleDecision", "run_view_from"]
