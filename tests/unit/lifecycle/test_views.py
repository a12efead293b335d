"""Views parsed from objects as the API server serves them (tests/unit/lifecycle/served/).

Two sets: served/testbed/ was captured from the test bed's kube-apiserver 1.20 with the
real Job controller (tests/support/capture_served.py; the Pods' status comes from the
node agent there); served/*.json are written by hand in the shape a current
kube-apiserver (1.3x) serves, for the cases the test bed cannot produce on demand
(a Job being deleted, SuccessCriteriaMet/FailureTarget conditions, a pod waiting on an
image pull or unschedulable, an OOMKilled container). A field the parser drops,
misnames or misreads shows here, not in a cluster.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.views import (
    DEFAULT_START_TIMEOUT_SECONDS,
    ActionView,
    JobState,
    JobView,
    action_view_from,
    job_view_from,
)

SERVED = Path(__file__).parent / "served"


def served(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SERVED / f"{name}.json").read_text())
    return data


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_field_of_a_running_action_is_read() -> None:
    obj = served("action-running")
    assert action_view_from(obj, has_handler=True) == ActionView(
        name="resize",
        namespace="team-a",
        uid="7f3c2a10-5b8e-4d61-9a2f-0c4e8b1d6a93",
        generation=3,
        created_at=at("2026-11-29T10:00:00"),
        has_handler=True,
        suspend=False,
        abort=False,
        start_at=at("2026-11-29T10:01:00"),
        active_deadline_seconds=3600,
        start_timeout_seconds=120,
        backoff_limit=3,
        ttl_seconds_after_finished=86400,
        phase=Phase.RUNNING,
        attempts=2,
        failures=1,
        job_name="resize-7f3c2a10-2",
        queued_at=at("2026-11-29T10:01:00"),
        started_at=at("2026-11-29T10:01:02"),
        finished_at=None,
        next_attempt_at=at("2026-11-29T10:05:00"),
        paused_at=at("2026-11-29T10:03:00.250000"),
        paused_seconds=12.5,
        children_removed_at=at("2026-11-29T10:04:00"),
        error={"reason": "JobFailed", "message": "exit code 3 (Error)"},
        conditions=tuple(obj["status"]["conditions"]),
        observed_generation=2,
        queue="batch",
        status_queue="batch",
        message="attempt 2 of 4: job resize-7f3c2a10-2",
    )
    assert action_view_from(obj, has_handler=False).has_handler is False


def test_every_field_of_an_action_made_of_tasks_is_read() -> None:
    """FAILED with TasksFailed (4 tasks: 2 done, 1 failed, 1 excluded), retry round 2 asked
    (the hook applied 1), retention Delete: what the tasks' lifecycle and the TTL read."""
    obj = served("action-tasks-failed")
    view = action_view_from(obj, has_handler=True)
    assert view == ActionView(
        name="thumbs",
        namespace="team-a",
        uid="3c9d1e20-7a4b-4f58-b6c1-2d8e0f9a7b31",
        generation=2,
        created_at=at("2026-11-29T11:00:00"),
        has_handler=True,
        phase=Phase.FAILED,
        attempts=1,
        job_name="thumbs-3c9d1e20-1",
        queued_at=at("2026-11-29T11:00:01"),
        started_at=at("2026-11-29T11:00:02"),
        finished_at=at("2026-11-29T11:04:00"),
        error={"reason": "TasksFailed", "message": "1 task(s) failed: thumb-1"},
        conditions=tuple(obj["status"]["conditions"]),
        observed_generation=1,
        status_queue="default",
        message="1 task(s) failed: thumb-1",
        has_tasks=True,
        tasks_summary=obj["status"]["tasks"],
        task_retry_round=2,
        delete_when_done=True,
    )
    kept = copy.deepcopy(obj)
    kept["spec"].update(retention="Keep", tasks=[], taskRetry={"round": 1})
    plain = action_view_from(kept, has_handler=True)
    assert (plain.delete_when_done, plain.has_tasks, plain.task_retry_round) == (False, False, 1)


def test_a_new_action_reads_as_the_defaults() -> None:
    """No status yet, a spec with only the template: the defaults the contract gives."""
    assert action_view_from(served("action-new"), has_handler=True) == ActionView(
        name="fresh",
        namespace="default",
        uid="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        generation=1,
        created_at=at("2026-11-29T10:00:00"),
        has_handler=True,
    )
    view = action_view_from({}, has_handler=False)
    assert (view.name, view.namespace, view.uid, view.generation) == ("", "", "", 0)
    assert view.start_timeout_seconds == DEFAULT_START_TIMEOUT_SECONDS == 600
    assert (view.queue, view.status_queue, view.phase, view.message) == ("default", None, None, "")


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"spec": {"suspend": True}}, "suspend", True),
        ({"spec": {"abort": True}}, "abort", True),
        (
            {"status": {"finishedAt": "2026-11-29T10:09:00Z"}},
            "finished_at",
            at("2026-11-29T10:09:00"),
        ),
        ({"status": {"phase": "SUCCEEDED"}}, "phase", Phase.SUCCEEDED),
        ({"status": {"phase": "Bogus"}}, "phase", None),
        ({"status": {"phase": 3}}, "phase", None),
        ({"status": {"pausedSeconds": None}}, "paused_seconds", 0.0),
        ({"status": {"message": None}}, "message", ""),
        ({"spec": {"queue": ""}}, "queue", "default"),
        ({"spec": {"startTimeoutSeconds": 0}}, "start_timeout_seconds", 600),
    ],
)
def test_edited_fields_are_read(changes: dict[str, Any], field: str, value: Any) -> None:
    obj = copy.deepcopy(served("action-running"))
    for part, fields in changes.items():
        obj[part].update(fields)
    assert getattr(action_view_from(obj, has_handler=True), field) == value


def pods(*names: str) -> list[dict[str, Any]]:
    return [served(n) for n in names]


def test_a_running_job() -> None:
    view = job_view_from(served("job-running"), pods("pod-running"))
    assert view == JobView(
        name="resize-7f3c2a10-2",
        state=JobState.RUNNING,
        created_at=at("2026-11-29T10:05:00"),
    )


def test_a_complete_job_reads_its_condition_and_exit_code() -> None:
    view = job_view_from(served("job-complete"), pods("pod-succeeded"))
    assert view == JobView(name="resize-7f3c2a10-2", state=JobState.SUCCEEDED, exit_code=0)
    # the Complete condition alone decides, even with no pod left and no counter
    job = served("job-complete")
    del job["status"]["succeeded"]
    assert job_view_from(job, []).state is JobState.SUCCEEDED
    # and the succeeded counter alone too (an older Job controller sets no condition)
    job = served("job-running")
    job["status"]["succeeded"] = 1
    assert job_view_from(job, []) == JobView(name="resize-7f3c2a10-2", state=JobState.SUCCEEDED)


def test_a_failed_job_says_its_exit_code_and_the_containers_reason() -> None:
    view = job_view_from(served("job-failed"), pods("pod-failed"))
    assert view == JobView(
        name="resize-7f3c2a10-2",
        state=JobState.FAILED,
        exit_code=3,
        message="exit code 3 (Error)",
    )


def test_a_non_zero_exit_code_is_preferred_over_a_zero_one() -> None:
    view = job_view_from(served("job-failed"), pods("pod-succeeded", "pod-oomkilled", "pod-failed"))
    assert (view.exit_code, view.message) == (137, "exit code 137 (OOMKilled)")


def test_an_exit_code_without_reason_and_a_job_without_pods() -> None:
    pod = served("pod-failed")
    del pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"]
    assert job_view_from(served("job-failed"), [pod]).message == "exit code 3"
    # no pod left: the Job's own condition message
    view = job_view_from(served("job-deadline"), [])
    assert view == JobView(
        name="resize-7f3c2a10-2",
        state=JobState.FAILED,
        message="Job was active longer than specified deadline",
    )
    job = served("job-deadline")
    del job["status"]["conditions"][0]["message"]
    assert job_view_from(job, []).message == "the job failed"


def test_a_failed_counter_counts_only_once_no_pod_runs() -> None:
    job = served("job-running")
    job["status"]["failed"] = 1
    assert job_view_from(job, pods("pod-running")).state is JobState.RUNNING
    assert job_view_from(job, pods("pod-failed")).state is JobState.FAILED


def test_a_pod_that_ended_before_the_job_controller_counted_it_is_no_pending_job() -> None:
    """The operator sees a Pod's end before the Job controller counts it. With no Pod
    Running and no counter, the Job read as PENDING: the start timeout then judged it by
    the Job's age, and a job that ran 15 minutes and exited 0 was failed as "did not
    start within 600s" (found by review). A Pod that ran says the Job started."""
    job = served("job-running")  # active 1, no succeeded/failed counter yet
    for pod in ("pod-succeeded", "pod-failed"):
        assert job_view_from(job, pods(pod)) == JobView(
            name="resize-7f3c2a10-2",
            state=JobState.RUNNING,
            created_at=at("2026-11-29T10:05:00"),
        )


def test_a_task_jobs_killed_pod_is_replaced_not_the_end_of_the_job() -> None:
    """A Job of tasks has a ``backoffLimit`` (6) so that a killed Pod is replaced. While
    the replacement was Pending, its failed counter made the Job read FAILED and the
    action failed with the replacement running on (found by review). It fails once the
    Job controller says so, or once its failures pass its ``backoffLimit``."""
    job = served("job-running")
    job["spec"]["backoffLimit"] = 6
    job["status"]["failed"] = 1
    replaced = job_view_from(job, pods("pod-oomkilled", "pod-container-creating"))
    assert replaced == JobView(
        name="resize-7f3c2a10-2",
        state=JobState.RUNNING,
        created_at=at("2026-11-29T10:05:00"),
    )
    job["status"]["failed"] = 7
    spent = job_view_from(job, pods("pod-oomkilled"))
    assert (spent.state, spent.exit_code, spent.message) == (
        JobState.FAILED,
        137,
        "exit code 137 (OOMKilled)",
    )


def test_a_condition_counts_only_when_true() -> None:
    job = served("job-failed")
    for condition in job["status"]["conditions"]:
        condition["status"] = "False"
    job["status"]["failed"] = 0
    assert job_view_from(job, pods("pod-running")).state is JobState.RUNNING


def test_a_job_being_deleted_says_so_in_every_state() -> None:
    deleting = served("job-deleting")
    assert job_view_from(deleting, pods("pod-running")) == JobView(
        name="resize-7f3c2a10-2",
        state=JobState.RUNNING,
        deleting=True,
        created_at=at("2026-11-29T10:05:00"),
    )
    for finished, pod, state in (
        ("job-complete", "pod-succeeded", JobState.SUCCEEDED),
        ("job-failed", "pod-failed", JobState.FAILED),
        ("job-pending", "pod-image-pull", JobState.PENDING),
    ):
        job = served(finished)
        job["metadata"]["deletionTimestamp"] = deleting["metadata"]["deletionTimestamp"]
        view = job_view_from(job, pods(pod))
        assert (view.state, view.deleting) == (state, True)
    assert job_view_from(served("job-pending"), pods("pod-image-pull")).deleting is False


SCHEDULER_SAYS = (
    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        ("pod-image-pull", 'ImagePullBackOff: Back-off pulling image "registry.local/resize:1.4"'),
        ("pod-container-creating", "ContainerCreating"),
        ("pod-initializing", 'CreateContainerConfigError: secret "resize-key" not found'),
        # with the scheduler's message: why no node fits (docs/observability.md)
        ("pod-unschedulable", f"Unschedulable: {SCHEDULER_SAYS}"),
    ],
)
def test_a_pending_job_says_why_its_pod_has_not_started(pod: str, reason: str) -> None:
    assert job_view_from(served("job-pending"), pods(pod)) == JobView(
        name="resize-7f3c2a10-2",
        state=JobState.PENDING,
        created_at=at("2026-11-29T10:05:00"),
        waiting_reason=reason,
    )


def test_pod_initializing_is_no_reason_and_a_scheduled_pod_is_none() -> None:
    pod = served("pod-initializing")
    del pod["status"]["initContainerStatuses"]
    assert job_view_from(served("job-pending"), [pod]).waiting_reason is None
    assert job_view_from(served("job-pending"), []).waiting_reason is None
    unschedulable = served("pod-unschedulable")
    del unschedulable["status"]["conditions"][0]["reason"]
    assert job_view_from(served("job-pending"), [unschedulable]).waiting_reason == (
        f"Unschedulable: {SCHEDULER_SAYS}"
    )
    del unschedulable["status"]["conditions"][0]["message"]  # the reason alone
    assert job_view_from(served("job-pending"), [unschedulable]).waiting_reason == "Unschedulable"
    # the first pod with a reason speaks
    both = [served("pod-container-creating"), served("pod-unschedulable")]
    assert job_view_from(served("job-pending"), both).waiting_reason == "ContainerCreating"


# --- captured from the test bed (tests/support/capture_served.py) ----------------------

CAPTURED = SERVED / "testbed"


def captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURED / f"{name}.json").read_text())
    return data


def test_captured_jobs_parse_as_the_job_controller_left_them() -> None:
    """kube-apiserver and the Job controller 1.20 wrote these (Pods: the node agent)."""
    for prefix, state, code, message in (
        ("succeeded", JobState.SUCCEEDED, 0, None),
        ("failed", JobState.FAILED, 3, "exit code 3 (Error)"),
        ("running", JobState.RUNNING, None, None),
    ):
        job = captured(f"{prefix}-job")
        view = job_view_from(job, [captured(f"{prefix}-pod0")])
        created = datetime.fromisoformat(
            job["metadata"]["creationTimestamp"].replace("Z", "+00:00")
        )
        assert view == JobView(
            name=job["metadata"]["name"],
            state=state,
            exit_code=code,
            message=message,
            created_at=created if state is JobState.RUNNING else None,
        ), prefix


def test_captured_actions_parse_with_their_status() -> None:
    failed = captured("failed-action")
    view = action_view_from(failed, has_handler=True)
    status = failed["status"]
    assert (view.phase, view.attempts, view.failures) == (Phase.FAILED, 1, 1)
    assert (view.job_name, view.queue, view.status_queue) == (
        status["jobName"],
        "default",
        "default",
    )
    assert view.error == {"reason": "BackoffLimitExceeded", "message": status["message"]}
    assert view.message == "attempt 1 of 1 failed: exit code 3 (Error)"
    assert view.finished_at is not None
    assert view.started_at is not None
    assert view.conditions == tuple(status["conditions"])
    assert view.observed_generation == view.generation == 1
    assert action_view_from(captured("aborted-action"), has_handler=True).phase is Phase.ABORTED


def test_what_the_operator_wrote_is_stable_when_read_back() -> None:
    """Reconciling the captured objects again asks for no write: they converged."""
    from asyncaction.lifecycle import LifecycleSettings, reconcile

    settings = LifecycleSettings()
    for prefix in ("succeeded", "failed"):
        action = action_view_from(captured(f"{prefix}-action"), has_handler=True)
        job = job_view_from(captured(f"{prefix}-job"), [captured(f"{prefix}-pod0")])
        now = action.finished_at
        assert now is not None
        decision = reconcile(action, job, now=now, admitted=False, settings=settings)
        assert (decision.status, decision.effects, decision.after) == ({}, (), {}), prefix
    running = action_view_from(captured("running-action"), has_handler=True)
    job = job_view_from(captured("running-job"), [captured("running-pod0")])
    assert running.phase is Phase.RUNNING
    assert running.started_at is not None
    decision = reconcile(running, job, now=running.started_at, admitted=False, settings=settings)
    assert (decision.status, decision.effects) == ({}, ())


def test_the_schedulers_own_reason_is_kept_and_a_job_without_name_reads_empty() -> None:
    gated = served("pod-unschedulable")
    gated["status"]["conditions"][0]["reason"] = "SchedulingGated"
    assert job_view_from(served("job-pending"), [gated]).waiting_reason == (
        f"SchedulingGated: {SCHEDULER_SAYS}"
    )
    assert job_view_from({}, []) == JobView(name="", state=JobState.PENDING)


def test_the_admission_view_reads_what_admission_needs_and_nothing_else() -> None:
    from asyncaction.lifecycle import admission_view_from

    obj = served("action-running")
    assert admission_view_from(obj, has_handler=True) == ActionView(
        name="resize",
        namespace="team-a",
        uid="7f3c2a10-5b8e-4d61-9a2f-0c4e8b1d6a93",
        generation=0,
        created_at=at("2026-11-29T10:00:00"),
        has_handler=True,
        start_at=at("2026-11-29T10:01:00"),
        phase=Phase.RUNNING,
        next_attempt_at=at("2026-11-29T10:05:00"),
        queue="batch",
        status_queue="batch",
    )
    obj["spec"] |= {"suspend": True, "abort": True, "queue": None}
    obj["status"]["phase"] = "Bogus"
    view = admission_view_from(obj, has_handler=False)
    assert (view.suspend, view.abort, view.queue, view.phase, view.has_handler) == (
        True,
        True,
        "default",
        None,
        False,
    )
    assert admission_view_from({}, has_handler=True) == ActionView(
        name="", namespace="", uid="", generation=0, created_at=None, has_handler=True
    )
