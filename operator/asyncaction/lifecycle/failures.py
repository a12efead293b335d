"""A failed attempt as a decision (pure): retried after a backoff while
``spec.backoffLimit`` allows (QUEUED, a Warning ``Retrying``), else the action fails
with the reason; the attempt's Job is stopped if it may still run. Also the failure of
an action for a reason found outside ``reconcile`` (an invalid pod template)."""

from __future__ import annotations

from datetime import datetime, timedelta

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.attempts import LifecycleSettings, retry_delay
from asyncaction.lifecycle.effects import Decision, DeleteJob, Effect
from asyncaction.lifecycle.phase_change import phase_change
from asyncaction.lifecycle.views import ActionView, JobState, JobView
from asyncaction.timeutil import format_time

P = Phase
# status.error.reason the hook writes when a job reports FAILED (the attempt failed).
REPORTED_FAILURE = "JobReportedFailure"


def stop_job(view: ActionView, job: JobView | None) -> tuple[Effect, ...]:
    """Delete the current Job if it may still run; finished Jobs stay as the attempt's record."""
    if view.job_name and job is not None and job.state in (JobState.PENDING, JobState.RUNNING):
        return (DeleteJob(view.job_name),)
    return ()


def attempt_failed(
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
        return phase_change(
            view,
            P.QUEUED,
            now,
            message=f"{message}; retrying in {delay:g}s",
            event_reason="Retrying",
            extra={
                "failures": failures,
                "lastFailureReason": cause,
                "nextAttemptAt": format_time(now + timedelta(seconds=delay)),
                "jobName": view.job_name,
            },
            effects=stop_job(view, job),
            requeue_after=delay,
        )
    reason = final_reason or (
        cause if cause in ("JobDeleted", REPORTED_FAILURE) else "BackoffLimitExceeded"
    )
    return phase_change(
        view,
        P.FAILED,
        now,
        message=message,
        error_reason=reason,
        extra={"failures": failures, "lastFailureReason": cause},
        effects=stop_job(view, job),
    )


def failure_decision(view: ActionView, reason: str, message: str, *, now: datetime) -> Decision:
    """Fail an action for a reason found outside reconcile (e.g. an invalid pod template)."""
    if view.phase is not None and view.phase.is_terminal:
        return Decision()
    job = JobView(view.job_name, JobState.PENDING) if view.job_name else None
    return phase_change(
        view, P.FAILED, now, message=message, error_reason=reason, effects=stop_job(view, job)
    )
