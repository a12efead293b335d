from datetime import datetime, timedelta

import pytest

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import (
    CreateJob,
    Decision,
    DeleteJob,
    JobState,
    action_view_from,
    can_transition,
    failure_decision,
    is_eligible,
    job_name_for,
    reconcile,
    retry_delay,
)
from asyncaction.lifecycle.views import ActionView, JobView
from asyncaction.timeutil import format_time
from tests.unit.lifecycle.helpers import (
    NOW,
    SETTINGS,
    as_emit,
    effect_types,
    job,
    later,
    phase_of,
    running,
    view,
)


def decide(
    v: ActionView, j: JobView | None = None, *, admitted: bool = False, now: datetime = NOW
) -> Decision:
    decision = reconcile(v, j, now=now, admitted=admitted, settings=SETTINGS)
    phase = phase_of(decision)
    if phase:
        assert can_transition(v.phase, Phase(phase))
    return decision


def apply(v: ActionView, decision: Decision) -> ActionView:
    """The view the next pass sees after the status patch is written."""
    obj = {
        "metadata": {
            "name": v.name,
            "namespace": v.namespace,
            "uid": v.uid,
            "generation": v.generation,
        },
        "spec": {
            "suspend": v.suspend,
            "abort": v.abort,
            "backoffLimit": v.backoff_limit,
            "activeDeadlineSeconds": v.active_deadline_seconds,
            "ttlSecondsAfterFinished": v.ttl_seconds_after_finished,
            "startAt": format_time(v.start_at) if v.start_at else None,
        },
        "status": {
            k: val
            for k, val in {
                "phase": v.phase.value if v.phase else None,
                "attempts": v.attempts,
                "failures": v.failures,
                "jobName": v.job_name,
                "startedAt": format_time(v.started_at) if v.started_at else None,
                "pausedSeconds": v.paused_seconds,
                **decision.status,
            }.items()
            if val is not None
        },
    }
    return action_view_from(obj, has_handler=v.has_handler)


class TestNew:
    def test_queued_and_started_when_admitted(self) -> None:
        first = decide(view())
        assert phase_of(first) == "QUEUED"
        assert [(e.type, e.reason) for e in map(as_emit, first.effects)] == [("Normal", "Queued")]
        queued = apply(view(), first)
        assert not effect_types(decide(queued))[:-1]  # not admitted: waits
        started = decide(queued, admitted=True)
        assert phase_of(started) == "STARTING"
        assert started.status["attempts"] == 1
        assert started.status["jobName"] == job_name_for("act", "abcdef-123", 1)
        # One Event per attempt's start, posted once its Job exists.
        assert effect_types(started) == ["EnsureSecret", "CreateJob", "Emit"]
        event = as_emit(started.effects[-1])
        assert (event.type, event.reason) == ("Normal", "Started")
        assert event.message == f"attempt 1 of 1: job {started.status['jobName']}"

    def test_a_new_action_with_a_free_slot_starts_in_one_status_write(self) -> None:
        started = decide(view(), admitted=True)
        assert phase_of(started) == "STARTING"
        assert started.status["queuedAt"] == started.status["startedAt"] == format_time(NOW)
        assert started.status["attempts"] == 1
        assert effect_types(started) == ["EnsureSecret", "CreateJob", "Emit"]  # Started

    @pytest.mark.parametrize(
        ("changes", "phase", "reason"),
        [
            ({"abort": True}, "ABORTED", "Aborted"),
            ({"has_handler": False}, "FAILED", "NoHandler"),
            ({"suspend": True}, "PAUSED", None),
            ({"start_at": later(60)}, "SCHEDULED", None),
        ],
    )
    def test_first_phase(self, changes: dict[str, object], phase: str, reason: str | None) -> None:
        decision = decide(view(**changes))
        assert phase_of(decision) == phase
        assert (decision.status.get("error") or {}).get("reason") == reason

    def test_scheduled_waits_then_queues(self) -> None:
        scheduled = view(phase=Phase.SCHEDULED, start_at=later(60))
        assert decide(scheduled).requeue_after == 60
        assert phase_of(decide(scheduled, now=later(61))) == "QUEUED"


class TestRunning:
    def test_pod_running_moves_starting_to_running(self) -> None:
        starting = running(phase=Phase.STARTING)
        assert phase_of(decide(starting, job(JobState.RUNNING))) == "RUNNING"
        assert phase_of(decide(starting, job(JobState.PENDING))) is None

    def test_crash_after_status_write_recreates_the_same_job(self) -> None:
        starting = running(phase=Phase.STARTING)
        decision = decide(starting, None)
        assert decision.status == {}
        assert CreateJob(1, "act-abcde-1") in decision.effects

    def test_success_without_report(self) -> None:
        decision = decide(running(), job(JobState.SUCCEEDED, exit_code=0))
        assert phase_of(decision) == "SUCCEEDED"
        assert decision.status["progress"] == 100
        assert decision.status["finishedAt"] == format_time(NOW)
        assert decision.status["error"] is None

    def test_failure_retries_with_backoff_then_fails(self) -> None:
        failed = job(JobState.FAILED, exit_code=3, message="exit code 3")
        retry = decide(running(backoff_limit=1), failed)
        assert phase_of(retry) == "QUEUED"
        assert retry.status["failures"] == 1
        assert retry.status["nextAttemptAt"] == format_time(later(10))
        assert retry.requeue_after == 10
        assert "Retrying" in [getattr(e, "reason", "") for e in retry.effects]
        final = decide(running(backoff_limit=1, attempts=2, failures=1), failed)
        assert phase_of(final) == "FAILED"
        assert final.status["error"]["reason"] == "BackoffLimitExceeded"
        assert "attempt 2 of 2 failed: exit code 3" in final.status["error"]["message"]
        assert not [e for e in final.effects if isinstance(e, DeleteJob)]  # kept as record

    def test_backoff_grows_and_is_capped(self) -> None:
        assert [retry_delay(n, SETTINGS) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]

    def test_retry_waits_for_next_attempt_time(self) -> None:
        queued = view(phase=Phase.QUEUED, next_attempt_at=later(5), attempts=1, failures=1)
        assert not is_eligible(queued, NOW)
        assert decide(queued, admitted=True).requeue_after == 5
        started = decide(queued, admitted=True, now=later(5))
        assert started.status["attempts"] == 2
        assert started.status["nextAttemptAt"] is None

    def test_job_deleted_behind_our_back(self) -> None:
        decision = decide(running(), None)
        assert phase_of(decision) == "FAILED"
        assert decision.status["error"]["reason"] == "JobDeleted"
        deleting = decide(running(), job(JobState.RUNNING, deleting=True))
        assert deleting.status["error"]["reason"] == "JobDeleted"


class TestUserControls:
    def test_abort_deletes_the_running_job(self) -> None:
        decision = decide(running(abort=True), job(JobState.RUNNING))
        assert phase_of(decision) == "ABORTED"
        assert DeleteJob("act-abcde-1") in decision.effects
        assert decision.status["conditions"][1] == {
            **decision.status["conditions"][1],
            "type": "Stalled",
            "status": "True",
        }

    def test_suspend_stops_the_attempt_and_resume_queues_a_new_one(self) -> None:
        paused = decide(running(suspend=True), job(JobState.RUNNING))
        assert phase_of(paused) == "PAUSED"
        assert DeleteJob("act-abcde-1") in paused.effects
        held = running(phase=Phase.PAUSED, paused_at=NOW, suspend=True)
        assert decide(held).status == {}
        resumed = decide(running(phase=Phase.PAUSED, paused_at=NOW), now=later(30))
        assert phase_of(resumed) == "QUEUED"
        assert resumed.status["pausedSeconds"] == 30
        assert resumed.status["pausedAt"] is None

    def test_suspended_queued_action_is_not_admitted(self) -> None:
        assert not is_eligible(view(phase=Phase.QUEUED, suspend=True), NOW)
        assert phase_of(decide(view(phase=Phase.QUEUED, suspend=True), admitted=True)) == "PAUSED"

    def test_deadline_excludes_paused_time(self) -> None:
        v = running(
            active_deadline_seconds=10, started_at=NOW - timedelta(seconds=15), paused_seconds=8
        )
        assert phase_of(decide(v, job(JobState.RUNNING))) is None
        assert decide(v, job(JobState.RUNNING)).requeue_after == 3
        timed_out = decide(v, job(JobState.RUNNING), now=later(3))
        assert phase_of(timed_out) == "TIMEOUT"
        assert timed_out.status["error"]["reason"] == "DeadlineExceeded"
        assert DeleteJob("act-abcde-1") in timed_out.effects

    def test_paused_action_does_not_time_out(self) -> None:
        v = running(
            phase=Phase.PAUSED,
            suspend=True,
            active_deadline_seconds=1,
            paused_at=NOW - timedelta(seconds=1),
        )
        assert decide(v, now=later(100)).status == {}


class TestTerminal:
    @pytest.mark.parametrize("phase", [Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.TIMEOUT])
    def test_nothing_moves_a_terminal_action(self, phase: Phase) -> None:
        v = running(phase=phase, finished_at=NOW, abort=True, suspend=True)
        for observed in (None, job(JobState.SUCCEEDED), job(JobState.FAILED)):
            assert phase_of(decide(v, observed, admitted=True)) is None
        assert failure_decision(v, "InvalidSpec", "x", now=NOW).status == {}

    def test_terminal_stops_a_job_still_running(self) -> None:
        v = running(phase=Phase.ABORTED, finished_at=NOW)
        assert DeleteJob("act-abcde-1") in decide(v, job(JobState.RUNNING)).effects

    def test_a_job_that_reported_its_end_may_finish(self) -> None:
        v = running(phase=Phase.SUCCEEDED, finished_at=NOW)
        assert not [e for e in decide(v, job(JobState.RUNNING)).effects if isinstance(e, DeleteJob)]

    def test_ttl_removes_children_once(self) -> None:
        v = running(phase=Phase.SUCCEEDED, finished_at=NOW, ttl_seconds_after_finished=30)
        assert decide(v, job(JobState.SUCCEEDED)).requeue_after == 30
        expired = decide(v, job(JobState.SUCCEEDED), now=later(30))
        assert effect_types(expired)[-1] == "RemoveChildren"
        # marked done only after the removal ran: a crash in between repeats it
        assert "childrenRemovedAt" not in expired.status
        assert expired.after["childrenRemovedAt"] == format_time(later(30))
        done = running(
            phase=Phase.SUCCEEDED,
            finished_at=NOW,
            ttl_seconds_after_finished=30,
            children_removed_at=later(30),
        )
        assert "RemoveChildren" not in effect_types(decide(done, None, now=later(60)))


def test_idempotent_after_applying_its_own_decision() -> None:
    v = view(phase=Phase.QUEUED)
    started = decide(v, admitted=True)
    again = apply(v, started)
    second = decide(again, None, admitted=True)
    assert phase_of(second) is None
    assert [e for e in second.effects if isinstance(e, CreateJob)] == [
        CreateJob(1, started.status["jobName"])
    ]


def test_job_names_are_dns_labels() -> None:
    name = job_name_for("A.Very_Long.Name-" * 5, "ABCDEF", 12)
    assert len(name) <= 52
    assert name == name.lower()
    assert name.endswith("-abcdef-12")  # the whole uid: no two actions share a name
    assert all(c.isalnum() or c == "-" for c in name)
