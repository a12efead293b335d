"""Issue 13: clean attempts, the admitted queue kept while an attempt runs, refusals
counted against backoffLimit, and the one admission order (pure lifecycle)."""

from datetime import timedelta

from asyncaction.api.phases import Phase
from asyncaction.controllers.admission import Admissions, Member, QueueLimits
from asyncaction.lifecycle import (
    Candidate,
    EnsureSecret,
    JobState,
    admission_order,
    reconcile,
    refused_attempt,
    select_admissions,
)
from asyncaction.lifecycle.attempts import PREVIOUS_ATTEMPT_REPORTS
from tests.unit.lifecycle.helpers import NOW, SETTINGS, job, running, view


def test_a_retry_clears_what_the_previous_attempt_reported() -> None:
    retry = view(phase=Phase.QUEUED, attempts=1, failures=1, job_name="act-abcde-1")
    decision = reconcile(retry, None, now=NOW, admitted=True, settings=SETTINGS)
    assert decision.status["phase"] == "STARTING"
    assert decision.status["attempts"] == 2
    for field in ("result", "statusDetails", "progress", "logTail", "lastReportAt"):
        assert field in decision.status
        assert decision.status[field] is None
    assert set(PREVIOUS_ATTEMPT_REPORTS) == {
        "result",
        "statusDetails",
        "progress",
        "logTail",
        "lastReportAt",
    }


def test_a_first_attempt_writes_no_clearing_fields() -> None:
    fresh = view(phase=Phase.QUEUED)
    decision = reconcile(fresh, None, now=NOW, admitted=True, settings=SETTINGS)
    assert decision.status["attempts"] == 1
    assert not set(PREVIOUS_ATTEMPT_REPORTS) & set(decision.status)


def test_a_running_attempt_keeps_the_queue_it_was_admitted_to_after_an_edit() -> None:
    edited = running(queue="other", status_queue="batch")
    quiet = reconcile(edited, job(JobState.RUNNING), now=NOW, admitted=False, settings=SETTINGS)
    assert "queue" not in quiet.status
    starting = running(phase=Phase.STARTING, queue="other", status_queue="batch")
    up = reconcile(starting, job(JobState.RUNNING), now=NOW, admitted=False, settings=SETTINGS)
    assert up.status["phase"] == "RUNNING"
    assert "queue" not in up.status
    ended = reconcile(edited, job(JobState.SUCCEEDED), now=NOW, admitted=False, settings=SETTINGS)
    assert ended.status["phase"] == "SUCCEEDED"
    assert "queue" not in ended.status  # it ran in "batch": the record says so


def test_a_retry_after_an_edit_waits_in_the_new_queue() -> None:
    edited = running(queue="other", status_queue="batch", backoff_limit=1)
    decision = reconcile(edited, job(JobState.FAILED), now=NOW, admitted=False, settings=SETTINGS)
    assert decision.status["phase"] == "QUEUED"
    assert decision.status["queue"] == "other"


def test_a_refused_attempt_retries_within_backoff_limit_then_fails_with_the_reason() -> None:
    starting = view(
        phase=Phase.STARTING, attempts=1, job_name="act-abcde-1", backoff_limit=1, queue="batch"
    )
    first = refused_attempt(starting, "BadRequest", "denied by policy", now=NOW, settings=SETTINGS)
    assert first.status["phase"] == "QUEUED"
    assert first.status["failures"] == 1
    assert first.status["nextAttemptAt"] == "2026-11-23T12:00:10Z"
    assert "denied by policy" in first.status["message"]
    assert first.requeue_after == 10
    again = view(
        phase=Phase.STARTING, attempts=2, failures=1, job_name="act-abcde-2", backoff_limit=1
    )
    final = refused_attempt(again, "BadRequest", "denied by policy", now=NOW, settings=SETTINGS)
    assert final.status["phase"] == "FAILED"
    assert final.status["error"] == {
        "reason": "BadRequest",
        "message": "attempt 2 of 2 failed: denied by policy",
    }
    assert not any(isinstance(e, EnsureSecret) for e in final.effects)
    done = view(phase=Phase.FAILED, finished_at=NOW)
    assert refused_attempt(done, "BadRequest", "x", now=NOW, settings=SETTINGS).status == {}


def test_the_heap_of_a_queue_and_select_admissions_order_alike() -> None:
    candidates = [
        Candidate("a", 0, NOW, "q"),
        Candidate("b", 5, NOW + timedelta(1), "q"),
        Candidate("c", 0, NOW - timedelta(1), "q"),
        Candidate("d", 0, NOW - timedelta(1), "q"),
    ]
    admissions = Admissions()
    admissions.set_limits(("ns", "q"), QueueLimits(None))
    admissions.open = True
    for c in candidates:
        admissions.observe(Member(c.uid, ("ns", "q"), c.priority, c.created_at, Phase.QUEUED, True))
    heap_order = admissions.fill(("ns", "q"))
    assert heap_order == select_admissions(candidates, active_count=0, max_concurrent=None)
    assert heap_order == ["b", "c", "d", "a"]
    assert admission_order(5, NOW, "b") < admission_order(0, NOW - timedelta(days=9), "a")
