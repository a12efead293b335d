"""The custom resources as pydantic models: the one source of the CRD schemas.

Field names on the wire are the contract's camelCase; Python code uses snake_case.
Validation here is what ``kubectl apply`` enforces through the generated OpenAPI
schema, plus what a 1.20 API server cannot express (no CEL): those rules are checked
again by the operator when it reads an object. The building blocks are in
``api.wire``, a command's arguments and streams in ``api.arguments``, ActionSchedule in
``api.schedules``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from asyncaction.api.arguments import Argument, Stream
from asyncaction.api.names import DEFAULT_QUEUE
from asyncaction.api.phases import Phase
from asyncaction.api.wire import (
    DNS_LABEL,
    Condition,
    FreeForm,
    Resource,
    S3Uri,
    Timestamp,
    Wire,
    described,
)


class Retention(StrEnum):
    """What the operator does with a finished action once its TTL work is done."""

    KEEP = "Keep"
    DELETE = "Delete"


class ActionFields(Wire):
    """Fields an ActionTemplate may default, shared with the AsyncAction spec."""

    template: FreeForm | None = Field(
        default=None,
        description="core/v1 PodTemplateSpec: what runs. The operator adds JOB_ID, "
        "JOB_SECRET_KEY (from a Secret) and JOB_HOOK to every container.",
    )
    request: FreeForm | None = Field(
        default=None, description="the action's input document; the job reads it from the hook"
    )
    arguments: Annotated[
        list[Argument] | None,
        described(
            "passed to the command in order, after the container's args: "
            "{type: input|parameter|output, name?, value}"
        ),
    ] = None
    inputs: Annotated[
        list[S3Uri] | None, described("s3://bucket/prefix URIs whose files are staged in")
    ] = None
    outputs: Annotated[
        list[S3Uri] | None, described("s3://bucket/prefix URIs the job's output files go to")
    ] = None
    stdin: Annotated[Stream | None, described("the command's standard input")] = None
    stdout: Annotated[Stream | None, described("the command's standard output")] = None
    stderr: Annotated[Stream | None, described("the command's standard error")] = None
    queue: Annotated[
        str | None,
        described(
            f"name of an ActionQueue in the namespace; default {DEFAULT_QUEUE!r}",
            pattern=DNS_LABEL,
        ),
    ] = None
    priority: Annotated[
        int | None, described("higher is admitted first within a queue; default 0")
    ] = None
    start_at: Annotated[
        Timestamp | None, described("RFC 3339 time: not admitted before then (phase SCHEDULED)")
    ] = None
    active_deadline_seconds: Annotated[
        int | None,
        described("seconds from the first start, paused time excluded; then TIMEOUT", ge=1),
    ] = None
    backoff_limit: Annotated[
        int | None,
        described("failed attempts retried with exponential backoff; default 0", ge=0, le=100),
    ] = None
    ttl_seconds_after_finished: Annotated[
        int | None,
        described(
            "seconds after a terminal phase when the Job and Secret are removed "
            "(and the record archived to S3 when an archive store is configured)",
            ge=0,
        ),
    ] = None
    start_timeout_seconds: Annotated[
        int | None,
        described(
            "seconds an attempt's pod may take to start (scheduling, image pull, "
            "configuration) before the attempt fails with the pod's reason; default 600",
            ge=1,
        ),
    ] = None
    retention: Annotated[
        Retention | None,
        described(
            "what becomes of the action once its ttlSecondsAfterFinished work is done "
            "(Job and Secret removed, record archived): Keep (default) or Delete; "
            "unset: its ActionQueue's retention"
        ),
    ] = None


class TaskSpec(Wire):
    """One task of an action: what a pod leases from the hook with ``GET /task``."""

    name: Annotated[
        str | None,
        described("unique name (default task-<index>)", pattern=r"^[A-Za-z0-9_.-]{1,128}$"),
    ] = None
    parameters: FreeForm | None = Field(
        default=None, description="free-form input of the task, given to the pod that runs it"
    )
    inputs: Annotated[
        list[S3Uri] | None,
        described("s3:// URIs the task reads (checked against the namespace's grants)"),
    ] = None


class TaskRetryRequest(Wire):
    """Re-queue failed tasks once per round: raise ``round`` to ask again."""

    round: Annotated[int, described("a number above status.tasks.retryRound", ge=1)]
    tasks: Annotated[
        list[str] | None,
        described("names or ids of the failed tasks to retry; absent: every failed task"),
    ] = None


class AsyncActionSpec(ActionFields):
    """``queue`` (default ``default``), ``priority`` (0) and ``backoffLimit`` (0) have no
    server-side defaults: an ActionTemplate may default them, and a value the API server
    filled in would look as if the action had set it. The operator applies them."""

    template_ref: Annotated[
        str | None,
        described(
            "name of an ActionTemplate in the namespace, used when template is absent",
            pattern=DNS_LABEL,
        ),
    ] = None
    suspend: Annotated[
        bool,
        described(
            "true pauses the action (a running attempt is stopped and resumes as a new "
            "attempt when set back to false)"
        ),
    ] = False
    abort: Annotated[bool, described("true aborts the action for good (phase ABORTED)")] = False
    tasks: Annotated[
        list[TaskSpec] | None,
        described(
            "the action is made of these tasks: its Job's pods lease them from the hook "
            "(GET /task) until none is left",
            max_length=20000,
        ),
    ] = None
    parallelism: Annotated[
        int | None, described("pods working on the tasks at once; default 1", ge=1, le=1000)
    ] = None
    excluded_tasks: Annotated[
        list[str] | None,
        described("names or ids of tasks never to run (a done task stays done)"),
    ] = None
    task_retry: Annotated[
        TaskRetryRequest | None,
        described(
            "re-queue failed tasks; on a FAILED action (reason TasksFailed) this starts a "
            "new attempt that runs only them"
        ),
    ] = None
    task_lease_seconds: Annotated[
        int | None,
        described("how long a leased task stays with its pod without a renewal; default 60", ge=1),
    ] = None
    task_retry_limit: Annotated[
        int | None,
        described("tries of a task beyond its first (failures and lapsed leases); default 2", ge=0),
    ] = None


class ErrorInfo(Wire):
    """Why an action ended in FAILED, ABORTED or TIMEOUT."""

    reason: Annotated[
        str, described("CamelCase cause, e.g. BackoffLimitExceeded, DeadlineExceeded, Aborted")
    ]
    message: Annotated[str, described("human-readable detail")] = ""


class OutputRecord(Wire):
    """A file the job uploaded."""

    name: Annotated[str, described("the argument or output name it was uploaded under")]
    uri: Annotated[str, described("s3://bucket/key of the object")]
    size: Annotated[int, described("size in bytes", ge=0)]
    md5: Annotated[str, described("hex MD5 of the content")]


class PendingUpload(Wire):
    """An upload the hook presigned and will record once the object is stored."""

    name: Annotated[str, described("the argument or output name")]
    uri: Annotated[str, described("s3://bucket/key the job uploads to")]
    md5: Annotated[str, described("hex MD5 the job announced")]
    challenge: Annotated[str | None, described("the job's content challenge")] = None
    expires_at: Annotated[Timestamp | None, described("when the presigned URL expires")] = None
    attempt: Annotated[int | None, described("the attempt the URL was presigned for", ge=1)] = None


class FailingTask(Wire):
    """A task that failed for good (its tries spent)."""

    id: Annotated[str, described("index in spec.tasks")]
    name: Annotated[str, described("the task's name")]
    tries: Annotated[int, described("leases it had", ge=0)] = 0
    error: Annotated[str, described("the last error message")] = ""


class TasksStatus(Wire):
    """Bounded, however many tasks: the per-task record is in the action's task
    ConfigMaps (``asyncaction tasks NAME``)."""

    total: Annotated[int, described("tasks in spec.tasks", ge=0)] = 0
    queued: Annotated[int, described("waiting for a pod", ge=0)] = 0
    executing: Annotated[int, described("leased to a pod", ge=0)] = 0
    done: Annotated[int, described("finished", ge=0)] = 0
    failed: Annotated[int, described("failed with their tries spent", ge=0)] = 0
    excluded: Annotated[int, described("excluded by spec.excludedTasks", ge=0)] = 0
    ranges: Annotated[
        dict[str, str] | None, described("state -> id ranges, e.g. done: 0-41,43 (cut at 1 KiB)")
    ] = None
    failing: Annotated[
        list[FailingTask] | None, described("the first 20 failed tasks", max_length=20)
    ] = None
    retry_round: Annotated[
        int | None, described("the last spec.taskRetry.round the hook applied", ge=0)
    ] = None


class AsyncActionStatus(Wire):
    """Observed state, written by the operator and the job hook only."""

    phase: Annotated[
        Phase | None,
        described(
            "SCHEDULED, QUEUED, STARTING, RUNNING, PAUSED, or one of the terminal "
            "SUCCEEDED, FAILED, ABORTED, TIMEOUT"
        ),
    ] = None
    progress: Annotated[int | None, described("0-100, as the job last reported", ge=0, le=100)] = (
        None
    )
    status_details: FreeForm | None = Field(
        default=None, description="the job's latest free-form progress document"
    )
    result: FreeForm | None = Field(default=None, description="the job's response document")
    error: Annotated[
        ErrorInfo | None,
        described(
            "{reason, message} on FAILED, ABORTED and TIMEOUT; while STARTING, why the "
            "Pod has not started (its waiting reason)"
        ),
    ] = None
    log_tail: Annotated[
        list[str] | None, described("last log lines the job reported (bounded)", max_length=200)
    ] = None
    outputs: Annotated[
        list[OutputRecord] | None, described("files the job uploaded: {name, uri, size, md5}")
    ] = None
    pending_uploads: Annotated[
        list[PendingUpload] | None, described("uploads presigned but not yet recorded")
    ] = None
    queue: Annotated[
        str | None,
        described(
            f"the queue the action waits in (spec.queue, else {DEFAULT_QUEUE!r}); once"
            " admitted, the queue its attempt counts against until it ends"
        ),
    ] = None
    tasks: Annotated[
        TasksStatus | None,
        described("with spec.tasks: counts and id ranges per state and the failing tasks"),
    ] = None
    attempts: Annotated[int | None, described("attempts started so far", ge=0)] = None
    failures: Annotated[int | None, described("attempts that failed so far", ge=0)] = None
    last_failure_reason: Annotated[
        str | None,
        described(
            "why the last failed attempt failed: JobFailed, StartTimeout, JobReportedFailure,"
            " JobDeleted, or the refusal's reason (error.reason says why the action ended)"
        ),
    ] = None
    job_name: Annotated[str | None, described("the current (or last) attempt's Job")] = None
    queued_at: Annotated[Timestamp | None, described("when the action was first queued")] = None
    started_at: Annotated[Timestamp | None, described("when the first attempt started")] = None
    finished_at: Annotated[Timestamp | None, described("when a terminal phase was reached")] = None
    last_report_at: Annotated[
        Timestamp | None, described("when the job last reported to the hook")
    ] = None
    next_attempt_at: Annotated[
        Timestamp | None, described("when the next retry may start (backoff)")
    ] = None
    paused_at: Annotated[Timestamp | None, described("when the current pause began")] = None
    paused_seconds: Annotated[
        float | None, described("time spent paused, excluded from the deadline", ge=0)
    ] = None
    children_removed_at: Annotated[
        Timestamp | None, described("when the TTL removed the Job and Secret")
    ] = None
    message: Annotated[str | None, described("human-readable state of the action")] = None
    observed_generation: Annotated[
        int | None, described("generation the operator last acted on")
    ] = None
    conditions: Annotated[
        list[Condition] | None,
        described("kstatus conditions: Ready, Reconciling, Stalled, Succeeded"),
    ] = None


class ActionQueueSpec(Wire):
    """Admission limits of one queue, and the retention default of its actions."""

    max_concurrent: Annotated[
        int | None,
        described("actions in STARTING or RUNNING at once; unset: the operator's default", ge=1),
    ] = None
    suspend: Annotated[bool, described("true: admit nothing (running actions go on)")] = False
    retention: Annotated[
        Retention | None,
        described("retention of the queue's actions that set none: Keep (default) or Delete"),
    ] = None


class ActionQueueStatus(Wire):
    """Observed state of a queue, written by the operator."""

    phase_counts: Annotated[
        dict[str, int] | None, described("number of the queue's actions per phase")
    ] = None
    active: Annotated[int | None, described("actions in STARTING or RUNNING", ge=0)] = None


class ActionTemplateSpec(ActionFields):
    """``template`` plus defaults for any AsyncAction field but ``templateRef``."""


class AsyncAction(Resource):
    spec: AsyncActionSpec
    status: AsyncActionStatus | None = None


class ActionQueue(Resource):
    spec: ActionQueueSpec = Field(default_factory=ActionQueueSpec)
    status: ActionQueueStatus | None = None


class ActionTemplate(Resource):
    spec: ActionTemplateSpec
