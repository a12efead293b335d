"""Why an action waits: parsed from real Pod statuses, written once per change."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import (
    ActionView,
    Decision,
    JobState,
    action_view_from,
    job_view_from,
    reconcile,
)
from asyncaction.lifecycle.conditions import ACTIVE
from asyncaction.lifecycle.waiting import Waiting, explain_waiting, pod_waiting, queue_block
from asyncaction.timeutil import format_time
from tests.unit.lifecycle.helpers import NOW, SETTINGS, job, view

JOB = {
    "metadata": {
        "name": "act-abcde-1",
        "uid": "j1",
        "creationTimestamp": format_time(NOW - timedelta(seconds=20)),
    },
    "status": {"active": 1},
}


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "act-abcde-1-x"}, "status": {"phase": "Pending", **status}}


def waiting_container(reason: str, message: str) -> dict[str, Any]:
    state = {"waiting": {"reason": reason, "message": message}}
    return {"containerStatuses": [{"name": "main", "ready": False, "state": state}]}


PULL = 'Back-off pulling image "127.0.0.1:9/missing:1"'
SCHEDULER = "0/1 nodes are available: 1 Insufficient memory."


def starting(**changes: Any) -> Any:
    return view(phase=Phase.STARTING, attempts=1, job_name="act-abcde-1", **changes)


def test_pod_waiting_reasons_come_with_their_messages() -> None:
    pulled = job_view_from(JOB, [pod(**waiting_container("ImagePullBackOff", PULL))])
    assert pod_waiting(pulled) == Waiting("ImagePullBackOff", PULL)
    never = job_view_from(
        JOB, [pod(**waiting_container("ErrImageNeverPull", "image is absent; policy Never"))]
    )
    assert pod_waiting(never) == Waiting("ErrImageNeverPull", "image is absent; policy Never")
    unscheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    unschedulable = job_view_from(JOB, [pod(conditions=[{**unscheduled, "message": SCHEDULER}])])
    assert pod_waiting(unschedulable) == Waiting("Unschedulable", SCHEDULER)
    assert pod_waiting(job_view_from(JOB, [pod()])) is None
    assert pod_waiting(job(JobState.RUNNING)) is None


def test_starting_action_shows_the_pod_reason_once() -> None:
    pending = job(JobState.PENDING, created_at=NOW, waiting_reason=f"ImagePullBackOff: {PULL}")
    action = starting()
    decision = reconcile(action, pending, now=NOW, admitted=False, settings=SETTINGS)
    explained = explain_waiting(action, pending, decision, now=NOW)
    status = explained.status
    assert status["error"] == {"reason": "ImagePullBackOff", "message": PULL}
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "ImagePullBackOff",
        PULL,
    )
    assert "phase" not in status  # still STARTING
    assert explained.requeue_after == decision.requeue_after
    # Written: the next reconcile sees it and writes nothing more.
    seen = starting(error=status["error"], conditions=tuple(status["conditions"]))
    again = reconcile(seen, pending, now=NOW, admitted=False, settings=SETTINGS)
    assert explain_waiting(seen, pending, again, now=NOW).status == again.status == {}
    # A new reason (the pull is retried) is written again.
    erred = job(JobState.PENDING, created_at=NOW, waiting_reason="ErrImagePull: refused")
    changed = explain_waiting(seen, erred, again, now=NOW).status
    assert changed["error"] == {"reason": "ErrImagePull", "message": "refused"}


def test_running_clears_a_waiting_reason_left_behind() -> None:
    left = view(
        phase=Phase.RUNNING,
        attempts=1,
        job_name="act-abcde-1",
        started_at=NOW,
        error={"reason": "ImagePullBackOff", "message": PULL},
    )
    live = job(JobState.RUNNING)
    decision = reconcile(left, live, now=NOW, admitted=False, settings=SETTINGS)
    assert explain_waiting(left, live, decision, now=NOW).status == {"error": None}
    reported = view(
        phase=Phase.STARTING,
        attempts=1,
        job_name="act-abcde-1",
        error={"reason": "JobReportedFailure", "message": "boom"},
    )
    failing = reconcile(reported, live, now=NOW, admitted=False, settings=SETTINGS)
    assert explain_waiting(reported, live, failing, now=NOW) == failing


def test_queued_action_says_its_queue_is_full_or_suspended() -> None:
    full = queue_block("ns", "gpu", suspended=False, limit=2, active=2)
    assert full == Waiting(
        "QueueFull", "queue ns/gpu is full: 2 of 2 actions are starting or running"
    )
    assert queue_block("ns", "gpu", suspended=True, limit=2, active=0) == Waiting(
        "QueueSuspended", "queue ns/gpu is suspended: it admits nothing"
    )
    assert queue_block("ns", "gpu", suspended=False, limit=2, active=1) is None
    assert queue_block("ns", "gpu", suspended=False, limit=None, active=9) is None
    fresh = view()
    decision = reconcile(fresh, None, now=NOW, admitted=False, settings=SETTINGS)
    assert decision.status["phase"] == "QUEUED"
    explained = explain_waiting(fresh, None, decision, now=NOW, blocked=full).status
    assert explained["phase"] == "QUEUED"
    assert explained["message"] == full.message
    ready = {c["type"]: c for c in explained["conditions"]}["Ready"]
    assert (ready["reason"], ready["message"]) == ("QueueFull", full.message)
    queued = view(phase=Phase.QUEUED, conditions=tuple(explained["conditions"]))
    idle = reconcile(queued, None, now=NOW, admitted=False, settings=SETTINGS)
    assert explain_waiting(queued, None, idle, now=NOW, blocked=full) == idle  # once
    suspended = queue_block("ns", "gpu", suspended=True, limit=2, active=0)
    assert explain_waiting(queued, None, idle, now=NOW, blocked=suspended).status["conditions"][0][
        "reason"
    ] == ("QueueSuspended")


# --- objects as the API server serves them (tests/unit/lifecycle/served/) ---------------

SERVED = Path(__file__).parent / "served"
SERVED_PULL = 'Back-off pulling image "registry.local/resize:1.4"'
SCHEDULER_SAYS = (
    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)


def served(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SERVED / f"{name}.json").read_text())
    return data


def stored(obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """``obj`` after the operator's status merge patch (a ``None`` removes the field)."""
    result = copy.deepcopy(obj)
    merged = result.setdefault("status", {})
    for key, value in status.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    return result


def parsed(obj: dict[str, Any]) -> ActionView:
    return action_view_from(obj, has_handler=True)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def conditions(
    table: list[tuple[str, str, str]], reason: str, message: str, generation: int
) -> list[dict[str, Any]]:
    """Conditions as ``conditions_for`` writes them: (type, status, lastTransitionTime)."""
    return [
        {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
            "observedGeneration": generation,
        }
        for kind, status, since in table
    ]


def test_every_waiting_reason_of_a_served_pod_with_its_message() -> None:
    pending = served("job-pending")

    def waiting_of(*pods: str) -> Waiting | None:
        return pod_waiting(job_view_from(pending, [served(p) for p in pods]))

    assert waiting_of("pod-image-pull") == Waiting("ImagePullBackOff", SERVED_PULL)
    assert waiting_of("pod-initializing") == Waiting(
        "CreateContainerConfigError", 'secret "resize-key" not found'
    )
    assert waiting_of("pod-unschedulable") == Waiting("Unschedulable", SCHEDULER_SAYS)
    # A reason without a message is its own message (a condition's message is never empty).
    assert waiting_of("pod-container-creating") == Waiting("ContainerCreating", "ContainerCreating")
    assert waiting_of() is None
    assert pod_waiting(job_view_from(served("job-running"), [served("pod-running")])) is None
    assert pod_waiting(None) is None  # the Job is not in the cache yet


def test_a_served_starting_action_shows_its_pods_reason_in_every_field() -> None:
    """STARTING (attempt 2 of the served action), its Pod backing off an image pull."""
    obj = stored(served("action-running"), {"phase": "STARTING"})
    action = parsed(obj)
    job = job_view_from(served("job-pending"), [served("pod-image-pull")])
    now = at("2026-11-29T10:05:30")
    decision = reconcile(action, job, now=now, admitted=False, settings=SETTINGS)
    explained = explain_waiting(action, job, decision, now=now)
    # Each condition keeps its lastTransitionTime (their statuses do not change), and
    # says the generation it describes (metadata.generation 3).
    table = [
        ("Ready", "Unknown", "2026-11-29T10:05:10Z"),
        ("Reconciling", "True", "2026-11-29T10:05:10Z"),
        ("Succeeded", "Unknown", "2026-11-29T10:01:02Z"),
    ]
    assert explained.status == {
        "conditions": conditions(table, "ImagePullBackOff", SERVED_PULL, 3),
        "error": {"reason": "ImagePullBackOff", "message": SERVED_PULL},
        "observedGeneration": 3,  # the served status had seen generation 2
    }
    assert (explained.effects, explained.requeue_after, explained.after) == ((), 30, {})
    # Read back, it is written once: the next reconcile writes nothing.
    again = parsed(stored(obj, explained.status))
    later = now + timedelta(seconds=30)
    decision = reconcile(again, job, now=later, admitted=False, settings=SETTINGS)
    assert explain_waiting(again, job, decision, now=later) == decision
    assert decision.status == {}
    # Until the Job is in the cache, there is nothing to say.
    nothing = reconcile(action, None, now=now, admitted=False, settings=SETTINGS)
    assert explain_waiting(action, None, nothing, now=now) == nothing


def test_a_served_new_action_says_its_queue_is_full_then_suspended() -> None:
    obj = served("action-new")
    action = parsed(obj)
    now = at("2026-11-29T10:00:05")
    full = queue_block("default", "default", suspended=False, limit=1, active=1)
    assert full is not None
    decision = reconcile(action, None, now=now, admitted=False, settings=SETTINGS)
    explained = explain_waiting(action, None, decision, now=now, blocked=full)
    active = [(kind, status, "2026-11-29T10:00:05Z") for kind, status in ACTIVE.items()]
    assert explained.status == {
        **decision.status,  # queuedAt, attempts, failures, queue, error: as reconcile wrote
        "phase": "QUEUED",
        "observedGeneration": 1,
        "message": "queue default/default is full: 1 of 1 actions are starting or running",
        "conditions": conditions(active, "QueueFull", full.message, 1),
    }
    assert (explained.effects, explained.requeue_after) == (decision.effects, 0.0)
    # Read back: said once.
    queued = stored(obj, explained.status)
    later = now + timedelta(seconds=40)
    idle = reconcile(parsed(queued), None, now=later, admitted=False, settings=SETTINGS)
    assert explain_waiting(parsed(queued), None, idle, now=later, blocked=full) == idle
    # The queue is suspended next: a new reason, the same transition times.
    suspended = queue_block("default", "default", suspended=True, limit=1, active=0)
    assert suspended is not None
    changed = explain_waiting(parsed(queued), None, idle, now=later, blocked=suspended)
    assert changed.status == {
        **idle.status,
        "message": "queue default/default is suspended: it admits nothing",
        "conditions": conditions(active, "QueueSuspended", suspended.message, 1),
    }


def retried() -> tuple[dict[str, Any], datetime]:
    """The served action after its second attempt failed: QUEUED, retrying at 10:06:20."""
    # The served object carries every field, pausedAt of a pause too: resumed here.
    obj = stored(served("action-running"), {"pausedAt": None})
    failed = job_view_from(served("job-failed"), [served("pod-failed")])
    decision = reconcile(
        parsed(obj), failed, now=at("2026-11-29T10:06:00"), admitted=False, settings=SETTINGS
    )
    assert decision.status["nextAttemptAt"] == "2026-11-29T10:06:20Z"
    return stored(obj, decision.status), at("2026-11-29T10:06:20")


def test_a_retry_backing_off_keeps_its_message_until_the_backoff_is_over() -> None:
    obj, retry_at = retried()
    action = parsed(obj)
    full = queue_block("team-a", "batch", suspended=False, limit=2, active=2)
    before = retry_at - timedelta(seconds=1)
    waiting = reconcile(action, None, now=before, admitted=False, settings=SETTINGS)
    assert explain_waiting(action, None, waiting, now=before, blocked=full) == waiting
    # At nextAttemptAt the backoff is over: the full queue is what holds it now.
    held = reconcile(action, None, now=retry_at, admitted=False, settings=SETTINGS)
    explained = explain_waiting(action, None, held, now=retry_at, blocked=full).status
    assert (explained["message"], explained["conditions"][0]["reason"]) == (
        "queue team-a/batch is full: 2 of 2 actions are starting or running",
        "QueueFull",
    )


def test_a_queued_action_that_times_out_or_is_aborted_is_not_told_it_waits() -> None:
    """Another decision than waiting (the deadline, spec.abort) is left as it is."""
    obj, retry_at = retried()
    full = queue_block("team-a", "batch", suspended=False, limit=2, active=2)
    # Started 10:01:02, paused 12.5 s, activeDeadlineSeconds 3600: over at 11:01:14.5.
    past_deadline = at("2026-11-29T11:02:00")
    action = parsed(obj)
    timed_out = reconcile(action, None, now=past_deadline, admitted=False, settings=SETTINGS)
    assert timed_out.status["phase"] == "TIMEOUT"
    assert explain_waiting(action, None, timed_out, now=past_deadline, blocked=full) == timed_out
    aborting = parsed({**obj, "spec": {**obj["spec"], "abort": True}})
    aborted = reconcile(aborting, None, now=retry_at, admitted=False, settings=SETTINGS)
    assert aborted.status["phase"] == "ABORTED"
    assert explain_waiting(aborting, None, aborted, now=retry_at, blocked=full) == aborted


def captured(name: str) -> dict[str, Any]:
    return served(f"testbed/{name}")


def test_actions_captured_from_the_test_bed_keep_their_status() -> None:
    """Running without an error, failed with its error: nothing to explain or clear."""
    for prefix in ("running", "failed", "succeeded"):
        action = parsed(captured(f"{prefix}-action"))
        job = job_view_from(captured(f"{prefix}-job"), [captured(f"{prefix}-pod0")])
        now = at("2026-11-30T01:15:30")
        decision = reconcile(action, job, now=now, admitted=False, settings=SETTINGS)
        assert explain_waiting(action, job, decision, now=now) == decision, prefix
        assert decision.status == {}, prefix


def test_a_failure_the_hook_reported_is_never_cleared_as_a_waiting_reason() -> None:
    """``reconcile`` acts on a reported failure at once today (so RUNNING is never left
    with it); should it ever wait (say, for the job's uploads), the error must stay."""
    reported = {"reason": "JobReportedFailure", "message": "exit 3"}
    obj = stored(captured("running-action"), {"error": reported})
    action = parsed(obj)
    job = job_view_from(captured("running-job"), [captured("running-pod0")])
    now = at("2026-11-30T01:15:30")
    waiting = Decision(requeue_after=30)  # what reconcile returns when it does not act
    assert explain_waiting(action, job, waiting, now=now) == waiting
    # Any other error left on a RUNNING action is the Pod's old waiting reason: cleared.
    left = parsed(stored(obj, {"error": {"reason": "ErrImagePull", "message": "refused"}}))
    assert explain_waiting(left, job, waiting, now=now) == Decision(
        status={"error": None}, requeue_after=30
    )
