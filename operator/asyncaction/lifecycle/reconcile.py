"""The lifecycle of one action as a pure function of what is observed.

``reconcile(view, job, now=, admitted=, settings=)`` returns the status patch to write
(first), the effects to run (after), and when to look again. Called again on what it
produced, it converges: no second ``CreateJob`` for a Job that exists, no phase change
that ``transitions.can_transition`` refuses, nothing out of a terminal phase.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import tasks
from asyncaction.lifecycle.attempts import (
    PREVIOUS_ATTEMPT_REPORTS,
    LifecycleSettings,
    active_seconds,
    is_eligible,
    job_name_for,
)
from asyncaction.lifecycle.effects import (
    CreateJob,
    Decision,
    DeleteJob,
    Effect,
    EnsureSecret,
)
from asyncaction.lifecycle.failures import (
    REPORTED_FAILURE,
    attempt_failed,
    stop_job,
)
from asyncaction.lifecycle.finished import finished
from asyncaction.lifecycle.phase_change import phase_change
from asyncaction.lifecycle.views import ActionView, JobState, JobView
from asyncaction.timeutil import format_time

P = Phase


def _seconds_until(when: datetime, now: datetime) -> float:
    return max(0.0, (when - now).total_seconds())


def _deadline_requeue(view: ActionView, now: datetime) -> float | None:
    if view.active_deadline_seconds is None or view.started_at is None:
        return None
    return max(0.0, view.active_deadline_seconds - active_seconds(view, now))


def _min(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def refused_attempt(
    view: ActionView,
    reason: str,
    message: str,
    *,
    now: datetime,
    settings: LifecycleSettings,
) -> Decision:
    """The API server refused this attempt's Job in a way another attempt might not
    meet (a webhook's or a quota's refusal): the attempt failed and counts against
    ``backoffLimit``; once that is spent the action fails with the refusal's reason."""
    if view.phase is not None and view.phase.is_terminal:
        return Decision()
    return _with_queue(
        view,
        attempt_failed(
            view, None, now, settings, cause=reason, detail=message, final_reason=reason
        ),
    )


def _on_new(
    view: ActionView, now: datetime, admitted: bool, settings: LifecycleSettings
) -> Decision:
    queued = {"queuedAt": format_time(now), "attempts": 0, "failures": 0}
    if admitted and is_eligible(view, now):
        started = _start(view, now, settings)
        return replace(started, status={**queued, **started.status})
    if view.abort:
        return phase_change(
            view,
            P.ABORTED,
            now,
            message="aborted before it started",
            error_reason="Aborted",
            extra=queued,
        )
    if not view.has_handler:
        return phase_change(
            view,
            P.FAILED,
            now,
            error_reason="NoHandler",
            extra=queued,
            message="no template, and templateRef names no ActionTemplate",
        )
    if view.suspend:
        return phase_change(
            view,
            P.PAUSED,
            now,
            message="suspended before it started",
            extra={**queued, "pausedAt": format_time(now)},
        )
    if view.start_at is not None and view.start_at > now:
        return phase_change(
            view,
            P.SCHEDULED,
            now,
            extra=queued,
            message=f"not before {format_time(view.start_at)}",
            requeue_after=_seconds_until(view.start_at, now),
        )
    return phase_change(
        view, P.QUEUED, now, message="waiting for admission", extra=queued, requeue_after=0.0
    )


def reconcile(
    view: ActionView,
    job: JobView | None,
    *,
    now: datetime,
    admitted: bool,
    settings: LifecycleSettings,
) -> Decision:
    decision = _decide(view, job, now=now, admitted=admitted, settings=settings)
    return _with_observed_generation(view, _with_queue(view, decision))


def _with_observed_generation(view: ActionView, decision: Decision) -> Decision:
    """An edit that moves no phase is observed too: kstatus reads an action whose
    ``status.observedGeneration`` lags ``metadata.generation`` as InProgress, for good
    when nothing else would write (a PAUSED action). Its conditions record the same
    generation; nothing else of them changes."""
    if view.phase is None or view.phase.is_terminal or "observedGeneration" in decision.status:
        return decision
    if view.observed_generation is None or view.observed_generation >= view.generation:
        return decision  # (None: written by no phase change yet, or by a release before it)
    observed: dict[str, Any] = {"observedGeneration": view.generation}
    if view.conditions and "conditions" not in decision.status:
        observed["conditions"] = [
            {**condition, "observedGeneration": view.generation} for condition in view.conditions
        ]
    return replace(decision, status={**decision.status, **observed})


def _with_queue(view: ActionView, decision: Decision) -> Decision:
    """Record the effective queue in ``status.queue`` (a printer column shows it) while the
    action waits: its queue may be left to the default, or edited while queued.

    Once admitted, ``status.queue`` is the queue the attempt was admitted to and stays
    so while the attempt runs and when it ends: admission counts the attempt against
    that queue (``controllers.admission``), whatever later edits of ``spec.queue`` say.
    An edit applies from the next attempt on. A terminal action keeps the queue it ran in.
    """
    if view.phase is not None and view.phase.is_terminal:
        return decision
    target = decision.status.get("phase")
    running = view.phase in (P.STARTING, P.RUNNING) and view.status_queue is not None
    if running and (target is None or target in _KEEPS_ADMITTED_QUEUE):
        return decision
    if view.status_queue == view.queue and target is None:
        return decision
    return replace(decision, status={**decision.status, "queue": view.queue})


# Phases an admitted attempt moves to while still counting in its queue, or as its end.
_KEEPS_ADMITTED_QUEUE = {p.value for p in (P.STARTING, P.RUNNING)} | {
    p.value for p in P if p.is_terminal
}


def _decide(
    view: ActionView,
    job: JobView | None,
    *,
    now: datetime,
    admitted: bool,
    settings: LifecycleSettings,
) -> Decision:
    phase = view.phase
    if phase is None:
        return _on_new(view, now, admitted, settings)
    if phase.is_terminal:
        if tasks.retry_requested(view):  # the one way out of FAILED: lifecycle.tasks
            return tasks.retry(view, now)
        return finished(view, job, now)
    if view.abort:
        return phase_change(
            view,
            P.ABORTED,
            now,
            message="aborted by spec.abort",
            error_reason="Aborted",
            effects=stop_job(view, job),
        )
    if not view.has_handler and phase in (P.SCHEDULED, P.QUEUED, P.PAUSED):
        return phase_change(
            view,
            P.FAILED,
            now,
            error_reason="NoHandler",
            message="no template, and templateRef names no ActionTemplate",
        )
    if (
        phase is not P.PAUSED
        and view.active_deadline_seconds is not None
        and view.started_at is not None
        and active_seconds(view, now) >= view.active_deadline_seconds
    ):
        return phase_change(
            view,
            P.TIMEOUT,
            now,
            error_reason="DeadlineExceeded",
            message=f"active for more than activeDeadlineSeconds={view.active_deadline_seconds}",
            effects=stop_job(view, job),
        )
    if view.suspend and phase is not P.PAUSED:
        stopping = phase in (P.STARTING, P.RUNNING)
        return phase_change(
            view,
            P.PAUSED,
            now,
            extra={"pausedAt": format_time(now)},
            message="suspended: the running attempt was stopped" if stopping else "suspended",
            effects=stop_job(view, job) if stopping else (),
        )
    if phase is P.PAUSED:
        return _paused(view, job, now)
    if phase is P.SCHEDULED:
        if view.start_at is None or view.start_at <= now:
            return phase_change(
                view, P.QUEUED, now, message="waiting for admission", requeue_after=0.0
            )
        # its deadline may come first (paused near it, resumed with a later startAt)
        return Decision(
            requeue_after=_min(_seconds_until(view.start_at, now), _deadline_requeue(view, now))
        )
    if phase is P.QUEUED:
        if _old_attempt_live(job):
            # The old attempt must be gone before a new one starts (after a pause or a
            # crash between writing PAUSED and deleting the Job).
            return Decision(
                effects=_finish_old_attempt(view, job), requeue_after=settings.poll_seconds
            )
        return _queued(view, now, admitted, settings)
    return _active(view, job, now, settings)


def _old_attempt_live(job: JobView | None) -> bool:
    return job is not None and job.state in (JobState.PENDING, JobState.RUNNING)


def _finish_old_attempt(view: ActionView, job: JobView | None) -> tuple[Effect, ...]:
    """Delete the previous attempt's Job until it is gone (a failed delete is retried)."""
    if view.job_name and job is not None and _old_attempt_live(job) and not job.deleting:
        return (DeleteJob(view.job_name),)
    return ()


def _paused(view: ActionView, job: JobView | None, now: datetime) -> Decision:
    if view.suspend:
        return Decision(effects=_finish_old_attempt(view, job))
    paused = view.paused_seconds
    # Only time after the first start counts: before it, no deadline runs anyway.
    if view.paused_at is not None and view.started_at is not None:
        paused += (now - view.paused_at).total_seconds()
    extra = {"pausedAt": None, "pausedSeconds": round(paused, 3)}
    if view.start_at is not None and view.start_at > now:
        return phase_change(
            view,
            P.SCHEDULED,
            now,
            event_reason="Resumed",
            extra=extra,
            message=f"resumed; not before {format_time(view.start_at)}",
            requeue_after=_min(
                _seconds_until(view.start_at, now),
                _deadline_requeue(replace(view, paused_seconds=paused, paused_at=None), now),
            ),
        )
    return phase_change(
        view,
        P.QUEUED,
        now,
        event_reason="Resumed",
        extra=extra,
        message="resumed; waiting for admission",
        requeue_after=0.0,
    )


def _queued(
    view: ActionView, now: datetime, admitted: bool, settings: LifecycleSettings
) -> Decision:
    if view.next_attempt_at is not None and view.next_attempt_at > now:
        return Decision(
            requeue_after=_min(
                _seconds_until(view.next_attempt_at, now), _deadline_requeue(view, now)
            )
        )
    if not (admitted and is_eligible(view, now)):
        # No polling while waiting: admission wakes the action when a slot is its own.
        # It wakes only eligible actions: one whose startAt was moved ahead while it
        # waited wakes itself then.
        later_start = (
            _seconds_until(view.start_at, now)
            if view.start_at is not None and view.start_at > now
            else None
        )
        return Decision(requeue_after=_min(_deadline_requeue(view, now), later_start))
    return _start(view, now, settings)


def _start(view: ActionView, now: datetime, settings: LifecycleSettings) -> Decision:
    """The next attempt: STARTING, then its Secret and its Job."""
    attempt = view.attempts + 1
    name = job_name_for(view.name, view.uid, attempt)
    extra: dict[str, Any] = {"attempts": attempt, "jobName": name, "nextAttemptAt": None}
    if view.attempts:
        # A new attempt starts clean: what the previous one reported is not its answer
        # (a retry that succeeds without reporting must not return the old result).
        extra.update(dict.fromkeys(PREVIOUS_ATTEMPT_REPORTS))
    if view.started_at is None:
        extra["startedAt"] = format_time(now)
    return phase_change(
        view,
        P.STARTING,
        now,
        event_reason="Started",
        extra=extra,
        message=f"attempt {attempt} of {view.backoff_limit + 1}: job {name}",
        effects=(EnsureSecret(attempt), CreateJob(attempt, name)),
        requeue_after=_min(settings.poll_seconds, view.active_deadline_seconds),
    )


def _active(
    view: ActionView, job: JobView | None, now: datetime, settings: LifecycleSettings
) -> Decision:
    phase = view.phase
    later = _min(settings.poll_seconds, _deadline_requeue(view, now))
    if (view.error or {}).get("reason") == REPORTED_FAILURE:
        detail = (view.error or {}).get("message") or "the job reported a failure"
        return attempt_failed(view, job, now, settings, cause=REPORTED_FAILURE, detail=detail)
    if job is None or job.deleting:
        if phase is P.STARTING and job is None and view.job_name:
            # Status says STARTING but the Job is not there yet: (re)create it. After a
            # crash between the status write and the create, this is what recovers.
            attempt = view.attempts
            return Decision(
                effects=(EnsureSecret(attempt), CreateJob(attempt, view.job_name)),
                requeue_after=later,
            )
        return attempt_failed(
            view, None, now, settings, cause="JobDeleted", detail=f"job {view.job_name} was deleted"
        )
    if job.state is JobState.SUCCEEDED and view.has_tasks:
        ended = tasks.outcome(view)  # the pods exit 0 once no task is left: read the tasks
        if ended is None:
            return Decision(requeue_after=later)
        return phase_change(
            view,
            ended[0],
            now,
            message=ended[1],
            error_reason=tasks.TASKS_FAILED if ended[0] is P.FAILED else None,
            extra={"progress": 100} if ended[0] is P.SUCCEEDED else None,
        )
    if job.state is JobState.SUCCEEDED:
        return phase_change(
            view, P.SUCCEEDED, now, message="the job completed", extra={"progress": 100}
        )
    if job.state is JobState.FAILED:
        return attempt_failed(
            view, job, now, settings, cause="JobFailed", detail=job.message or "the job failed"
        )
    if job.state is JobState.PENDING and job.created_at is not None:
        waited = (now - job.created_at).total_seconds()
        limit = view.start_timeout_seconds
        if waited >= limit:
            why = job.waiting_reason or "no reason given"
            return attempt_failed(
                view,
                job,
                now,
                settings,
                cause="StartTimeout",
                detail=f"the pod did not start within {limit}s ({why})",
            )
        later = _min(later, limit - waited)
    if job.state is JobState.RUNNING and phase is P.STARTING:
        return phase_change(
            view, P.RUNNING, now, message=f"job {job.name} is running", requeue_after=later
        )
    return Decision(requeue_after=later)
