"""One test per correctness defect of issue 7 that the pure lifecycle can show."""

from datetime import datetime, timedelta

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import (
    CreateJob,
    Decision,
    DeleteJob,
    JobState,
    job_name_for,
    job_view_from,
    reconcile,
)
from asyncaction.lifecycle.views import ActionView, JobView
from asyncaction.timeutil import format_time
from tests.unit.lifecycle.helpers import (
    NOW,
    SETTINGS,
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
    return reconcile(v, j, now=now, admitted=admitted, settings=SETTINGS)


def test_job_names_of_actions_sharing_a_long_prefix_and_uid_start_differ() -> None:
    prefix = "x" * 45
    first = job_name_for(prefix + "-a", "12345678-aaaa-4000-8000-000000000001", 1)
    second = job_name_for(prefix + "-b", "12345678-bbbb-4000-8000-000000000002", 1)
    assert first != second
    assert max(len(first), len(second)) <= 52


def test_a_pod_that_never_starts_fails_the_attempt_after_the_start_timeout() -> None:
    starting = running(phase=Phase.STARTING, start_timeout_seconds=60, backoff_limit=1)
    pending = job(
        JobState.PENDING, created_at=NOW - timedelta(seconds=10), waiting_reason="ImagePullBackOff"
    )
    waiting = decide(starting, pending)
    assert phase_of(waiting) is None
    assert (waiting.requeue_after or 999) <= 50
    retried = decide(starting, pending, now=later(50))
    assert phase_of(retried) == "QUEUED"  # counts against backoffLimit, retried
    assert retried.status["failures"] == 1
    assert "ImagePullBackOff" in retried.status["message"]
    assert DeleteJob("act-abcde-1") in retried.effects  # the stuck attempt goes
    last = running(
        phase=Phase.STARTING, start_timeout_seconds=60, backoff_limit=1, attempts=2, failures=1
    )
    failed = decide(last, pending, now=later(50))
    assert phase_of(failed) == "FAILED"
    assert "ImagePullBackOff" in failed.status["error"]["message"]


def test_the_waiting_reason_of_a_pod_is_seen() -> None:
    pod = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"state": {"waiting": {"reason": "CreateContainerConfigError", "message": "no"}}}
            ],
        }
    }
    unschedulable = {
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        }
    }
    meta = {"metadata": {"name": "j", "creationTimestamp": format_time(NOW)}}
    assert job_view_from(meta, [pod]).waiting_reason == "CreateContainerConfigError: no"
    assert job_view_from(meta, [unschedulable]).waiting_reason == "Unschedulable"
    assert job_view_from(meta, []).created_at == NOW


def test_paused_keeps_deleting_the_old_job_and_no_attempt_starts_beside_it() -> None:
    paused = running(phase=Phase.PAUSED, paused_at=NOW, suspend=True)
    assert DeleteJob("act-abcde-1") in decide(paused, job(JobState.RUNNING)).effects
    queued = running(phase=Phase.QUEUED)
    blocked = decide(queued, job(JobState.RUNNING), admitted=True)
    assert phase_of(blocked) is None
    assert not [e for e in blocked.effects if isinstance(e, CreateJob)]
    assert DeleteJob("act-abcde-1") in blocked.effects
    deleting = decide(queued, job(JobState.RUNNING, deleting=True), admitted=True)
    assert deleting.effects == ()  # the delete is under way: wait for it
    gone = decide(queued, None, admitted=True)
    assert phase_of(gone) == "STARTING"


def test_paused_time_before_the_first_start_does_not_extend_the_deadline() -> None:
    held = view(phase=Phase.PAUSED, paused_at=NOW - timedelta(seconds=100))
    resumed = decide(held)
    assert phase_of(resumed) == "QUEUED"
    assert resumed.status["pausedSeconds"] == 0


def test_a_spec_edit_of_a_finished_action_updates_observed_generation() -> None:
    done = running(
        phase=Phase.SUCCEEDED,
        finished_at=NOW,
        generation=3,
        observed_generation=2,
        conditions=(
            {"type": "Ready", "status": "True", "observedGeneration": 2},
            {"type": "Succeeded", "status": "True", "observedGeneration": 2},
        ),
    )
    decision = decide(done, job(JobState.SUCCEEDED))
    assert decision.status["observedGeneration"] == 3
    assert {c["observedGeneration"] for c in decision.status["conditions"]} == {3}


def test_a_scheduled_action_past_its_deadline_times_out_instead_of_crashing() -> None:
    scheduled = running(
        phase=Phase.SCHEDULED,
        start_at=later(600),
        active_deadline_seconds=10,
        started_at=NOW - timedelta(seconds=60),
    )
    decision = decide(scheduled)
    assert phase_of(decision) == "TIMEOUT"
    assert effect_types(decision) == ["Emit"]


def test_a_failure_reported_through_the_hook_is_a_failed_attempt_and_retried() -> None:
    reported = {"reason": "JobReportedFailure", "message": "disk full"}
    attempt = running(backoff_limit=1, error=reported)
    retried = decide(attempt, job(JobState.RUNNING))
    assert phase_of(retried) == "QUEUED"
    assert retried.status["failures"] == 1
    assert retried.status["error"] is None  # the next attempt starts clean
    assert "disk full" in retried.status["message"]
    assert DeleteJob("act-abcde-1") in retried.effects
    last = running(backoff_limit=1, attempts=2, failures=1, error=reported)
    failed = decide(last, job(JobState.FAILED, exit_code=1))
    assert phase_of(failed) == "FAILED"
    assert failed.status["error"]["reason"] == "JobReportedFailure"
    assert "disk full" in failed.status["error"]["message"]


def test_a_waiting_action_is_not_polled() -> None:
    waiting = view(phase=Phase.QUEUED)
    assert decide(waiting, admitted=False).requeue_after is None  # admission wakes it


# -- found by review (2026-12-01): time-based work a requeue must not miss -------------------


def test_a_scheduled_action_wakes_for_its_deadline_before_its_start() -> None:
    """An action paused 10 s before its deadline, its ``startAt`` moved an hour ahead, then
    resumed, waited in SCHEDULED with a requeue at ``startAt``: its TIMEOUT came an hour
    late (or at the next resync)."""
    started = NOW - timedelta(seconds=80)
    paused = running(
        phase=Phase.PAUSED,
        active_deadline_seconds=60,
        started_at=started,
        paused_at=NOW - timedelta(seconds=30),
        start_at=later(3600),
    )
    resumed = decide(paused)
    assert phase_of(resumed) == "SCHEDULED"
    assert resumed.requeue_after == 10.0  # 50 s of the 60 were spent before the pause
    scheduled = running(
        phase=Phase.SCHEDULED,
        active_deadline_seconds=60,
        started_at=started,
        paused_seconds=30.0,
        start_at=later(3600),
    )
    assert decide(scheduled).requeue_after == 10.0
    assert phase_of(decide(scheduled, now=later(10))) == "TIMEOUT"


def test_a_queued_action_whose_start_at_moved_ahead_wakes_at_it() -> None:
    """An action waiting in its queue whose ``startAt`` is edited into the future is not
    eligible, and admission wakes only eligible actions: no requeue was asked, so it
    started at the next resync, up to ten minutes late; after a backoff likewise."""
    waiting = view(phase=Phase.QUEUED, start_at=later(120))
    assert decide(waiting).requeue_after == 120.0
    backing_off = view(
        phase=Phase.QUEUED, attempts=1, failures=1, start_at=later(120), next_attempt_at=later(10)
    )
    assert decide(backing_off).requeue_after == 10.0
    assert decide(backing_off, now=later(10)).requeue_after == 110.0


def test_an_edit_that_moves_no_phase_is_still_observed() -> None:
    """Only a phase change wrote ``observedGeneration``: after an edit of a PAUSED, QUEUED
    or RUNNING action that changes no phase it stayed behind ``metadata.generation``,
    and kstatus (``kubectl wait``, Argo CD, Flux) read a PAUSED action as InProgress for
    good (found by review). The status and its conditions record the generation seen."""
    ready = {
        "type": "Ready",
        "status": "False",
        "reason": "Paused",
        "message": "suspended",
        "lastTransitionTime": "2026-11-23T11:00:00Z",
        "observedGeneration": 2,
    }
    paused = running(
        phase=Phase.PAUSED, suspend=True, generation=3, observed_generation=2, conditions=(ready,)
    )
    decision = decide(paused)
    assert decision.status == {
        "observedGeneration": 3,
        "conditions": [{**ready, "observedGeneration": 3}],
    }
    seen = running(
        phase=Phase.PAUSED,
        suspend=True,
        generation=3,
        observed_generation=3,
        conditions=({**ready, "observedGeneration": 3},),
    )
    assert decide(seen).status == {}  # nothing more to write: no echo
    edited = running(generation=2, observed_generation=1)
    assert decide(edited, job(JobState.RUNNING)).status == {"observedGeneration": 2}
