"""ActionSchedule: actions created on a cron schedule, in the manner of a CronJob
(``asyncaction.lifecycle.schedule`` decides; ``controllers.schedules`` acts)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from asyncaction.api.models import AsyncActionSpec
from asyncaction.api.wire import Condition, Resource, Timestamp, Wire, described


class ConcurrencyPolicy(StrEnum):
    """What a schedule does when a slot comes while one of its actions still runs."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class ActionTemplateMeta(Wire):
    """The labels and annotations the actions of a schedule get (their names are derived)."""

    labels: Annotated[dict[str, str] | None, described("labels of every action created")] = None
    annotations: Annotated[
        dict[str, str] | None, described("annotations of every action created")
    ] = None


class ScheduledActionTemplate(Wire):
    """``metadata`` and ``spec`` of the actions a schedule creates."""

    metadata: Annotated[
        ActionTemplateMeta | None, described("labels and annotations of the created actions")
    ] = None
    spec: Annotated[AsyncActionSpec, described("the AsyncAction spec of every run")]


class ActionScheduleSpec(Wire):
    """When to create actions and from what, in the manner of a CronJob."""

    schedule: Annotated[
        str,
        described(
            "cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with "
            "seconds first, or @hourly, @daily, @weekly, @monthly, @yearly",
            min_length=1,
            max_length=256,
        ),
    ]
    time_zone: Annotated[
        str | None,
        described(
            "IANA time zone the schedule is read in (e.g. Europe/Paris); default UTC",
            max_length=64,
        ),
    ] = None
    action_template: Annotated[
        ScheduledActionTemplate, described("metadata and spec of the actions it creates")
    ]
    concurrency_policy: Annotated[
        ConcurrencyPolicy,
        described(
            "Allow: runs may overlap; Forbid: a slot waits while a run is active, and runs "
            "when it ends if still within startingDeadlineSeconds; "
            "Replace: the active run is aborted and the new one created"
        ),
    ] = ConcurrencyPolicy.ALLOW
    starting_deadline_seconds: Annotated[
        int | None,
        described(
            "a missed slot still runs when no more than this late (after downtime, at most "
            "the latest missed slot runs); unset: any delay",
            ge=0,
        ),
    ] = None
    successful_history_limit: Annotated[
        int,
        described("succeeded actions kept; the oldest are deleted; default 3", ge=0),
    ] = 3
    failed_history_limit: Annotated[
        int,
        described("failed, aborted or timed-out actions kept; default 1", ge=0),
    ] = 1
    suspend: Annotated[bool, described("true: create no action (running ones go on)")] = False


class ActionReference(Wire):
    """An action a schedule created."""

    name: Annotated[str, described("the action's name")]
    uid: Annotated[str | None, described("the action's uid")] = None


class ActionScheduleStatus(Wire):
    """Observed state of a schedule, written by the operator."""

    last_schedule_time: Annotated[
        Timestamp | None, described("the slot of the latest action created")
    ] = None
    last_successful_time: Annotated[
        Timestamp | None, described("when the latest succeeded action finished")
    ] = None
    next_schedule_time: Annotated[
        Timestamp | None, described("the next slot, as the operator computed it")
    ] = None
    active: Annotated[
        list[ActionReference] | None, described("the schedule's actions not yet finished")
    ] = None
    observed_generation: Annotated[
        int | None, described("generation the operator last acted on")
    ] = None
    conditions: Annotated[
        list[Condition] | None,
        described("Ready (False with reason InvalidSchedule when the spec cannot be read)"),
    ] = None


class ActionSchedule(Resource):
    spec: ActionScheduleSpec
    status: ActionScheduleStatus | None = None
