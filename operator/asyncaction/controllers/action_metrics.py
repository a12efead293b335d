"""What each change of an action counts: the operator's action metrics.

The runtime's ``Metrics`` (``asyncaction.runtime.metrics``) knows reconciles, work
queues and API requests; these are the action controller's own, built once per
registry with ``Metrics.extension`` (``ActionMetrics.of``), so counters and what this
process saw of each action survive a manager restarted after losing its Lease. The
action informer's handler calls ``observe_transition`` with each cached change; the
admission loop calls ``admission``; the phase gauge is read at scrape time from counts
the action cache keeps (``phase_family``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from asyncaction.runtime.metrics import PREFIX, Metrics
from asyncaction.timeutil import parse_time, utcnow

WAIT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
EXECUTION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


class ActionMetrics:
    """Phase transitions, admission waits and decisions, run times and attempts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        p = PREFIX
        self.transitions = Counter(
            f"{p}phase_transitions", "Phase changes of actions seen by the operator, written "
            "by the operator or by the hook.", ["namespace", "queue", "from_phase", "to_phase"],
            registry=r,
        )  # fmt: skip
        self.admission_wait = Histogram(
            f"{p}admission_wait_time_seconds", "Time from QUEUED (or the end of a retry "
            "backoff, or startAt) to STARTING; Kueue's kueue_admission_wait_time_seconds.",
            ["namespace", "queue"], buckets=WAIT_BUCKETS, registry=r,
        )  # fmt: skip
        self.execution_time = Histogram(
            f"{p}execution_time_seconds", "Time from the first start to the terminal phase, "
            "paused time excluded, by outcome (the terminal phase).",
            ["namespace", "queue", "outcome"], buckets=EXECUTION_BUCKETS, registry=r,
        )  # fmt: skip
        self.attempts = Counter(
            f"{p}attempts", "Finished attempts by result (succeeded, failed, stopped) and "
            "reason (the cause of a failure).", ["result", "reason"], registry=r,
        )  # fmt: skip
        self.admission_attempts = Counter(
            f"{p}admission_attempts", "Admission decisions for eligible actions: success or "
            "inadmissible (Kueue's kueue_admission_attempts_total).", ["result"], registry=r,
        )  # fmt: skip
        self._queued_since: dict[str, datetime] = {}
        self._started_seen: dict[str, datetime] = {}  # first start this process saw
        # the labelled children made for each (namespace, queue), removed with it
        self._children: dict[tuple[str, str], set[tuple[Counter | Histogram, tuple[str, ...]]]] = {}
        # False on a warm standby: it sees the leader's transitions and keeps the times
        # above (its histograms are right once it leads), but counts nothing, or a sum
        # over the replicas would count each transition twice.
        self.counting = True

    def _child(self, metric: Counter | Histogram, namespace: str, queue: str, *rest: str) -> Any:
        """``metric.labels(namespace, queue, *rest)``, remembered for ``forget_queue``."""
        labels = (namespace, queue, *rest)
        self._children.setdefault((namespace, queue), set()).add((metric, labels))
        return metric.labels(*labels)

    def forget_queue(self, namespace: str, queue: str) -> None:
        """No action of this queue is left: its series go. They stayed for every
        namespace and queue name ever seen (a queue per pull request, CI's throw-away
        namespaces): some 45 series each, for good, in memory and in every scrape
        (found by a review: 45,000 series after 1,000 such queues). A counter that comes
        back starts at 0, which rate() reads as a reset."""
        for metric, labels in self._children.pop((namespace, queue), set()):
            metric.remove(*labels)

    @staticmethod
    def of(metrics: Metrics) -> ActionMetrics:
        """The action metrics on ``metrics``' registry (made on first use)."""
        return metrics.extension("actions", ActionMetrics)

    def admission(self, admitted: bool) -> None:
        self.admission_attempts.labels("success" if admitted else "inadmissible").inc()

    def observe_transition(
        self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        """Count a phase change between two cached versions of one action (``old`` None:
        first seen, e.g. on a relist: nothing changed that this process saw; ``new``
        None: deleted, forget it)."""
        if new is None:
            uid = str(((old or {}).get("metadata") or {}).get("uid", ""))
            self._queued_since.pop(uid, None)
            self._started_seen.pop(uid, None)
            return
        if old is None:
            return
        before = _phase(old)
        after = _phase(new)
        if before == after or after is None:
            return
        meta = new.get("metadata") or {}
        namespace = str(meta.get("namespace", ""))
        status = new.get("status") or {}
        queue = str(status.get("queue") or (new.get("spec") or {}).get("queue") or "default")
        uid = str(meta.get("uid", ""))
        if self.counting:
            self._child(self.transitions, namespace, queue, before or "", after).inc()
        now = utcnow()
        if after in ("QUEUED", "SCHEDULED"):
            self._queued_since[uid] = now
        if after == "STARTING":
            self._admitted(old, new, namespace, queue, uid, now)
            self._started_seen.setdefault(uid, now)
        if before in ("STARTING", "RUNNING") and self.counting:
            self._attempt_ended(old, new, after)
        if after in TERMINAL:
            self._queued_since.pop(uid, None)
            # As this process saw them (sub-second), else the status' times (whole seconds).
            seen = self._started_seen.pop(uid, None)
            started = seen or parse_time(status.get("startedAt"))
            finished = now if seen else parse_time(status.get("finishedAt")) or now
            if started is not None and self.counting:
                paused = float(status.get("pausedSeconds") or 0.0)
                seconds = max(0.0, (finished - started).total_seconds() - paused)
                self._child(self.execution_time, namespace, queue, after).observe(seconds)

    def _admitted(
        self,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        namespace: str,
        queue: str,
        uid: str,
        now: datetime,
    ) -> None:
        """The wait ends: it began at the latest of queuedAt, the end of a retry's
        backoff, startAt, and the moment this process saw the action enter QUEUED."""
        status = new.get("status") or {}
        marks = [
            parse_time(status.get("queuedAt")),
            parse_time((old.get("status") or {}).get("nextAttemptAt")),
            parse_time((new.get("spec") or {}).get("startAt")),
            self._queued_since.pop(uid, None),
            parse_time((new.get("metadata") or {}).get("creationTimestamp")),
        ]
        since = max((m for m in marks if m is not None and m <= now), default=None)
        if since is not None and self.counting:
            wait = (now - since).total_seconds()
            self._child(self.admission_wait, namespace, queue).observe(wait)

    def _attempt_ended(self, old: Mapping[str, Any], new: Mapping[str, Any], after: str) -> None:
        """Count the attempt that ended. A failed one by its cause (``lastFailureReason``:
        JobFailed, StartTimeout...); the retry's Ready reason said only "Queued", and the
        last attempt's error "BackoffLimitExceeded", whatever had gone wrong."""
        status = new.get("status") or {}
        # the cause, when this very change recorded a failed attempt (failures grew); a
        # deadline's TIMEOUT after an earlier failure is DeadlineExceeded, not that cause
        failed_now = int(status.get("failures") or 0) > int(
            (old.get("status") or {}).get("failures") or 0
        )
        cause = str(status.get("lastFailureReason") or "") if failed_now else ""
        reason = cause or str((status.get("error") or {}).get("reason") or "")
        if after == "SUCCEEDED":
            self.attempts.labels("succeeded", "Succeeded").inc()
        elif after in ("FAILED", "TIMEOUT"):
            self.attempts.labels("failed", reason or after.title()).inc()
        elif after == "ABORTED":
            self.attempts.labels("stopped", "Aborted").inc()
        elif after == "PAUSED":
            self.attempts.labels("stopped", "Paused").inc()
        elif after == "QUEUED" and failed_now:
            self.attempts.labels("failed", cause or ready_reason(status) or "Failed").inc()


TERMINAL = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"})


def _phase(action: Mapping[str, Any]) -> str | None:
    phase = (action.get("status") or {}).get("phase")
    return str(phase) if phase else None


def ready_reason(status: Mapping[str, Any]) -> str | None:
    """The reason of the ``Ready`` condition (why an action waits, or why it ended)."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            reason = condition.get("reason")
            return str(reason) if reason else None
    return None


def phase_labels(action: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(namespace, queue, phase)`` of one action in ``asyncaction_actions``."""
    status = action.get("status") or {}
    return (
        str((action.get("metadata") or {}).get("namespace", "")),
        str(status.get("queue") or (action.get("spec") or {}).get("queue") or "default"),
        str(status.get("phase") or "NEW"),
    )


def actions_by_phase(actions: Iterable[Mapping[str, Any]]) -> GaugeMetricFamily:
    """``asyncaction_actions{namespace,queue,phase}``: how many actions are in each phase
    (Kueue's pending_workloads, per phase). An action with no phase yet counts as NEW."""
    counts: dict[tuple[str, str, str], int] = {}
    for action in actions:
        key = phase_labels(action)
        counts[key] = counts.get(key, 0) + 1
    return phase_family(counts)


def oldest_wait_family(waits: Mapping[tuple[str, str], float]) -> GaugeMetricFamily:
    """``asyncaction_queue_oldest_wait_seconds``: how long the longest-waiting eligible
    action of each admitting queue has waited, read at scrape time (0 series: none
    waits)."""
    family = GaugeMetricFamily(
        "asyncaction_queue_oldest_wait_seconds",
        "Seconds the longest-waiting eligible QUEUED action of the queue has waited for "
        "a slot (queues not suspended); grows while the queue admits nothing.",
        labels=["namespace", "queue"],
    )
    for (namespace, queue), seconds in sorted(waits.items()):
        family.add_metric([namespace, queue], seconds)
    return family


def phase_family(counts: Mapping[tuple[str, str, str], int]) -> GaugeMetricFamily:
    """``asyncaction_actions`` from counts by ``phase_labels`` (kept as the cache changes:
    walking 100,000 actions on each scrape held the event loop)."""
    family = GaugeMetricFamily(
        f"{PREFIX}actions",
        "Actions by namespace, queue and phase (NEW: not yet seen by a reconcile).",
        labels=["namespace", "queue", "phase"],
    )
    for labels, count in sorted(counts.items()):
        family.add_metric(list(labels), count)
    return family
