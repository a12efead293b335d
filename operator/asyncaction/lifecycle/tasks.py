"""How an action made of tasks ends, and how its failed tasks run again (pure).

The hook keeps the tasks' states and writes the bounded summary ``status.tasks``
(``asyncaction_client.taskbook``). Its pods exit 0 once every task is settled, so the Job's
success alone says nothing: ``outcome`` reads the summary. It fails the action (reason
``TasksFailed``) when a task spent its tries, succeeds it when every non-excluded task is
done, and waits while the summary still shows work (the watch of the action brings the
hook's last write).

``retry`` is the one way out of a terminal phase, and only from ``FAILED`` with reason
``TasksFailed``: a ``spec.taskRetry.round`` above the round the hook applied re-queues
the action for a new attempt, whose pods lease only the re-queued tasks (the done ones
stay done). Everything else about terminal phases holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.conditions import conditions_for
from asyncaction.lifecycle.effects import Decision, Emit
from asyncaction.lifecycle.views import ActionView
from asyncaction.timeutil import format_time

TASKS_FAILED = "TasksFailed"


def _counts(view: ActionView) -> dict[str, int]:
    doc = view.tasks_summary or {}
    return {k: int(doc.get(k) or 0) for k in ("queued", "executing", "done", "failed")}


def outcome(view: ActionView) -> tuple[Phase, str] | None:
    """After the Job succeeded: SUCCEEDED or FAILED with a message, None to wait."""
    if view.tasks_summary is None:
        return Phase.FAILED, "the job ended without leasing any of its tasks"
    counts = _counts(view)
    if counts["queued"] or counts["executing"]:
        return None
    if counts["failed"]:
        failing = (view.tasks_summary or {}).get("failing") or []
        names = ", ".join(str(t.get("name")) for t in failing[:5])
        return Phase.FAILED, f"{counts['failed']} task(s) failed: {names}"
    return Phase.SUCCEEDED, f"all {counts['done']} task(s) done"


def retry_requested(view: ActionView) -> bool:
    """A retry round the hook has not applied yet. Only for an action whose tasks were
    leased: the hook applies a round when it leases, so an action that leased none would
    be re-run for ever, each run failing the same way."""
    if view.tasks_summary is None:
        return False
    applied = int(view.tasks_summary.get("retryRound") or 0)
    return (
        view.phase is Phase.FAILED
        and (view.error or {}).get("reason") == TASKS_FAILED
        and view.task_retry_round > applied
    )


def retry(view: ActionView, now: datetime) -> Decision:
    """FAILED (TasksFailed) → QUEUED: a new attempt for the re-queued tasks."""
    message = f"retrying failed tasks (round {view.task_retry_round}); waiting for admission"
    status: dict[str, Any] = {
        "phase": Phase.QUEUED.value,
        "message": message,
        "error": None,
        "finishedAt": None,
        "observedGeneration": view.generation,
        "conditions": conditions_for(
            Phase.QUEUED,
            message=message,
            now=now,
            observed_generation=view.generation,
            previous=view.conditions,
        ),
        "queuedAt": format_time(now),
    }
    return Decision(status, (Emit("Normal", "RetryingTasks", message),), 0.0)
