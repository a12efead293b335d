"""How an action of tasks ends, and how its failed tasks run again."""

from __future__ import annotations

from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import JobState, action_view_from, reconcile
from asyncaction.manifests.job import job_shape, kueue_labels
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
