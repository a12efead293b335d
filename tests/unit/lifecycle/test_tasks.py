"""How an action of tasks ends, and how its failed tasks run again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncaction.api.models import AsyncAction
from asyncaction.api.phases import Phase
from asyncaction.lifecycle import (
    Decision,
    JobState,
    action_view_from,
    job_view_from,
    reconcile,
    tasks,
)
from asyncaction.lifecycle.conditions import TABLE, conditions_for
from asyncaction.lifecycle.effects import Emit
from asyncaction.manifests.job import job_shape, kueue_labels
from asyncaction_client.taskbook import TaskRecord, TaskState, summary
from tests.unit.lifecycle.helpers import NOW, SETTINGS, effect_types, job, phase_of, running


def counts(**values: int) -> dict[str, Any]:
    base = {"total": 5, "queued": 0, "executing": 0, "done": 0, "failed": 0, "excluded": 0}
    return {**base, **values, "retryRound": values.get("retryRound", 0)}


def test_job_success_waits_for_the_last_task_record() -> None:
    view = running(has_tasks=True, tasks_summary=counts(done=4, executing=1))
    decision = reconcile(view, job(JobState.SUCCEEDED), now=NOW, admitted=False, settings=SETTINGS)
    assert decision.status == {}
    assert decision.requeue_after == SETTINGS.poll_seconds


def test_all_tasks_done_succeeds_and_a_spent_task_fails_the_action() -> None:
    done = running(has_tasks=True, tasks_summary=counts(done=4, excluded=1))
    ok = reconcile(done, job(JobState.SUCCEEDED), now=NOW, admitted=False, settings=SETTINGS)
    assert phase_of(ok) == "SUCCEEDED"
    assert ok.status["message"] == "all 4 task(s) done"
    assert ok.status["progress"] == 100
    failing = [{"id": "3", "name": "t3", "tries": 2, "error": "boom"}]
    bad = running(has_tasks=True, tasks_summary={**counts(done=4, failed=1), "failing": failing})
    failed = reconcile(bad, job(JobState.SUCCEEDED), now=NOW, admitted=False, settings=SETTINGS)
    assert phase_of(failed) == "FAILED"
    assert failed.status["error"] == {"reason": "TasksFailed", "message": "1 task(s) failed: t3"}


def test_retry_round_moves_a_tasks_failed_action_back_to_queued_once() -> None:
    failed = running(
        phase=Phase.FAILED,
        error={"reason": "TasksFailed", "message": "1 task(s) failed: t3"},
        has_tasks=True,
        tasks_summary=counts(done=4, failed=1),
        task_retry_round=1,
    )
    decision = reconcile(failed, None, now=NOW, admitted=False, settings=SETTINGS)
    assert phase_of(decision) == "QUEUED"
    assert decision.status["error"] is None
    assert decision.status["finishedAt"] is None
    assert effect_types(decision) == ["Emit"]
    assert decision.requeue_after == 0.0
    applied = running(
        phase=Phase.FAILED,
        error={"reason": "TasksFailed", "message": "x"},
        has_tasks=True,
        tasks_summary=counts(done=4, failed=1, retryRound=1),
        task_retry_round=1,
    )
    stays = reconcile(applied, None, now=NOW, admitted=False, settings=SETTINGS)
    assert "phase" not in stays.status
    other = running(
        phase=Phase.FAILED,
        error={"reason": "BackoffLimitExceeded", "message": "x"},
        has_tasks=True,
        tasks_summary=counts(failed=1),
        task_retry_round=3,
    )
    assert "phase" not in reconcile(other, None, now=NOW, admitted=False, settings=SETTINGS).status


def test_a_retry_round_never_reruns_an_action_that_leased_no_task() -> None:
    """An action whose pods ended without leasing a task fails with TasksFailed and no
    task records; the hook applies a retry round only when tasks are leased, so with
    ``spec.taskRetry`` set it went FAILED, QUEUED, STARTING, FAILED without end,
    ``failures`` staying 0 (found by review)."""
    never_leased = running(
        phase=Phase.FAILED,
        error={"reason": "TasksFailed", "message": "the job ended without leasing any"},
        has_tasks=True,
        tasks_summary=None,
        task_retry_round=1,
    )
    decision = reconcile(never_leased, None, now=NOW, admitted=False, settings=SETTINGS)
    assert "phase" not in decision.status


def test_view_reads_the_task_fields() -> None:
    view = action_view_from(
        {
            "metadata": {"name": "a", "uid": "u", "generation": 1},
            "spec": {"tasks": [{"name": "x"}], "taskRetry": {"round": 2}},
            "status": {"phase": "FAILED", "tasks": counts(failed=1)},
        },
        has_handler=True,
    )
    assert (view.has_tasks, view.task_retry_round, view.tasks_summary) == (
        True,
        2,
        counts(failed=1),
    )


def test_job_shape_and_kueue_labels() -> None:
    assert job_shape({}) == {"backoffLimit": 0, "completions": 1, "parallelism": 1}
    assert job_shape({"tasks": [{}], "parallelism": 3}) == {"backoffLimit": 6, "parallelism": 3}
    action = {
        "metadata": {
            "labels": {
                "kueue.x-k8s.io/queue-name": "team-a",
                "kueue.x-k8s.io/priority-class": "high",
                "other": "x",
            }
        }
    }
    assert kueue_labels(action) == {
        "kueue.x-k8s.io/queue-name": "team-a",
        "kueue.x-k8s.io/priority-class": "high",
    }


CAPTURED = Path(__file__).parent / "served" / "testbed"
RETRY_AT = datetime(2026, 11, 30, 2, 0, 0, tzinfo=UTC)


def tasks_failed_action(records: dict[int, TaskRecord], retry_round: int) -> dict[str, Any]:
    """The test bed's failed action, as the hook and the operator leave an action of tasks
    whose task spent its tries: status.tasks written by the taskbook, TasksFailed."""
    obj: dict[str, Any] = json.loads((CAPTURED / "failed-action.json").read_text())
    obj["spec"]["tasks"] = [{"name": f"t{i}"} for i in range(8)]
    obj["spec"]["taskRetry"] = {"round": retry_round}
    obj["metadata"]["generation"] = 2  # the taskRetry edit
    failing = summary(obj["spec"], records, 0, 0)
    message = f"{failing['failed']} task(s) failed: t3"
    for condition in obj["status"]["conditions"]:
        condition.update(reason="TasksFailed", message=message)
    obj["status"].update(
        tasks=failing, error={"reason": "TasksFailed", "message": message}, message=message
    )
    AsyncAction.model_validate(obj)
    return obj


def test_a_retry_round_decision_in_full() -> None:
    records = {i: TaskRecord(TaskState.DONE, 1) for i in range(8)}
    records[3] = TaskRecord(TaskState.FAILED, 3, 0, "boom")
    view = action_view_from(tasks_failed_action(records, 1), has_handler=True)
    assert tasks.retry_requested(view)
    decision = reconcile(view, None, now=RETRY_AT, admitted=False, settings=SETTINGS)
    message = "retrying failed tasks (round 1); waiting for admission"
    at = "2026-11-30T02:00:00Z"

    def condition(kind: str, status: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "reason": "Queued",
            "message": message,
            "lastTransitionTime": at,
            "observedGeneration": 2,
        }

    assert decision == Decision(
        status={
            "phase": "QUEUED",
            "message": message,
            "error": None,
            "finishedAt": None,
            "observedGeneration": 2,
            "conditions": [
                condition("Ready", "Unknown"),
                condition("Reconciling", "True"),
                condition("Succeeded", "Unknown"),
            ],
            "queuedAt": at,
        },
        effects=(Emit("Normal", "RetryingTasks", message),),
        requeue_after=0.0,
    )
    assert tasks.retry(view, RETRY_AT) == decision


def test_outcome_names_the_first_five_failed_tasks_and_says_why_it_waits() -> None:
    obj = json.loads((CAPTURED / "running-action.json").read_text())
    obj["spec"]["tasks"] = [{"name": f"t{i}"} for i in range(8)]
    records = {i: TaskRecord(TaskState.FAILED, 3, 0, "boom") for i in range(6)}
    records[6] = TaskRecord(TaskState.DONE, 1)
    records[7] = TaskRecord(TaskState.DONE, 1)
    obj["status"]["tasks"] = summary(obj["spec"], records, 0, 0)
    view = action_view_from(obj, has_handler=True)
    assert tasks.outcome(view) == (Phase.FAILED, "6 task(s) failed: t0, t1, t2, t3, t4")
    obj["status"]["tasks"] = summary(obj["spec"], {6: TaskRecord(TaskState.DONE, 1)}, 0, 0)
    assert tasks.outcome(action_view_from(obj, has_handler=True)) is None  # 7 queued
    del obj["status"]["tasks"]
    assert tasks.outcome(action_view_from(obj, has_handler=True)) == (
        Phase.FAILED,
        "the job ended without leasing any of its tasks",
    )
    obj["status"]["tasks"] = summary(
        obj["spec"], {i: TaskRecord(TaskState.DONE, 1) for i in range(8)}, 0, 0
    )
    assert tasks.outcome(action_view_from(obj, has_handler=True)) == (
        Phase.SUCCEEDED,
        "all 8 task(s) done",
    )


STARTED = datetime(2026, 11, 29, 11, 0, 2, tzinfo=UTC)


def test_a_served_task_action_ends_with_every_field_of_its_status() -> None:
    """The served action of four tasks, running its first attempt, when its Job succeeds:
    every task done (one excluded) succeeds it, with the phase's own reason and
    progress 100; a task that spent its tries fails it with TasksFailed, no progress."""
    obj = json.loads((Path(__file__).parent / "served" / "action-tasks-failed.json").read_text())
    status = {k: v for k, v in obj["status"].items() if k not in ("finishedAt", "error")}
    status["phase"] = "RUNNING"
    status["conditions"] = conditions_for(
        Phase.RUNNING, message="job thumbs-3c9d1e20-1 is running", now=STARTED
    )
    succeeded = json.loads((Path(__file__).parent / "served" / "job-complete.json").read_text())
    succeeded["metadata"]["name"] = "thumbs-3c9d1e20-1"  # the served Job, as this attempt's
    job_view = job_view_from(succeeded, [])
    assert job_view.state is JobState.SUCCEEDED
    now = datetime(2026, 11, 29, 11, 4, tzinfo=UTC)
    stamp = "2026-11-29T11:04:00Z"

    def ended(summary_doc: dict[str, Any]) -> dict[str, Any]:
        action = action_view_from(
            {**obj, "status": {**status, "tasks": summary_doc}}, has_handler=True
        )
        return reconcile(action, job_view, now=now, admitted=False, settings=SETTINGS).status

    def conditions(table: dict[str, str], reason: str, message: str) -> list[dict[str, Any]]:
        return [
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastTransitionTime": stamp,
                "observedGeneration": 2,
            }
            for kind, value in table.items()
        ]

    done = {**obj["status"]["tasks"], "done": 3, "failed": 0, "failing": []}
    message = "all 3 task(s) done"
    assert ended(done) == {
        "phase": "SUCCEEDED",
        "message": message,
        "observedGeneration": 2,
        "conditions": conditions(TABLE[Phase.SUCCEEDED], "Succeeded", message),
        "error": None,
        "finishedAt": stamp,
        "nextAttemptAt": None,
        "progress": 100,
    }
    message = "1 task(s) failed: thumb-1"
    assert ended(obj["status"]["tasks"]) == {
        "phase": "FAILED",
        "message": message,
        "observedGeneration": 2,
        "conditions": conditions(TABLE[Phase.FAILED], "TasksFailed", message),
        "error": {"reason": "TasksFailed", "message": message},
        "finishedAt": stamp,
        "nextAttemptAt": None,
    }
