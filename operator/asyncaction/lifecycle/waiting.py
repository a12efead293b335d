"""Why an action waits, written where people look (pure).

While an action is QUEUED its ``Ready`` condition says what holds it: its queue is full
(with the limit), or suspended, or the ActionTemplate it names does not exist (yet).
While it is STARTING and its Pod cannot start, the Pod's waiting reason and message
(``ImagePullBackOff``, ``ErrImageNeverPull``, ``Unschedulable`` with the scheduler's
message, ``CreateContainerConfigError``) go into the conditions and into
``status.error``, which kubectl's Reason column shows; reaching RUNNING (or any
transition) clears it.

``explain_waiting`` post-processes what ``lifecycle.reconcile`` decided: it adds the
explanation only when it differs from what the status already says, so it is written
once per change, never on every reconcile. A position in the queue is not written here:
it would change with every admission; ``asyncaction describe`` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.conditions import conditions_for
from asyncaction.lifecycle.effects import Decision
from asyncaction.lifecycle.failures import REPORTED_FAILURE
from asyncaction.lifecycle.views import ActionView, JobState, JobView

QUEUE_FULL = "QueueFull"
QUEUE_SUSPENDED = "QueueSuspended"
TEMPLATE_NOT_FOUND = "TemplateNotFound"


@dataclass(frozen=True)
class Waiting:
    reason: str  # a CamelCase token, as Kubernetes reasons are
    message: str


def queue_block(
    namespace: str, queue: str, *, suspended: bool, limit: int | None, active: int
) -> Waiting | None:
    """Why admission holds an eligible action in ``namespace/queue`` (None: nothing known)."""
    if suspended:
        message = f"queue {namespace}/{queue} is suspended: it admits nothing"
        return Waiting(QUEUE_SUSPENDED, message)
    if limit is not None and active >= limit:
        return Waiting(
            QUEUE_FULL,
            f"queue {namespace}/{queue} is full: {active} of {limit} actions are "
            "starting or running",
        )
    return None


def template_not_found(namespace: str, name: str, grace_seconds: float) -> Waiting:
    """Why an action that names a missing ActionTemplate waits. It fails ``NoHandler``
    once the template has been missing for ``grace_seconds`` (a template re-created, or
    applied just after its actions, wins meanwhile). No countdown in the message: it is
    written once, not on every check."""
    return Waiting(
        TEMPLATE_NOT_FOUND,
        f"ActionTemplate {namespace}/{name} does not exist: the action fails (NoHandler) "
        f"if it is still missing {grace_seconds:g} s after it was first found missing",
    )


def pod_waiting(job: JobView | None) -> Waiting | None:
    """Why the attempt's Pod has not started, from the Job's view of its Pods."""
    if job is None or job.state is not JobState.PENDING or not job.waiting_reason:
        return None
    reason, sep, message = job.waiting_reason.partition(": ")
    return Waiting(reason, message if sep else reason)


def _ready(view: ActionView) -> tuple[str | None, str | None]:
    for condition in view.conditions:
        if condition.get("type") == "Ready":
            return condition.get("reason"), condition.get("message")
    return None, None


def _conditions(
    view: ActionView, phase: Phase, waiting: Waiting, now: datetime
) -> list[dict[str, Any]]:
    """``phase``'s conditions, saying why the action waits.

    From the view's own conditions and generation, even when ``reconcile`` wrote
    conditions too: it computes them from the same previous conditions, for the same
    phase and ``now``, so each condition keeps the same lastTransitionTime either way, and
    the only generation it ever records is the view's.
    """
    return conditions_for(
        phase,
        reason=waiting.reason,
        message=waiting.message,
        now=now,
        observed_generation=view.generation,
        previous=view.conditions,
    )


def explain_waiting(
    view: ActionView,
    job: JobView | None,
    decision: Decision,
    *,
    now: datetime,
    blocked: Waiting | None = None,
) -> Decision:
    """``decision`` with the reason the action waits added to its status, when new."""
    status = dict(decision.status)
    written = status.get("phase")
    phase = Phase(written) if isinstance(written, str) else view.phase
    if phase is Phase.QUEUED and blocked is not None:
        if written is None and _ready(view) == (blocked.reason, blocked.message):
            return decision  # already says so
        if written is None and view.next_attempt_at is not None and view.next_attempt_at > now:
            return decision  # backing off: the retry's message says when
        status["conditions"] = _conditions(view, Phase.QUEUED, blocked, now)
        status["message"] = blocked.message
        return replace(decision, status=status)
    if phase is Phase.STARTING and written is None:
        waiting = pod_waiting(job)
        if waiting is None:
            return decision
        error = dict(view.error or {})
        if (error.get("reason"), error.get("message")) == (waiting.reason, waiting.message):
            return decision
        status["conditions"] = _conditions(view, Phase.STARTING, waiting, now)
        status["error"] = {"reason": waiting.reason, "message": waiting.message}
        return replace(decision, status=status)
    stale = view.error and view.error.get("reason") != REPORTED_FAILURE
    if phase is Phase.RUNNING and written is None and stale:
        # The Pod's old waiting reason, left when the job itself reported RUNNING.
        return replace(decision, status={**status, "error": None})
    return decision
