"""What each change of an action counts (``controllers.action_metrics``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from asyncaction.controllers.action_metrics import ActionMetrics, actions_by_phase
from asyncaction.runtime.metrics import Metrics
from asyncaction.timeutil import format_time, utcnow


def action(phase: str | None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "u1",
            "creationTimestamp": format_time(utcnow() - timedelta(seconds=60)),
        },
        "spec": {"queue": "batch"},
        "status": {"phase": phase, "queue": "batch", **status} if phase else {},
    }


def test_a_retried_then_successful_action_counts_each_step_once() -> None:
    base = Metrics()
    metrics = ActionMetrics.of(base)
    now = utcnow()
    queued_at = format_time(now - timedelta(seconds=30))
    new = action(None)
    queued = action("QUEUED", queuedAt=queued_at, failures=0)
    starting = action("STARTING", queuedAt=queued_at, attempts=1, failures=0)
    running = action("RUNNING", queuedAt=queued_at, attempts=1, startedAt=format_time(now))
    retry = {
        **action("QUEUED", queuedAt=queued_at, attempts=1, failures=1),
    }
    retry["status"]["conditions"] = [{"type": "Ready", "status": "Unknown", "reason": "JobFailed"}]
    retry["status"]["startedAt"] = format_time(now - timedelta(seconds=100))
    again = action("STARTING", queuedAt=queued_at, attempts=2, failures=1)
    done = action(
        "SUCCEEDED",
        attempts=2,
        startedAt=format_time(now - timedelta(seconds=100)),
        finishedAt=format_time(now),
        pausedSeconds=40.0,
    )
    metrics.observe_transition(new, queued)
    # A restart: the new process first sees the action QUEUED (a relist): nothing counted,
    # and its wait is measured from status.queuedAt.
    base = Metrics()
    metrics = ActionMetrics.of(base)
    metrics.observe_transition(None, queued)
    for old, new_ in [(queued, starting), (starting, running), (running, retry)]:
        metrics.observe_transition(old, new_)
    metrics.observe_transition(retry, retry)  # no phase change: nothing
    metrics.observe_transition(retry, again)
    metrics.observe_transition(again, done)
    s = base.snapshot()
    # This process saw the start: the run is timed by its own clock (sub-second).
    seen = (
        'asyncaction_execution_time_seconds_{}{{namespace="ns",outcome="SUCCEEDED",queue="batch"}}'
    )
    assert s[seen.format("count")] == 1
    assert s[seen.format("sum")] < 5
    # A process that did not see the start falls back on the status' times.
    after_restart = Metrics()
    metrics_after_restart = ActionMetrics.of(after_restart)
    metrics_after_restart.observe_transition(again, done)
    s_after = after_restart.snapshot()
    edge = (
        "asyncaction_phase_transitions_total"
        '{{from_phase="{}",namespace="ns",queue="batch",to_phase="{}"}}'
    )
    assert edge.format("", "QUEUED") not in s
    assert s[edge.format("QUEUED", "STARTING")] == 2
    assert s[edge.format("STARTING", "RUNNING")] == 1
    assert s[edge.format("RUNNING", "QUEUED")] == 1
    assert s[edge.format("STARTING", "SUCCEEDED")] == 1
    assert base.total("asyncaction_phase_transitions_total") == 5
    assert s['asyncaction_attempts_total{reason="JobFailed",result="failed"}'] == 1
    assert s['asyncaction_attempts_total{reason="Succeeded",result="succeeded"}'] == 1
    waits = 'asyncaction_admission_wait_time_seconds_{}{{namespace="ns",queue="batch"}}'
    assert s[waits.format("count")] == 2
    # The first wait began at queuedAt (30 s ago), not at creation (60 s ago); the
    # second when this process saw the retry enter QUEUED (just now).
    assert 29 <= s[waits.format("sum")] < 40
    assert s_after[seen.format("sum")] == pytest.approx(60.0)  # 100 s minus 40 s paused
    metrics.observe_transition(done, None)  # deleted: forgotten
    assert not metrics._started_seen


def test_actions_by_phase_counts_the_cache() -> None:
    family = actions_by_phase([action("RUNNING"), action("RUNNING"), action(None)])
    assert {(tuple(sorted(s.labels.items())), s.value) for s in family.samples} == {
        ((("namespace", "ns"), ("phase", "RUNNING"), ("queue", "batch")), 2),
        ((("namespace", "ns"), ("phase", "NEW"), ("queue", "batch")), 1),
    }


def test_one_set_of_action_metrics_per_registry_survives_a_new_manager() -> None:
    """A manager restarted after losing its Lease asks again: it gets the same counters
    and what this process saw of each action, and the exposition has each series once."""
    metrics = Metrics()
    first = ActionMetrics.of(metrics)
    first.observe_transition(action("QUEUED"), action("STARTING"))
    first.admission(True)
    again = ActionMetrics.of(metrics)
    assert again is first
    again.admission(False)
    s = metrics.snapshot()
    assert s['asyncaction_admission_attempts_total{result="success"}'] == 1
    assert s['asyncaction_admission_attempts_total{result="inadmissible"}'] == 1
    assert metrics.render().count(b"# TYPE asyncaction_phase_transitions_total counter") == 1
    assert ActionMetrics.of(Metrics()) is not first  # another registry, its own


def test_failed_attempts_count_by_their_cause_as_the_lifecycle_writes_it() -> None:
    """Found by a review: a retried attempt counted as reason "Queued" (the retry's Ready
    reason) and the last as "BackoffLimitExceeded", whatever had failed: the panel of
    failed attempts by reason could not tell an image pull from a crash. Driven by the
    lifecycle's own decisions now, not by a condition written by hand."""
    from asyncaction.lifecycle.attempts import LifecycleSettings
    from asyncaction.lifecycle.failures import attempt_failed
    from asyncaction.lifecycle.views import JobState, JobView, action_view_from

    base = Metrics()
    metrics = ActionMetrics.of(base)
    now = utcnow()
    for cause, phase, backoff_limit in (
        ("JobFailed", "RUNNING", 2),
        ("StartTimeout", "STARTING", 2),
        ("JobFailed", "RUNNING", 0),
        ("StartTimeout", "STARTING", 0),
    ):
        old = action(phase, attempts=1, failures=0, jobName="a-1")
        old["metadata"]["generation"] = 1
        old["spec"]["backoffLimit"] = backoff_limit
        view = action_view_from(old, has_handler=True)
        decision = attempt_failed(
            view, JobView("a-1", JobState.FAILED), now, LifecycleSettings(), cause=cause, detail="x"
        )
        assert decision.status is not None
        metrics.observe_transition(old, {**old, "status": {**old["status"], **decision.status}})
    s = base.snapshot()
    failed = 'asyncaction_attempts_total{{reason="{}",result="failed"}}'
    assert s[failed.format("JobFailed")] == 2
    assert s[failed.format("StartTimeout")] == 2
    assert failed.format("Queued") not in s
    assert failed.format("BackoffLimitExceeded") not in s


def test_a_deadline_after_an_earlier_failure_counts_as_deadline_exceeded() -> None:
    """``lastFailureReason`` stays after a retry: a later TIMEOUT was counted by it."""
    base = Metrics()
    metrics = ActionMetrics.of(base)
    running = action("RUNNING", attempts=2, failures=1, lastFailureReason="JobFailed")
    timed_out = action(
        "TIMEOUT",
        attempts=2,
        failures=1,
        lastFailureReason="JobFailed",
        error={"reason": "DeadlineExceeded", "message": "past activeDeadlineSeconds"},
    )
    metrics.observe_transition(running, timed_out)
    s = base.snapshot()
    assert s['asyncaction_attempts_total{reason="DeadlineExceeded",result="failed"}'] == 1
    assert 'asyncaction_attempts_total{reason="JobFailed",result="failed"}' not in s
