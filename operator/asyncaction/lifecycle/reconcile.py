"""The lifecycle of one action as a pure function of what is observed.

``reconcile(view, job, now=, admitted=, settings=)`` returns the status patch to write
(first), the effects to run (after), and when to look again. Called again on what it
produced, it converges: no second ``CreateJob`` for a Job that exists, no phase change
that ``transitions.can_transition`` refuses, nothing out of a terminal phase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import tasks
from asyncaction.lifecycle.conditions import PHASE_REASON, conditions_for, matches
from asyncaction.lifecycle.effects import (
    CreateJob,
    Decision,
    DeleteAction,
    DeleteJob,
    Effect,
    Emit,
    EnsureSecret,
    RemoveChildren,
)
from asyncaction.lifecycle.transitions import can_transition
from asyncaction.lifecycle.views import ActionView, JobState, JobView
from asyncaction.timeutil import format_time

P = Phase
# status.error.reason the hook writes when a job reports FAILED (the attempt failed).
REPORTED_FAILURE = "JobReportedFailure"
WARNING_PHASES = {P.FAILED, P.TIMEOUT, P.ABORTED}
# One Event per transition people ask about (queued, started, retried, paused, resumed,
# finished); SCHEDULED and RUNNING (the job's own report) stay quiet: at most a handful of
# Events per attempt, never one per reconcile.
QUIET_PHASES = {P.SCHEDULED, P.RUNNING}
NOTABLE_REASONS = {"Resumed"}
# What an attempt's job reports about itself (through the hook), cleared when the next
# attempt starts. Earlier outputs (``status.outputs``) stay: see docs/jobs.md.
PREVIOUS_ATTEMPT_REPORTS = ("result", "statusDetails", "progress", "logTail", "lastReportAt")


@dataclass(frozen=True)
class LifecycleSettings:
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    poll_seconds: float = 30.0


JOB_NAME_LENGTH = 52  # the Job controller adds 6 characters for its Pods' names


def job_name_for(action_name: str, uid: str, attempt: int) -> str:
    """Deterministic per attempt, a DNS label of at most 52 characters, unique.

    The whole uid (32 hex digits) is in the name, so two actions can never share a Job
    name, however alike their names; what room is left shows the action's name.
    """
    ident = re.sub(r"[^a-z0-9]", "", uid.lower())
    tail = f"-{ident}-{attempt}"
    room = max(0, JOB_NAME_LENGTH - len(tail))
    stem = re.sub(r"[^a-z0-9-]", "-", action_name.lower())[:room].strip("-")
    return f"{stem}{tail}" if stem else tail.lstrip("-")


def retry_delay(failures: int, settings: LifecycleSettings) -> float:
    delay: float = settings.backoff_base_seconds * 2 ** max(0, failures - 1)
    return min(delay, settings.backoff_max_seconds)


def active_seconds(view: ActionView, now: datetime) -> float:
    """Time since the first start, paused time excluded."""
    if view.started_at is None:
        return 0.0
    paused = view.paused_seconds
    if view.paused_at is not None:
        paused += (now - view.paused_at).total_seconds()
    return (now - view.started_at).total_seconds() - paused


def is_eligible(view: ActionView, now: datetime) -> bool:
    """May ask admission for a slot now: new or queued, not held, retry backoff over.

    A new action may take a free slot at once: it goes straight to STARTING in one
    status write instead of writing QUEUED first.
    """
    return (
        view.phase in (None, P.QUEUED)
        and view.has_handler
        and not view.suspend
        and not view.abort
        and (view.next_attempt_at is None or view.next_attempt_at <= now)
        and (view.start_at is None or view.start_at <= now)
    )


def _transition(
    view: ActionView,
    phase: Phase,
    now: datetime,
    *,
    message: str,
    event_reason: str | None = None,
    error_reason: str | None = None,
    extra: dict[str, Any] | None = None,
    effects: tuple[Effect, ...] = (),
    requeue_after: float | None = None,
) -> Decision:
    if not can_transition(view.phase, phase):
        # Never crash a reconcile on a missing edge of the graph: stay, look again later.
        return Decision(requeue_after=requeue_after)
    status: dict[str, Any] = {
        "phase": phase.value,
        "message": message,
        "observedGeneration": view.generation,
        "conditions": conditions_for(
            phase,
            reason=error_reason,
            message=message,
            now=now,
            observed_generation=view.generation,
            previous=view.conditions,
        ),
        "error": {"reason": error_reason, "message": message}
        if phase in WARNING_PHASES and error_reason
        else None,
    }
    if phase.is_terminal:
        status["finishedAt"] = format_time(now)
        status["nextAttemptAt"] = None
    status.update(extra or {})
    kind: Literal["Normal", "Warning"] = "Warning" if phase in WARNING_PHASES else "Normal"
    reason = event_reason or PHASE_REASON[phase]
    if reason == "Retrying":
        kind = "Warning"
    if kind == "Normal" and phase in QUIET_PHASES and reason not in NOTABLE_REASONS:
        return Decision(status, effects, requeue_after)  # the status says it: no Event
    event = Emit(kind, reason, message)
    return Decision(status, (*effects, event), requeue_after)


def _seconds_until(when: datetime, now: datetime) -> float:
    return max(0.0, (when - now).total_seconds())


def _deadline_requeue(view: ActionView, now: datetime) -> float | None:
    if view.active_deadline_seconds is None or view.started_at is None:
        return None
    return max(0.0, view.active_deadline_seconds - active_seconds(view, now))


def _min(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _stop_job(view: ActionView, job: JobView | None) -> tuple[Effect, ...]:
    """Delete the current Job if it may still run; finished Jobs stay as the attempt's record."""
    if view.job_name and job is not None and job.state in (JobState.PENDING, JobState.RUNNING):
        return (DeleteJob(view.job_name),)
    return ()


def _failure(
    view: ActionView,
    job: JobView | None,
    now: datetime,
    settings: LifecycleSettings,
    *,
    cause: str,
    detail: str,
    final_reason: str | None = None,
) -> Decision:
    failures = view.failures + 1
    allowed = view.backoff_limit + 1
    message = f"attempt {view.attempts} of {allowed} failed: {detail}"
    if failures <= view.backoff_limit:
        delay = retry_delay(failures, settings)
        return _transition(
            view,
            P.QUEUED,
            now,
            message=f"{message}; retrying in {delay:g}s",
            event_reason="Retrying",
            extra={
                "failures": failures,
                "nextAttemptAt": format_time(now + timedelta(seconds=delay)),
                "jobName": view.job_name,
            },
            effects=_stop_job(view, job),
            requeue_after=delay,
        )
    reason = final_reason or (
        cause if cause in ("JobDeleted", REPORTED_FAILURE) else "BackoffLimitExceeded"
    )
    return _transition(
        view,
        P.FAILED,
        now,
        message=message,
        error_reason=reason,
        extra={"failures": failures},
        effects=_stop_job(view, job),
    )


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
        _failure(view, None, now, settings, cause=reason, detail=message, final_reason=reason),
    )


def failure_decision(view: ActionView, reason: str, message: str, *, now: datetime) -> Decision:
    """Fail an action for a reason found outside reconcile (e.g. an invalid pod template)."""
    if view.phase is not None and view.phase.is_terminal:
        return Decision()
    job = JobView(view.job_name, JobState.PENDING) if view.job_name else None
    return _transition(
        view, P.FAILED, now, message=message, error_reason=reason, effects=_stop_job(view, job)
    )


def _on_new(
    view: ActionView, now: datetime, admitted: bool, settings: LifecycleSettings
) -> Decision:
    queued = {"queuedAt": format_time(now), "attempts": 0, "failures": 0}
    if admitted and is_eligible(view, now):
        started = _start(view, now, settings)
        return replace(started, status={**queued, **started.status})
    if view.abort:
        return _transition(
            view,
            P.ABORTED,
            now,
            message="aborted before it started",
            error_reason="Aborted",
            extra=queued,
        )
    if not view.has_handler:
        return _transition(
            view,
            P.FAILED,
            now,
            error_reason="NoHandler",
            extra=queued,
            message="no template, and templateRef names no ActionTemplate",
        )
    if view.suspend:
        return _transition(
            view,
            P.PAUSED,
            now,
            message="suspended before it started",
            extra={**queued, "pausedAt": format_time(now)},
        )
    if view.start_at is not None and view.start_at > now:
        return _transition(
            view,
            P.SCHEDULED,
            now,
            extra=queued,
            message=f"not before {format_time(view.start_at)}",
            requeue_after=_seconds_until(view.start_at, now),
        )
    return _transition(
        view, P.QUEUED, now, message="waiting for admission", extra=queued, requeue_after=0.0
    )


def _terminal(view: ActionView, job: JobView | None, now: datetime) -> Decision:
    assert view.phase is not None
    status: dict[str, Any] = {}
    after: dict[str, Any] = {}
    effects: list[Effect] = []
    if view.finished_at is None:
        status["finishedAt"] = format_time(now)
    stale = view.observed_generation != view.generation
    if stale or not matches(view.phase, view.conditions):
        reason = (view.error or {}).get("reason")
        status["conditions"] = conditions_for(
            view.phase,
            reason=reason,
            now=now,
            observed_generation=view.generation,
            # never empty: the API server 1.20 refuses an empty condition message as null
            message=(view.error or {}).get("message") or view.message or view.phase.value,
            previous=view.conditions,
        )
        status["observedGeneration"] = view.generation
    # A job that reported its own end may still be uploading or exiting: let it finish.
    # Aborted and timed-out actions must not keep running.
    stop = view.phase in (P.ABORTED, P.TIMEOUT)
    live = job is not None and job.state in (JobState.PENDING, JobState.RUNNING)
    if stop and live and job is not None and not job.deleting:
        effects.append(DeleteJob(job.name))
    requeue = None
    if view.ttl_seconds_after_finished is not None and view.children_removed_at is not None:
        if view.delete_when_done:
            effects.append(DeleteAction())  # TTL work done (marked): the action goes
    elif view.ttl_seconds_after_finished is not None:
        finished = view.finished_at or now
        expiry = finished + timedelta(seconds=view.ttl_seconds_after_finished)
        if expiry <= now:
            effects.append(RemoveChildren())
            after["childrenRemovedAt"] = format_time(now)
        else:
            requeue = _seconds_until(expiry, now)
    return Decision(status, tuple(effects), requeue, after)


def reconcile(
    view: ActionView,
    job: JobView | None,
    *,
    now: datetime,
    admitted: bool,
    settings: LifecycleSettings,
) -> Decision:
    decision = _decide(view, job, now=now, admitted=admitted, settings=settings)
    return _with_queue(view, decision)


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
        return _terminal(view, job, now)
    if view.abort:
        return _transition(
            view,
            P.ABORTED,
            now,
            message="aborted by spec.abort",
            error_reason="Aborted",
            effects=_stop_job(view, job),
        )
    if not view.has_handler and phase in (P.SCHEDULED, P.QUEUED, P.PAUSED):
        return _transition(
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
        return _transition(
            view,
            P.TIMEOUT,
            now,
            error_reason="DeadlineExceeded",
            message=f"active for more than activeDeadlineSeconds={view.active_deadline_seconds}",
            effects=_stop_job(view, job),
        )
    if view.suspend and phase is not P.PAUSED:
        stopping = phase in (P.STARTING, P.RUNNING)
        return _transition(
            view,
            P.PAUSED,
            now,
            extra={"pausedAt": format_time(now)},
            message="suspended: the running attempt was stopped" if stopping else "suspended",
            effects=_stop_job(view, job) if stopping else (),
        )
    if phase is P.PAUSED:
        return _paused(view, job, now)
    if phase is P.SCHEDULED:
        if view.start_at is None or view.start_at <= now:
            return _transition(
                view, P.QUEUED, now, message="waiting for admission", requeue_after=0.0
            )
        return Decision(requeue_after=_seconds_until(view.start_at, now))
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
        return _transition(
            view,
            P.SCHEDULED,
            now,
            event_reason="Resumed",
            extra=extra,
            message=f"resumed; not before {format_time(view.start_at)}",
            requeue_after=_seconds_until(view.start_at, now),
        )
    return _transition(
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
        return Decision(requeue_after=_deadline_requeue(view, now))
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
    return _transition(
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
        return _failure(view, job, now, settings, cause=REPORTED_FAILURE, detail=detail)
    if job is None or job.deleting:
        if phase is P.STARTING and job is None and view.job_name:
            # Status says STARTING but the Job is not there yet: (re)create it. After a
            # crash between the status write and the create, this is what recovers.
            attempt = view.attempts
            return Decision(
                effects=(EnsureSecret(attempt), CreateJob(attempt, view.job_name)),
                requeue_after=later,
            )
        return _failure(
            view, None, now, settings, cause="JobDeleted", detail=f"job {view.job_name} was deleted"
        )
    if job.state is JobState.SUCCEEDED and view.has_tasks:
        ended = tasks.outcome(view)  # the pods exit 0 once no task is left: read the tasks
        if ended is None:
            return Decision(requeue_after=later)
        return _transition(
            view,
            ended[0],
            now,
            message=ended[1],
            error_reason=tasks.TASKS_FAILED if ended[0] is P.FAILED else None,
            extra={"progress": 100} if ended[0] is P.SUCCEEDED else None,
        )
    if job.state is JobState.SUCCEEDED:
        return _transition(
            view, P.SUCCEEDED, now, message="the job completed", extra={"progress": 100}
        )
    if job.state is JobState.FAILED:
        return _failure(
            view, job, now, settings, cause="JobFailed", detail=job.message or "the job failed"
        )
    if job.state is JobState.PENDING and job.created_at is not None:
        waited = (now - job.created_at).total_seconds()
        limit = view.start_timeout_seconds
        if waited >= limit:
            why = job.waiting_reason or "no reason given"
            return _failure(
                view,
                job,
                now,
                settings,
                cause="StartTimeout",
                detail=f"the pod did not start within {limit}s ({why})",
            )
        later = _min(later, limit - waited)
    if job.state is JobState.RUNNING and phase is P.STARTING:
        return _transition(
            view, P.RUNNING, now, message=f"job {job.name} is running", requeue_after=later
        )
    return Decision(requeue_after=later)
