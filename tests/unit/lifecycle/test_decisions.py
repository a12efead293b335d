"""Every field of a decision, for each branch of the lifecycle.

Each test states the whole ``Decision``: the status patch (every key, the conditions
included), the effects with their payloads, the Event's type, reason and message, the
requeue time and the markers written after the effects. Only through ``reconcile`` and
``failure_decision``, the public functions, so the tests outlive a refactor.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import (
    CreateJob,
    Decision,
    DeleteJob,
    EnsureSecret,
    JobState,
    LifecycleSettings,
    failure_decision,
    job_name_for,
    reconcile,
    retry_delay,
)
from asyncaction.lifecycle.attempts import active_seconds
from asyncaction.lifecycle.conditions import conditions_for
from asyncaction.lifecycle.effects import Emit, RemoveChildren
from asyncaction.lifecycle.views import ActionView, JobView
from tests.unit.lifecycle.helpers import NOW, SETTINGS, job, later, running, view

P = Phase
T = "2026-11-23T12:00:00Z"  # NOW as written
JOB = "act-abcdef123-1"  # job_name_for("act", "abcdef-123", 1): a new first attempt
CURRENT = "act-abcde-1"  # the Job of the running attempt (helpers.running, helpers.job)


def at(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def decide(v: ActionView, j: JobView | None = None, *, admitted: bool = False) -> Decision:
    return reconcile(v, j, now=NOW, admitted=admitted, settings=SETTINGS)


def status(
    phase: Phase,
    message: str,
    *,
    error: str | None = None,
    v: ActionView | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The patch ``phase_change`` writes, spelled out: the fields every transition sets."""
    v = v or view()
    patch: dict[str, Any] = {
        "phase": phase.value,
        "message": message,
        "observedGeneration": v.generation,
        "conditions": conditions_for(
            phase,
            reason=error,
            message=message,
            now=NOW,
            observed_generation=v.generation,
            previous=v.conditions,
        ),
        "error": {"reason": error, "message": message} if error else None,
    }
    if phase.is_terminal:
        patch |= {"finishedAt": T, "nextAttemptAt": None}
    return patch | extra


QUEUED_NOW: dict[str, Any] = {"queuedAt": T, "attempts": 0, "failures": 0}


# --- a new action --------------------------------------------------------------------


def test_new_and_admitted_starts_its_first_attempt_in_one_write() -> None:
    assert decide(view(), admitted=True) == Decision(
        status=QUEUED_NOW
        | status(
            P.STARTING,
            f"attempt 1 of 1: job {JOB}",
            attempts=1,
            jobName=JOB,
            nextAttemptAt=None,
            startedAt=T,
            queue="default",
        ),
        # One Event per attempt's start, posted once its Job exists (docs/observability.md).
        effects=(
            EnsureSecret(1),
            CreateJob(1, JOB),
            Emit("Normal", "Started", f"attempt 1 of 1: job {JOB}"),
        ),
        requeue_after=30,
    )


def test_new_and_aborted_ends_aborted_with_a_warning() -> None:
    message = "aborted before it started"
    assert decide(view(abort=True), admitted=True) == Decision(
        status=status(P.ABORTED, message, error="Aborted", **QUEUED_NOW, queue="default"),
        effects=(Emit("Warning", "Aborted", message),),
    )


def test_new_without_handler_fails_no_handler() -> None:
    message = "no template, and templateRef names no ActionTemplate"
    assert decide(view(has_handler=False), admitted=True) == Decision(
        status=status(P.FAILED, message, error="NoHandler", **QUEUED_NOW, queue="default"),
        effects=(Emit("Warning", "Failed", message),),
    )


def test_new_and_suspended_pauses_with_a_normal_event() -> None:
    message = "suspended before it started"
    assert decide(view(suspend=True), admitted=True) == Decision(
        status=status(P.PAUSED, message, **QUEUED_NOW, pausedAt=T, queue="default"),
        effects=(Emit("Normal", "Paused", message),),
    )


def test_new_with_a_future_start_is_scheduled_until_then() -> None:
    v = view(start_at=later(90))
    assert decide(v, admitted=True) == Decision(
        status=status(P.SCHEDULED, f"not before {at(90)}", **QUEUED_NOW, queue="default"),
        requeue_after=90.0,
    )


def test_new_without_a_slot_queues_and_looks_again_at_once() -> None:
    assert decide(view(queue="batch", status_queue=None)) == Decision(
        status=status(P.QUEUED, "waiting for admission", **QUEUED_NOW, queue="batch"),
        effects=(Emit("Normal", "Queued", "waiting for admission"),),
        requeue_after=0.0,
    )


# --- terminal ------------------------------------------------------------------------


def finished(phase: Phase = P.SUCCEEDED, **changes: Any) -> ActionView:
    done = conditions_for(phase, message="m", now=NOW, observed_generation=1)
    base: dict[str, Any] = {"finished_at": NOW, "conditions": tuple(done), "observed_generation": 1}
    return running(phase=phase, **(base | changes))


def test_a_terminal_action_that_says_it_all_needs_nothing() -> None:
    assert decide(finished(), job(JobState.SUCCEEDED)) == Decision()
    assert decide(finished(P.FAILED), job(JobState.RUNNING)) == Decision()  # let it finish


def test_a_terminal_action_without_finished_at_gets_it() -> None:
    assert decide(finished(finished_at=None)) == Decision(status={"finishedAt": T})


def test_a_terminal_action_rewrites_stale_conditions_from_its_error() -> None:
    v = finished(
        P.FAILED,
        generation=2,
        error={"reason": "BackoffLimitExceeded", "message": "attempt 1 of 1 failed: x"},
    )
    expected = conditions_for(
        P.FAILED,
        reason="BackoffLimitExceeded",
        message="attempt 1 of 1 failed: x",
        now=NOW,
        observed_generation=2,
        previous=v.conditions,
    )
    assert decide(v) == Decision(status={"conditions": expected, "observedGeneration": 2})
    # without an error: the status message, else the phase, never an empty message
    v = finished(P.SUCCEEDED, conditions=(), message="the job completed")
    assert decide(v).status["conditions"][0]["message"] == "the job completed"
    assert decide(finished(P.SUCCEEDED, conditions=())).status["conditions"][0]["message"] == (
        "SUCCEEDED"
    )


@pytest.mark.parametrize("phase", [P.ABORTED, P.TIMEOUT])
def test_an_aborted_or_timed_out_action_deletes_its_live_job_once(phase: Phase) -> None:
    assert decide(finished(phase), job(JobState.RUNNING)).effects == (DeleteJob(CURRENT),)
    assert decide(finished(phase), job(JobState.PENDING)).effects == (DeleteJob(CURRENT),)
    assert decide(finished(phase), job(JobState.RUNNING, deleting=True)).effects == ()
    assert decide(finished(phase), job(JobState.FAILED)).effects == ()
    assert decide(finished(phase), None).effects == ()


def test_the_ttl_removes_the_children_once_it_expires() -> None:
    v = finished(ttl_seconds_after_finished=60, finished_at=NOW - timedelta(seconds=60))
    assert decide(v) == Decision(effects=(RemoveChildren(),), after={"childrenRemovedAt": T})
    v = finished(ttl_seconds_after_finished=60, finished_at=NOW - timedelta(seconds=45))
    assert decide(v) == Decision(requeue_after=15.0)
    assert decide(replace(v, children_removed_at=NOW)) == Decision()
    # no finishedAt yet: it counts from now, and finishedAt is written
    assert decide(finished(ttl_seconds_after_finished=0, finished_at=None)) == Decision(
        status={"finishedAt": T}, effects=(RemoveChildren(),), after={"childrenRemovedAt": T}
    )


def test_a_terminal_action_keeps_the_queue_it_ran_in() -> None:
    v = finished(queue="edited", status_queue="batch", finished_at=None)
    assert decide(v) == Decision(status={"finishedAt": T})


# --- abort, handler, deadline, suspend -------------------------------------------------


def test_abort_while_running_stops_the_job() -> None:
    v = running()
    message = "aborted by spec.abort"
    assert decide(replace(v, abort=True), job(JobState.RUNNING)) == Decision(
        status=status(P.ABORTED, message, error="Aborted", v=v),
        effects=(DeleteJob(CURRENT), Emit("Warning", "Aborted", message)),
    )


@pytest.mark.parametrize("phase", [P.SCHEDULED, P.QUEUED, P.PAUSED])
def test_a_template_deleted_while_waiting_fails_no_handler(phase: Phase) -> None:
    message = "no template, and templateRef names no ActionTemplate"
    v = view(phase=phase, has_handler=False)
    assert decide(v, job(JobState.PENDING)) == Decision(
        status=status(P.FAILED, message, error="NoHandler", v=v, queue="default"),
        effects=(Emit("Warning", "Failed", message),),
    )


def test_the_deadline_fires_exactly_when_active_time_reaches_it() -> None:
    v = running(active_deadline_seconds=5, started_at=NOW - timedelta(seconds=5))
    message = "active for more than activeDeadlineSeconds=5"
    assert decide(v, job(JobState.RUNNING)) == Decision(
        status=status(P.TIMEOUT, message, error="DeadlineExceeded", v=v),
        effects=(DeleteJob(CURRENT), Emit("Warning", "TimedOut", message)),
    )
    v = running(active_deadline_seconds=6, started_at=NOW - timedelta(seconds=5))
    assert decide(v, job(JobState.RUNNING)) == Decision(requeue_after=1.0)


def test_paused_time_does_not_count_towards_the_deadline() -> None:
    v = running(
        active_deadline_seconds=10,
        started_at=NOW - timedelta(seconds=20),
        paused_seconds=8.0,
        phase=P.QUEUED,
        next_attempt_at=later(100),
    )
    assert decide(v).status["phase"] == "TIMEOUT"  # 12 s active: over
    v = replace(v, paused_seconds=15.0)
    assert decide(v) == Decision(requeue_after=5.0)
    assert active_seconds(v, NOW) == 5.0
    assert active_seconds(replace(v, paused_at=NOW - timedelta(seconds=2)), NOW) == 3.0
    assert active_seconds(replace(v, started_at=None), NOW) == 0.0


def test_suspend_while_running_stops_the_attempt() -> None:
    v = running()
    message = "suspended: the running attempt was stopped"
    assert decide(replace(v, suspend=True), job(JobState.RUNNING)) == Decision(
        status=status(P.PAUSED, message, v=v, pausedAt=T, queue="default"),
        effects=(DeleteJob(CURRENT), Emit("Normal", "Paused", message)),
    )


def test_suspend_while_queued_has_nothing_to_stop() -> None:
    v = view(phase=P.QUEUED, job_name=JOB)
    assert decide(replace(v, suspend=True), job(JobState.RUNNING)) == Decision(
        status=status(P.PAUSED, "suspended", v=v, pausedAt=T, queue="default"),
        effects=(Emit("Normal", "Paused", "suspended"),),
    )


# --- paused and resumed ----------------------------------------------------------------


def paused(**changes: Any) -> ActionView:
    return running(phase=P.PAUSED, paused_at=NOW - timedelta(seconds=30), **changes)


def test_still_suspended_keeps_deleting_the_old_job_until_it_goes() -> None:
    assert decide(paused(suspend=True), job(JobState.RUNNING)) == Decision(
        effects=(DeleteJob(CURRENT),)
    )
    assert decide(paused(suspend=True), job(JobState.RUNNING, deleting=True)) == Decision()
    assert decide(paused(suspend=True), job(JobState.SUCCEEDED)) == Decision()


def test_resuming_adds_the_pause_to_the_paused_time() -> None:
    v = paused(paused_seconds=12.5)
    message = "resumed; waiting for admission"
    assert decide(v) == Decision(
        status=status(P.QUEUED, message, v=v, pausedAt=None, pausedSeconds=42.5, queue="default"),
        effects=(Emit("Normal", "Resumed", message),),
        requeue_after=0.0,
    )


def test_a_pause_before_the_first_start_is_not_counted() -> None:
    v = paused(started_at=None, paused_seconds=1.25)
    assert decide(v).status["pausedSeconds"] == 1.25


def test_resuming_before_the_start_time_is_scheduled() -> None:
    v = paused(start_at=later(20))
    message = f"resumed; not before {at(20)}"
    assert decide(v) == Decision(
        status=status(
            P.SCHEDULED, message, v=v, pausedAt=None, pausedSeconds=30.0, queue="default"
        ),
        effects=(Emit("Normal", "Resumed", message),),
        requeue_after=20.0,
    )


# --- scheduled and queued ---------------------------------------------------------------


def test_scheduled_waits_for_its_time_then_queues() -> None:
    assert decide(view(phase=P.SCHEDULED, start_at=later(7))) == Decision(requeue_after=7.0)
    v = view(phase=P.SCHEDULED, start_at=NOW)
    assert decide(v) == Decision(
        status=status(P.QUEUED, "waiting for admission", v=v, queue="default"),
        effects=(Emit("Normal", "Queued", "waiting for admission"),),
        requeue_after=0.0,
    )


def test_queued_with_a_live_old_job_deletes_it_first() -> None:
    v = view(phase=P.QUEUED, job_name=CURRENT)
    assert decide(v, job(JobState.PENDING), admitted=True) == Decision(
        effects=(DeleteJob(CURRENT),), requeue_after=30
    )
    assert decide(v, job(JobState.RUNNING, deleting=True), admitted=True) == Decision(
        requeue_after=30
    )


def test_a_retry_waits_for_its_backoff_or_its_deadline_whichever_first() -> None:
    v = running(phase=P.QUEUED, next_attempt_at=later(40))
    assert decide(v, admitted=True) == Decision(requeue_after=40.0)
    v = replace(v, active_deadline_seconds=25)  # started 5 s ago: 20 s left
    assert decide(v, admitted=True) == Decision(requeue_after=20.0)


def test_queued_without_a_slot_waits_without_polling_but_keeps_its_deadline() -> None:
    assert decide(view(phase=P.QUEUED)) == Decision()
    v = running(phase=P.QUEUED, active_deadline_seconds=65)
    assert decide(v) == Decision(requeue_after=60.0)


def test_queued_and_admitted_starts_the_next_attempt() -> None:
    v = running(phase=P.QUEUED, attempts=1, failures=1, backoff_limit=2, next_attempt_at=NOW)
    name = job_name_for("act", "abcdef-123", 2)
    message = f"attempt 2 of 3: job {name}"
    assert decide(v, admitted=True) == Decision(
        status=status(
            P.STARTING,
            message,
            v=v,
            attempts=2,
            jobName=name,
            nextAttemptAt=None,
            queue="default",
            # what attempt 1 reported is not attempt 2's answer
            result=None,
            statusDetails=None,
            progress=None,
            logTail=None,
            lastReportAt=None,
        ),
        effects=(EnsureSecret(2), CreateJob(2, name), Emit("Normal", "Started", message)),
        requeue_after=30,
    )
    assert decide(replace(v, active_deadline_seconds=12), admitted=True).requeue_after == 12


# --- the attempt --------------------------------------------------------------------------


def test_a_starting_action_whose_job_is_missing_creates_it_again() -> None:
    v = running(phase=P.STARTING)
    assert decide(v, None) == Decision(
        effects=(EnsureSecret(1), CreateJob(1, CURRENT)), requeue_after=30
    )


def test_a_deleted_job_fails_the_attempt() -> None:
    v = running()
    message = f"attempt 1 of 1 failed: job {CURRENT} was deleted"
    expected = Decision(
        status=status(
            P.FAILED, message, error="JobDeleted", v=v, failures=1, lastFailureReason="JobDeleted"
        ),
        effects=(Emit("Warning", "Failed", message),),
    )
    assert decide(v, None) == expected
    assert decide(v, job(JobState.RUNNING, deleting=True)) == expected


def test_a_succeeded_job_succeeds_the_action() -> None:
    v = running()
    assert decide(v, job(JobState.SUCCEEDED)) == Decision(
        status=status(P.SUCCEEDED, "the job completed", v=v, progress=100),
        effects=(Emit("Normal", "Succeeded", "the job completed"),),
    )


def test_a_failed_job_with_retries_left_queues_the_next_attempt_with_backoff() -> None:
    v = running(backoff_limit=2, failures=1, attempts=2)
    message = "attempt 2 of 3 failed: exit code 3; retrying in 20s"
    assert decide(v, job(JobState.FAILED, message="exit code 3")) == Decision(
        status=status(
            P.QUEUED,
            message,
            v=v,
            failures=2,
            lastFailureReason="JobFailed",
            nextAttemptAt=at(20),
            jobName=CURRENT,
            queue="default",
        ),
        effects=(Emit("Warning", "Retrying", message),),
        requeue_after=20.0,
    )


def test_the_last_failure_fails_the_action_for_its_backoff_limit() -> None:
    v = running(backoff_limit=1, failures=1, attempts=2)
    message = "attempt 2 of 2 failed: the job failed"
    assert decide(v, job(JobState.FAILED)) == Decision(
        status=status(
            P.FAILED,
            message,
            error="BackoffLimitExceeded",
            v=v,
            failures=2,
            lastFailureReason="JobFailed",
        ),
        effects=(Emit("Warning", "Failed", message),),
    )


def test_a_reported_failure_retries_and_stops_the_job_still_running() -> None:
    v = running(backoff_limit=1, error={"reason": "JobReportedFailure", "message": "bad input"})
    message = "attempt 1 of 2 failed: bad input; retrying in 10s"
    assert decide(v, job(JobState.RUNNING)) == Decision(
        status=status(
            P.QUEUED,
            message,
            v=v,
            failures=1,
            lastFailureReason="JobReportedFailure",
            nextAttemptAt=at(10),
            jobName=CURRENT,
            queue="default",
        ),
        effects=(DeleteJob(CURRENT), Emit("Warning", "Retrying", message)),
        requeue_after=10.0,
    )
    last = replace(v, backoff_limit=0, error={"reason": "JobReportedFailure"})
    message = "attempt 1 of 1 failed: the job reported a failure"
    assert decide(last, job(JobState.SUCCEEDED)) == Decision(
        status=status(
            P.FAILED,
            message,
            error="JobReportedFailure",
            v=last,
            failures=1,
            lastFailureReason="JobReportedFailure",
        ),
        effects=(Emit("Warning", "Failed", message),),
    )


def test_a_pod_that_never_starts_fails_the_attempt_at_the_start_timeout() -> None:
    v = running(start_timeout_seconds=120)
    stuck = job(
        JobState.PENDING, created_at=NOW - timedelta(seconds=120), waiting_reason="ErrImagePull"
    )
    message = "attempt 1 of 1 failed: the pod did not start within 120s (ErrImagePull)"
    assert decide(v, stuck) == Decision(
        status=status(
            P.FAILED,
            message,
            error="BackoffLimitExceeded",
            v=v,
            failures=1,
            lastFailureReason="StartTimeout",
        ),
        effects=(DeleteJob(CURRENT), Emit("Warning", "Failed", message)),
    )
    unknown = replace(stuck, waiting_reason=None)
    assert decide(v, unknown).status["message"].endswith("within 120s (no reason given)")
    waiting = replace(stuck, created_at=NOW - timedelta(seconds=100))
    assert decide(v, waiting) == Decision(requeue_after=20.0)
    assert decide(v, replace(stuck, created_at=None)) == Decision(requeue_after=30)


def test_a_running_job_moves_starting_to_running() -> None:
    v = running(phase=P.STARTING, active_deadline_seconds=25)
    message = f"job {CURRENT} is running"
    assert decide(v, job(JobState.RUNNING)) == Decision(
        status=status(P.RUNNING, message, v=v), requeue_after=20.0
    )
    assert decide(running(), job(JobState.RUNNING)) == Decision(requeue_after=30)


def test_the_queue_is_recorded_while_waiting_and_kept_once_admitted() -> None:
    """An edit of spec.queue applies from the next attempt: a running attempt counts
    against the queue it was admitted to, and ends there."""
    edited = running(queue="batch", status_queue="default")
    assert decide(edited, job(JobState.RUNNING)) == Decision(requeue_after=30)
    assert "queue" not in decide(edited, job(JobState.SUCCEEDED)).status
    waiting = view(phase=P.QUEUED, queue="batch", status_queue="default")
    assert decide(waiting) == Decision(status={"queue": "batch"})
    # a retry goes back to waiting: the edited queue is recorded with it
    retried = replace(edited, backoff_limit=1)
    assert decide(retried, job(JobState.FAILED)).status["queue"] == "batch"


# --- outside reconcile -------------------------------------------------------------------


def test_failure_decision_stops_the_current_job() -> None:
    v = running()
    assert failure_decision(v, "InvalidTemplate", "bad template", now=NOW) == Decision(
        status=status(P.FAILED, "bad template", error="InvalidTemplate", v=v),
        effects=(DeleteJob(CURRENT), Emit("Warning", "Failed", "bad template")),
    )
    fresh = view()
    assert failure_decision(fresh, "StoreAccessDenied", "no", now=NOW) == Decision(
        status=status(P.FAILED, "no", error="StoreAccessDenied", v=fresh),
        effects=(Emit("Warning", "Failed", "no"),),
    )
    assert failure_decision(finished(), "X", "y", now=NOW) == Decision()


@pytest.mark.parametrize(
    ("name", "uid", "attempt", "expected"),
    [
        ("act", "abcdef-123", 1, "act-abcdef123-1"),
        ("My.Action_1", "0B9F-11", 12, "my-action-1-0b9f11-12"),
        (
            "a" * 60,
            "7f3c2a10-5b8e-4d61-9a2f-0c4e8b1d6a93",
            2,
            "a" * 17 + "-7f3c2a105b8e4d619a2f0c4e8b1d6a93-2",
        ),
        ("-x-", "u", 3, "x-u-3"),
        ("---", "u", 3, "u-3"),
        ("b" * 10, "f" * 60, 1, "f" * 60 + "-1"),
    ],
)
def test_job_names(name: str, uid: str, attempt: int, expected: str) -> None:
    assert job_name_for(name, uid, attempt) == expected


def test_retry_delay_doubles_from_the_base_up_to_the_cap() -> None:
    settings = LifecycleSettings(backoff_base_seconds=10, backoff_max_seconds=60, poll_seconds=1)
    assert [retry_delay(n, settings) for n in range(6)] == [10, 10, 20, 40, 60, 60]


# --- edges ---------------------------------------------------------------------------------


def test_a_deleted_job_with_retries_left_is_retried_after_the_backoff() -> None:
    v = running(backoff_limit=1)
    message = f"attempt 1 of 2 failed: job {CURRENT} was deleted; retrying in 10s"
    assert decide(v, None) == Decision(
        status=status(
            P.QUEUED,
            message,
            v=v,
            failures=1,
            lastFailureReason="JobDeleted",
            nextAttemptAt=at(10),
            jobName=CURRENT,
            queue="default",
        ),
        effects=(Emit("Warning", "Retrying", message),),
        requeue_after=10.0,
    )


def test_a_pending_pod_far_from_its_start_timeout_is_polled() -> None:
    v = running(start_timeout_seconds=600)
    pending = job(JobState.PENDING, created_at=NOW - timedelta(seconds=10))
    assert decide(v, pending) == Decision(requeue_after=30)


def test_a_start_time_of_now_is_due() -> None:
    assert decide(view(start_at=NOW)).status["phase"] == "QUEUED"
    assert decide(view(start_at=NOW), admitted=True).status["phase"] == "STARTING"
    assert decide(paused(start_at=NOW)).status["phase"] == "QUEUED"


def test_paused_seconds_are_kept_to_the_millisecond() -> None:
    v = running(phase=P.PAUSED, paused_at=NOW - timedelta(microseconds=1400))
    assert decide(v).status["pausedSeconds"] == 0.001


def test_an_unchanged_condition_keeps_its_transition_time_through_reconcile() -> None:
    before = NOW - timedelta(minutes=5)
    previous = tuple(conditions_for(P.STARTING, now=before, observed_generation=1))
    v = running(phase=P.STARTING, conditions=previous)
    written = decide(v, job(JobState.RUNNING)).status["conditions"]
    assert {c["lastTransitionTime"] for c in written} == {"2026-11-23T11:55:00Z"}
    stale = finished(P.SUCCEEDED, generation=2)
    stale = replace(
        stale, conditions=tuple(conditions_for(P.SUCCEEDED, now=before, observed_generation=1))
    )
    written = decide(stale).status["conditions"]
    assert {c["lastTransitionTime"] for c in written} == {"2026-11-23T11:55:00Z"}


def test_a_refused_attempt_counts_against_the_backoff_then_fails_with_its_reason() -> None:
    from asyncaction.lifecycle import refused_attempt

    v = running(phase=P.STARTING, backoff_limit=1)
    message = "attempt 1 of 2 failed: quota exceeded; retrying in 10s"
    assert refused_attempt(v, "Forbidden", "quota exceeded", now=NOW, settings=SETTINGS) == (
        Decision(
            status=status(
                P.QUEUED,
                message,
                v=v,
                failures=1,
                lastFailureReason="Forbidden",
                nextAttemptAt=at(10),
                jobName=CURRENT,
                queue="default",
            ),
            effects=(Emit("Warning", "Retrying", message),),
            requeue_after=10.0,
        )
    )
    last = replace(v, backoff_limit=0)
    message = "attempt 1 of 1 failed: quota exceeded"
    assert refused_attempt(last, "Forbidden", "quota exceeded", now=NOW, settings=SETTINGS) == (
        Decision(
            status=status(
                P.FAILED,
                message,
                error="Forbidden",
                v=last,
                failures=1,
                lastFailureReason="Forbidden",
            ),
            effects=(Emit("Warning", "Failed", message),),
        )
    )
    assert refused_attempt(finished(), "Forbidden", "x", now=NOW, settings=SETTINGS) == Decision()
