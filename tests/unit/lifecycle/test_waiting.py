"""Why an action waits: parsed from real Pod statuses, written once per change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import JobState, job_view_from, reconcile
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
