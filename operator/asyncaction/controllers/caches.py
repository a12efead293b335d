"""The caches of the action controller: what each keeps of an object, and its indexes.

Each informer stores a *summary* (``summarize_*``), only what a reconcile reads, so the
operator's memory grows with the number of actions by a few hundred bytes each, and a
change that only touches what no decision reads (a progress report, the report time,
a log line) leaves the summary as it was: the informer then notifies no handler, and
the write costs no reconcile (no echo reconciles).

``Caches.accept`` is the one way a write's answer enters a cache. A deleted object must
never come back: an answer that arrives after the object's DELETED event (the write
raced with a deletion) is dropped, by the uid the deletion left as a tombstone, and an
update's answer (a status patch) is taken only while the cache still holds that uid.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from asyncaction.api.names import (
    ANNOTATION_KEY_ATTEMPT,
    ANNOTATION_SCHEDULED_AT,
    LABEL_ACTION_UID,
)
from asyncaction.controllers.action_metrics import phase_family, phase_labels
from asyncaction.controllers.compact import SharedValues, interned
from asyncaction.manifests import ANNOTATION_TEMPLATE_DEFAULTS
from asyncaction.runtime import Informers

Obj = dict[str, Any]

# Index names of the caches.
BY_UID = "uid"
BY_TEMPLATE = "templateRef"
BY_ACTION_UID = "action-uid"
BY_OWNER_UID = "owner-uid"
BY_JOB = "job-name"


def uid_of(obj: Mapping[str, Any]) -> str | None:
    uid = (obj.get("metadata") or {}).get("uid")
    return str(uid) if uid else None


def _uid(obj: Mapping[str, Any]) -> Iterable[str]:
    uid = uid_of(obj)
    return [uid] if uid else []


def _template_ref(obj: Mapping[str, Any]) -> Iterable[str]:
    ref = (obj.get("spec") or {}).get("templateRef")
    return [f"{obj['metadata']['namespace']}/{ref}"] if ref else []


def action_uid_label(obj: Mapping[str, Any]) -> Iterable[str]:
    uid = ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_ACTION_UID)
    return [uid] if uid else []


def owner_uids(obj: Mapping[str, Any]) -> Iterable[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [ref["uid"] for ref in refs if ref.get("controller") and ref.get("uid")]


def _job_name_label(obj: Mapping[str, Any]) -> Iterable[str]:
    meta = obj.get("metadata") or {}
    job = (meta.get("labels") or {}).get("job-name")
    return [f"{meta.get('namespace')}/{job}"] if job else []


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return uid in owner_uids(obj)


def key_attempt_of(secret: Mapping[str, Any]) -> int | None:
    """The attempt whose key a Secret holds (None: unknown, e.g. a random key of old)."""
    value = ((secret.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_KEY_ATTEMPT)
    return int(value) if value is not None and str(value).isdigit() else None


FINISHED_POD_PHASES = {"Succeeded", "Failed"}


def pod_is_live(pod: Mapping[str, Any]) -> bool:
    """A Pod that still runs, may still start, or is terminating: it uses its slot."""
    return (pod.get("status") or {}).get("phase") not in FINISHED_POD_PHASES


# -- summaries -----------------------------------------------------------------------------

# What the controller never reads of an action: reports are the hook's business. Leaving
# them out is what makes a progress report cost no reconcile.
REPORT_FIELDS = (
    "result",
    "logTail",
    "statusDetails",
    "outputs",
    "pendingUploads",
    "progress",
    "lastReportAt",
)
# What a finished action no longer needs: no Job will be built from it again.
_BUILD_FIELDS = ("template", "request", "arguments", "inputs", "outputs")
_STREAMS = ("stdin", "stdout", "stderr")
_ACTION_META = (
    "name",
    "namespace",
    "uid",
    "labels",  # Kueue's queue-name and priority-class labels go on to the Job
    "generation",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
)
_SHARED_META = ("namespace", "creationTimestamp")
TERMINAL_VALUES = {"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"}
# Equal pod templates and conditions of the cached actions, kept once (``compact``).
SHARED = SharedValues()


def summarize_action(action: Obj) -> Obj:
    """The part of an action a reconcile reads; a finished one keeps no pod template.

    Short strings are interned and a pod template or conditions equal to another
    action's are that action's object (``controllers.compact``): memory at 100,000.
    The archive, which wants the whole record, reads the action fresh once.
    """
    meta = action.get("metadata") or {}
    spec = {k: interned(v) for k, v in (action.get("spec") or {}).items()}
    status = {
        k: interned(v) for k, v in (action.get("status") or {}).items() if k not in REPORT_FIELDS
    }
    if status.get("phase") in TERMINAL_VALUES:
        if spec.get("template"):
            # its own pod template made templateRef ignored while it ran; without the
            # template below, the reads would take the template's defaults from now on
            # (its retention and TTL deleted the finished action: found by a review)
            spec.pop("templateRef", None)
        for name in (*_BUILD_FIELDS, *_STREAMS):
            spec.pop(name, None)
    elif isinstance(spec.get("template"), dict):
        spec["template"] = SHARED.json(spec["template"])  # the same for many actions
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        status["conditions"] = SHARED.conditions(conditions)
    summary_meta = {key: meta[key] for key in _ACTION_META if key in meta}
    for key in _SHARED_META:  # name, uid and resourceVersion are each action's own
        if key in summary_meta:
            summary_meta[key] = interned(summary_meta[key])
    # A schedule's run: its owner and slot, read by the schedule controller from this
    # cache (``controllers.schedules``), which keeps no second cache of the actions.
    if meta.get("ownerReferences"):
        summary_meta["ownerReferences"] = meta["ownerReferences"]
    slot = (meta.get("annotations") or {}).get(ANNOTATION_SCHEDULED_AT)
    if slot is not None:
        summary_meta["annotations"] = {ANNOTATION_SCHEDULED_AT: slot}
    return {"metadata": summary_meta, "spec": spec, "status": status}


_POD_META = ("name", "namespace", "uid", "resourceVersion", "labels", "deletionTimestamp")
_POD_STATUS = ("phase", "reason", "message", "containerStatuses", "conditions")


def summarize_pod(pod: Obj) -> Obj:
    """What the lifecycle reads of a Pod: its phase, container states and conditions."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    return {
        "metadata": {key: meta[key] for key in _POD_META if key in meta},
        "status": {key: status[key] for key in _POD_STATUS if key in status},
    }


_JOB_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "labels",
    "ownerReferences",
    "deletionTimestamp",
    "creationTimestamp",
)


def summarize_job(job: Obj) -> Obj:
    meta = job.get("metadata") or {}
    summary: Obj = {
        "metadata": {key: meta[key] for key in _JOB_META if key in meta},
        "status": job.get("status") or {},
    }
    limit = (job.get("spec") or {}).get("backoffLimit")
    if limit:  # a Job of tasks replaces killed Pods up to it (lifecycle.views)
        summary["spec"] = {"backoffLimit": limit}
    recorded = (meta.get("annotations") or {}).get(ANNOTATION_TEMPLATE_DEFAULTS)
    if recorded is not None:
        summary["metadata"]["annotations"] = {ANNOTATION_TEMPLATE_DEFAULTS: recorded}
    return summary


_SECRET_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "labels",
    "annotations",
    "ownerReferences",
    "deletionTimestamp",
)


def summarize_secret(secret: Obj) -> Obj:
    """Metadata only: key material is never kept in the operator's memory."""
    meta = secret.get("metadata") or {}
    return {"metadata": {key: meta[key] for key in _SECRET_META if key in meta}}


# -- deletions -----------------------------------------------------------------------------


@dataclass
class Tombstones:
    """Uids of objects whose deletion the watch delivered, for as long as a write's
    answer can still be in flight (a request's retries last well under ``keep_seconds``);
    at most ``limit`` of them, the oldest forgotten first."""

    keep_seconds: float = 600.0
    limit: int = 20_000
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def add(self, uid: str) -> None:
        self._seen[uid] = self.clock()
        self._seen.move_to_end(uid)
        self._prune()

    def __contains__(self, uid: object) -> bool:
        self._prune()
        return uid in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def _prune(self) -> None:
        horizon = self.clock() - self.keep_seconds
        while self._seen and (
            len(self._seen) > self.limit or next(iter(self._seen.values())) < horizon
        ):
            self._seen.popitem(last=False)


@dataclass
class Caches:
    """The informers one operator process runs (see ``controllers.manager``)."""

    actions: Informers
    jobs: Informers
    pods: Informers
    secrets: Informers
    templates: Informers
    queues: Informers
    deleted: Tombstones = field(default_factory=Tombstones)

    def all(self) -> list[Informers]:
        return [self.actions, self.jobs, self.pods, self.secrets, self.templates, self.queues]

    def add_indexes(self) -> None:
        """The indexes the action controller reads, and the tombstone of every deletion."""
        self.actions.add_index(BY_UID, _uid)
        self.actions.add_index(BY_TEMPLATE, _template_ref)
        self.jobs.add_index(BY_ACTION_UID, action_uid_label)
        self.pods.add_index(BY_JOB, _job_name_label)
        self.pods.add_index(BY_ACTION_UID, action_uid_label)
        self.secrets.add_index(BY_OWNER_UID, owner_uids)
        for cache in (self.actions, self.jobs, self.secrets):
            cache.add_handler(self._on_change)

    def _on_change(self, event: str, new: Obj | None, old: Obj | None) -> None:
        if new is None and old is not None:
            uid = uid_of(old)
            if uid:
                self.deleted.add(uid)

    def accept(self, cache: Informers, answer: Obj, *, update: bool) -> bool:
        """Put a write's answer in ``cache`` unless the object was deleted meanwhile.

        ``update``: the answer is to a patch of an object read from this cache, so it
        counts only while the cache still holds that very object (same uid).
        """
        uid = uid_of(answer)
        if uid is None or uid in self.deleted:
            return False
        if update:
            return cache.put_if_held(answer)
        cache.put(answer)
        return True


@dataclass(frozen=True)
class LiveUids:
    """The uids a cache (one with the ``BY_UID`` index) holds at the moment of asking.

    What admission is repaired against: a lookup in the index, checked against the
    object, instead of a set of 100,000 uids built in one go that would be stale as
    soon as the repair yields to the loop.
    """

    cache: Informers

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and any(
            uid_of(obj) == uid for obj in self.cache.by_index(BY_UID, uid)
        )


@dataclass
class PhaseCounts:
    """Actions by ``(namespace, queue, phase)``, kept by the action cache's handler, for
    the ``asyncaction_actions`` gauge: a scrape reads these counts instead of walking
    every cached action (77 ms at 100,000, on the event loop)."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def on_change(self, event: str, new: Obj | None, old: Obj | None) -> None:
        if old is not None:
            key = phase_labels(old)
            self.counts[key] -= 1
            if self.counts[key] <= 0:
                del self.counts[key]
        if new is not None:
            self.counts[phase_labels(new)] += 1

    def family(self) -> GaugeMetricFamily:
        return phase_family(self.counts)
