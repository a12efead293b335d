"""Who may start now: the operator's in-memory view of every action and queue.

The pure choice (priority, then age, within free slots) is
``asyncaction.lifecycle.admission.select_admissions``; this module keeps the inputs it
needs, fed by watch events, and remembers grants that the API server has not yet
reflected, so two actions racing for the last slot of a queue cannot both win. After a
restart the view is rebuilt from the actions' statuses: STARTING and RUNNING actions
hold their slots, so nothing is over-admitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncaction.api.names import DEFAULT_QUEUE
from asyncaction.api.phases import ACTIVE_PHASES, Phase
from asyncaction.lifecycle.admission import Candidate, select_admissions
from asyncaction.timeutil import parse_time

QueueKey = tuple[str, str]  # (namespace, queue name)


@dataclass(frozen=True)
class ActionSummary:
    uid: str
    namespace: str
    name: str
    queue: str
    priority: int
    created_at: datetime
    phase: Phase | None
    suspended: bool
    not_before: datetime | None  # startAt or nextAttemptAt, whichever is later

    @property
    def key(self) -> QueueKey:
        return (self.namespace, self.queue)

    def waiting_at(self, now: datetime) -> bool:
        return (
            self.phase is Phase.QUEUED
            and not self.suspended
            and (self.not_before is None or self.not_before <= now)
        )


@dataclass(frozen=True)
class QueueLimits:
    max_concurrent: int | None
    suspended: bool = False


def summarize(obj: Mapping[str, Any]) -> ActionSummary:
    meta = obj.get("metadata", {})
    spec = obj.get("spec", {}) or {}
    status = obj.get("status", {}) or {}
    phase = status.get("phase")
    times = [parse_time(spec.get("startAt")), parse_time(status.get("nextAttemptAt"))]
    present = [t for t in times if t is not None]
    return ActionSummary(
        uid=meta["uid"],
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        queue=spec.get("queue") or DEFAULT_QUEUE,
        priority=int(spec.get("priority") or 0),
        created_at=parse_time(meta.get("creationTimestamp")) or datetime.now(UTC),
        phase=Phase(phase) if isinstance(phase, str) and phase in Phase.__members__ else None,
        suspended=bool(spec.get("suspend")) or bool(spec.get("abort")),
        not_before=max(present) if present else None,
    )


class Admissions:
    def __init__(self, default_max_concurrent: int = 0) -> None:
        self._default = QueueLimits(default_max_concurrent or None)
        self._actions: dict[str, ActionSummary] = {}
        self._queues: dict[QueueKey, QueueLimits] = {}
        self._granted: dict[str, QueueKey] = {}

    def observe_action(self, obj: Mapping[str, Any], *, deleted: bool = False) -> ActionSummary:
        summary = summarize(obj)
        if deleted:
            self._actions.pop(summary.uid, None)
            self._granted.pop(summary.uid, None)
        else:
            self._actions[summary.uid] = summary
            if summary.phase is not Phase.QUEUED:
                self._granted.pop(summary.uid, None)
        return summary

    def observe_queue(self, obj: Mapping[str, Any], *, deleted: bool = False) -> None:
        meta = obj.get("metadata", {})
        key = (meta.get("namespace", "default"), meta["name"])
        if deleted:
            self._queues.pop(key, None)
            return
        spec = obj.get("spec", {}) or {}
        limit = spec.get("maxConcurrent")
        self._queues[key] = QueueLimits(
            int(limit) if limit else None, suspended=bool(spec.get("suspend"))
        )

    def limits(self, key: QueueKey) -> QueueLimits:
        return self._queues.get(key, self._default)

    def active_count(self, key: QueueKey) -> int:
        active = {
            uid
            for uid, summary in self._actions.items()
            if summary.key == key and summary.phase in ACTIVE_PHASES
        }
        active.update(uid for uid, granted_key in self._granted.items() if granted_key == key)
        return len(active)

    def try_admit(self, uid: str, now: datetime) -> bool:
        """Grant ``uid`` a slot if the pure selection picks it now."""
        summary = self._actions.get(uid)
        if summary is None or uid in self._granted:
            return uid in self._granted
        key = summary.key
        candidates = [
            Candidate(uid=s.uid, priority=s.priority, created_at=s.created_at, queue=s.queue)
            for s in self._actions.values()
            if s.key == key and s.waiting_at(now) and s.uid not in self._granted
        ]
        limits = self.limits(key)
        chosen = select_admissions(
            candidates,
            active_count=self.active_count(key),
            max_concurrent=limits.max_concurrent,
            queue_suspended=limits.suspended,
        )
        if uid in chosen:
            self._granted[uid] = key
            return True
        return False

    def release(self, uid: str) -> None:
        """A grant that was not used (the status write lost a race): give the slot back."""
        self._granted.pop(uid, None)

    def phase_counts(self, key: QueueKey) -> dict[str, int]:
        """Actions of a queue by phase (for the ActionQueue's status)."""
        counts: dict[str, int] = {}
        for summary in self._actions.values():
            if summary.key == key and summary.phase is not None:
                counts[summary.phase.value] = counts.get(summary.phase.value, 0) + 1
        return counts

    def waiting_in(self, key: QueueKey) -> list[str]:
        return [s.uid for s in self._actions.values() if s.key == key and s.phase is Phase.QUEUED]
