"""What the AsyncAction controller reads of one action, from the informers' caches only.

Kept apart from the controller (``controllers.actions``) because these reads answer
one question each and decide nothing: the action's spec with its template's defaults
(those its running attempt recorded on its Job, so a template edit waits for the next
attempt), its current Job with that Job's Pods, whether any of its Pods still lives,
and the ``Member`` admission keeps for it. No API call is made here: a reconcile and
an event handler read the same cached view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncaction.api.names import DEFAULT_QUEUE
from asyncaction.api.phases import ACTIVE_PHASES
from asyncaction.controllers.admission import Admissions, Member
from asyncaction.controllers.caches import BY_ACTION_UID, BY_JOB, Caches, owned_by, pod_is_live
from asyncaction.lifecycle import JobView, admission_view_from, is_eligible, job_view_from
from asyncaction.manifests import pod_template_for, recorded_defaults, resolve_spec_shared
from asyncaction.manifests.templates import ATTEMPT_FIELDS
from asyncaction.settings import OperatorSettings
from asyncaction.timeutil import utcnow

ACTIVE_VALUES = {phase.value for phase in ACTIVE_PHASES}


class ActionReads:
    """Reads of an action's cached view (see the module docstring)."""

    def __init__(self, caches: Caches, admissions: Admissions, settings: OperatorSettings) -> None:
        self.caches = caches
        self.admissions = admissions
        self.settings = settings

    def template_spec_of(self, action: Mapping[str, Any]) -> dict[str, Any] | None:
        """The live spec of the action's ActionTemplate, when it uses one."""
        spec = action.get("spec") or {}
        ref = spec.get("templateRef")
        if spec.get("template") or not ref:
            return None
        template = self.caches.templates.get(f"{action['metadata']['namespace']}/{ref}")
        return (template or {}).get("spec") if template else None

    def resolved_spec(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """The action's spec with its template's defaults: those its current attempt
        recorded on its Job while one runs (a template edit waits for the next attempt),
        the live template's otherwise; ``retention`` defaults to its ActionQueue's, then
        the operator's. For reading only: it shares the cached values."""
        template_spec = self.template_spec_of(action)
        status = action.get("status") or {}
        if status.get("phase") in ACTIVE_VALUES and status.get("jobName"):
            job = self.caches.jobs.get(f"{action['metadata']['namespace']}/{status['jobName']}")
            recorded = recorded_defaults(job) if job is not None else None
            if recorded is not None and owned_by(job or {}, action["metadata"]["uid"]):
                rest = {k: v for k, v in (template_spec or {}).items() if k not in ATTEMPT_FIELDS}
                template_spec = {**rest, **recorded}
        spec = resolve_spec_shared(action.get("spec") or {}, template_spec)
        if spec.get("retention") is None:
            queue = self.caches.queues.get(
                f"{action['metadata']['namespace']}/{spec.get('queue') or DEFAULT_QUEUE}"
            )
            retention = ((queue or {}).get("spec") or {}).get("retention")
            # the queue's default, else the operator's (ASYNCACTION_DEFAULT_RETENTION)
            spec["retention"] = retention or self.settings.default_retention
        return spec

    def pods_live(self, uid: str) -> bool:
        """Some Pod of the action still runs, may start, or terminates."""
        return any(pod_is_live(pod) for pod in self.caches.pods.by_index(BY_ACTION_UID, uid))

    def member(self, action: Mapping[str, Any]) -> Member:
        """The action as admission keeps it: its queue, priority, phase, eligibility."""
        spec = self.resolved_spec(action)
        meta = action["metadata"]
        view = admission_view_from(
            {**action, "spec": spec}, has_handler=pod_template_for(spec) is not None
        )
        # While its attempt holds a slot, an action counts in the queue it was admitted
        # to (status.queue), not the one spec.queue names now.
        holding = view.phase in ACTIVE_PHASES
        lingering = not holding and self.pods_live(meta["uid"])
        # A finished one keeps the queue it ran in (contract-extensions.md), in the
        # queue's phase counts as in the metrics: it moved to whatever spec.queue named.
        ran_in = holding or (view.phase is not None and view.phase.is_terminal)
        queue = (meta["namespace"], (view.status_queue if ran_in else None) or view.queue)
        if lingering:  # Pods of an ended attempt: still the queue that admitted it, as this
            # process admitted it or, after a restart, as the status recorded it
            admitted = self.admissions.queue_of(meta["uid"])
            recorded = (meta["namespace"], view.status_queue) if view.status_queue else None
            queue = admitted or recorded or queue
        return Member(
            uid=meta["uid"],
            queue=queue,
            priority=int(spec.get("priority") or 0),
            created_at=view.created_at or utcnow(),
            phase=view.phase,
            # one being deleted (a finalizer keeps it) starts nothing: in the heap it took
            # the next free slot, and its reconcile, which returns at once, held it
            eligible=is_eligible(view, utcnow()) and not meta.get("deletionTimestamp"),
            lingering=lingering,
        )

    def job_of(self, action: Mapping[str, Any]) -> JobView | None:
        """The current attempt's Job, only when this action owns it, with its Pods."""
        job_name = (action.get("status") or {}).get("jobName")
        if not job_name:
            return None
        key = f"{action['metadata']['namespace']}/{job_name}"
        job = self.caches.jobs.get(key)
        if job is None or not owned_by(job, action["metadata"]["uid"]):
            return None
        return job_view_from(job, self.caches.pods.by_index(BY_JOB, key))
