"""What reconcile sees: the action and its current Job, parsed from raw objects (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from asyncaction.api.names import DEFAULT_QUEUE
from asyncaction.api.phases import Phase
from asyncaction.timeutil import parse_time

# How long an attempt's Pod may take to start (pull, schedule, configure) by default.
DEFAULT_START_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class ActionView:
    name: str
    namespace: str
    uid: str
    generation: int
    created_at: datetime | None
    has_handler: bool
    suspend: bool = False
    abort: bool = False
    start_at: datetime | None = None
    active_deadline_seconds: int | None = None
    start_timeout_seconds: int = DEFAULT_START_TIMEOUT_SECONDS
    backoff_limit: int = 0
    ttl_seconds_after_finished: int | None = None
    phase: Phase | None = None
    attempts: int = 0
    failures: int = 0
    job_name: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = None
    paused_at: datetime | None = None
    paused_seconds: float = 0.0
    children_removed_at: datetime | None = None
    error: Mapping[str, Any] | None = None
    conditions: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    observed_generation: int | None = None
    # The effective queue (spec.queue, else the default) and the one status records.
    queue: str = DEFAULT_QUEUE
    status_queue: str | None = None
    message: str = ""  # status.message: what the last transition said
    # With spec.tasks: status.tasks as the hook wrote it, and the spec.taskRetry round
    # asked for (lifecycle.tasks).
    has_tasks: bool = False
    tasks_summary: Mapping[str, Any] | None = None
    task_retry_round: int = 0
    delete_when_done: bool = False  # retention Delete (the action's, else its queue's)


def action_view_from(obj: Mapping[str, Any], *, has_handler: bool) -> ActionView:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    phase = status.get("phase")
    return ActionView(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        created_at=parse_time(meta.get("creationTimestamp")),
        has_handler=has_handler,
        suspend=bool(spec.get("suspend")),
        abort=bool(spec.get("abort")),
        start_at=parse_time(spec.get("startAt")),
        active_deadline_seconds=spec.get("activeDeadlineSeconds"),
        start_timeout_seconds=int(spec.get("startTimeoutSeconds") or DEFAULT_START_TIMEOUT_SECONDS),
        backoff_limit=int(spec.get("backoffLimit") or 0),
        ttl_seconds_after_finished=spec.get("ttlSecondsAfterFinished"),
        phase=Phase(phase) if isinstance(phase, str) and phase in Phase.__members__ else None,
        attempts=int(status.get("attempts") or 0),
        failures=int(status.get("failures") or 0),
        job_name=status.get("jobName"),
        queued_at=parse_time(status.get("queuedAt")),
        started_at=parse_time(status.get("startedAt")),
        finished_at=parse_time(status.get("finishedAt")),
        next_attempt_at=parse_time(status.get("nextAttemptAt")),
        paused_at=parse_time(status.get("pausedAt")),
        paused_seconds=float(status.get("pausedSeconds") or 0.0),
        children_removed_at=parse_time(status.get("childrenRemovedAt")),
        error=status.get("error"),
        conditions=tuple(status.get("conditions") or ()),
        observed_generation=status.get("observedGeneration"),
        queue=spec.get("queue") or DEFAULT_QUEUE,
        status_queue=status.get("queue"),
        message=str(status.get("message") or ""),
        has_tasks=bool(spec.get("tasks")),
        tasks_summary=status.get("tasks"),
        task_retry_round=int((spec.get("taskRetry") or {}).get("round") or 0),
        delete_when_done=spec.get("retention") == "Delete",
    )


def admission_view_from(obj: Mapping[str, Any], *, has_handler: bool) -> ActionView:
    """The fields of ``action_view_from`` that admission reads (``is_eligible``, the
    queue, the creation time), parsed alone: admission sees every action on every event,
    a full view costs several times more."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    phase = status.get("phase")
    return ActionView(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""),
        generation=0,
        created_at=parse_time(meta.get("creationTimestamp")),
        has_handler=has_handler,
        suspend=bool(spec.get("suspend")),
        abort=bool(spec.get("abort")),
        start_at=parse_time(spec.get("startAt")),
        phase=Phase(phase) if isinstance(phase, str) and phase in Phase.__members__ else None,
        next_attempt_at=parse_time(status.get("nextAttemptAt")),
        queue=spec.get("queue") or DEFAULT_QUEUE,
        status_queue=status.get("queue"),
    )


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class JobView:
    name: str
    state: JobState
    exit_code: int | None = None
    message: str | None = None
    deleting: bool = False
    created_at: datetime | None = None  # when the attempt's Job was created
    waiting_reason: str | None = None  # why its Pod has not started yet, if known


def _exit_code(pods: Sequence[Mapping[str, Any]]) -> tuple[int | None, str | None]:
    codes: list[tuple[int, str | None]] = []
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is not None and "exitCode" in terminated:
                codes.append((int(terminated["exitCode"]), terminated.get("reason")))
    failing = [c for c in codes if c[0] != 0]
    if failing:
        return failing[0]
    return codes[0] if codes else (None, None)


def _waiting_reason(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a Pod is not running: a container's waiting reason, or unschedulable."""
    for pod in pods:
        status = pod.get("status") or {}
        for container in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason and reason != "PodInitializing":
                detail = waiting.get("message")
                return f"{reason}: {detail}" if detail else str(reason)
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reason = str(condition.get("reason") or "Unschedulable")
                detail = condition.get("message")  # the scheduler's: why no node fits
                return f"{reason}: {detail}" if detail else reason
    return None


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def job_view_from(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> JobView:
    status = job.get("status") or {}
    name = (job.get("metadata") or {}).get("name", "")
    deleting = bool((job.get("metadata") or {}).get("deletionTimestamp"))
    created_at = parse_time((job.get("metadata") or {}).get("creationTimestamp"))
    code, reason = _exit_code(pods)
    if _condition(job, "Complete") or int(status.get("succeeded") or 0) > 0:
        return JobView(name, JobState.SUCCEEDED, exit_code=code, deleting=deleting)
    failed = _condition(job, "Failed")
    phases = [(p.get("status") or {}).get("phase") for p in pods]
    running = "Running" in phases
    # The Job controller may not have counted a Pod's end yet (the operator sees the Pod
    # first): a Pod that ran means the Job started, whatever its counters say.
    started = running or "Succeeded" in phases or "Failed" in phases
    # A Job of tasks replaces a killed Pod (its backoffLimit): failed Pods end it only
    # past that limit, or when the Job controller says so. A Job without the field
    # (an attempt's: backoffLimit 0) ends with its first.
    limit = int((job.get("spec") or {}).get("backoffLimit") or 0)
    if failed or (int(status.get("failed") or 0) > limit and not running):
        # With an exit code, the Job's own condition message (about its backoffLimit 0)
        # would only confuse: each attempt is one Job with one pod.
        if code is not None:
            message = f"exit code {code}" + (f" ({reason})" if reason else "")
        else:
            message = (failed or {}).get("message") or "the job failed"
        return JobView(name, JobState.FAILED, exit_code=code, message=message, deleting=deleting)
    if started:
        return JobView(name, JobState.RUNNING, deleting=deleting, created_at=created_at)
    return JobView(
        name,
        JobState.PENDING,
        deleting=deleting,
        created_at=created_at,
        waiting_reason=_waiting_reason(pods),
    )
