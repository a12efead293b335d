"""Every field of a schedule's decision: status, condition, effects, requeue, ``after``.

The schedules are validated by the model as the API server stores them; the runs are
built by ``build_run`` (what the controller creates), given what the API server and the
action controller add (uid, phase, finishedAt), then read the way the controller reads
the operator's cache (``summarize_action``, ``run_view_from``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asyncaction.api.phases import Phase
from asyncaction.api.schedules import ActionSchedule, ConcurrencyPolicy
from asyncaction.controllers.caches import summarize_action
from asyncaction.controllers.schedules import run_view_from
from asyncaction.lifecycle.schedule import (
    AbortRun,
    CreateRun,
    DeleteRun,
    Notify,
    RunView,
    ScheduleDecision,
    ScheduleView,
    decide,
    run_name,
    schedule_view_from,
)
from asyncaction.manifests.runs import build_run
from asyncaction.timeutil import format_time
from tests.support.approx import about

T0 = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
EVERY_10_S = "*/10 * * * * *"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return format_time(at(seconds))


def schedule(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "ActionSchedule",
        "metadata": {
            "name": "nightly",
            "namespace": "ns",
            "uid": "s-uid",
            "generation": 2,
            "resourceVersion": "41",
            "creationTimestamp": stamp(0),
        },
        "spec": {"schedule": EVERY_10_S, "actionTemplate": {"spec": {"templateRef": "t"}}, **spec},
    }
    if status is not None:
        obj["status"] = status
    ActionSchedule.model_validate(obj)
    return obj


def stored_run(
    slot: datetime | None,
    phase: Phase | None = Phase.RUNNING,
    *,
    name: str | None = None,
    finished: datetime | None = None,
    abort: bool = False,
    ttl: int | None = None,
    children_removed: datetime | None = None,
) -> RunView:
    """A run as the controller's cache holds it, read the way the controller reads it."""
    spec = {"ttlSecondsAfterFinished": ttl} if ttl is not None else {}
    obj = build_run(schedule(actionTemplate={"spec": {"templateRef": "t", **spec}}),
                    name or run_name("nightly", slot or T0), slot or T0)  # fmt: skip
    obj["metadata"].update(uid=f"uid-{obj['metadata']['name']}", resourceVersion="7")
    if slot is None:  # its annotation was removed by hand
        del obj["metadata"]["annotations"]["asyncaction.dev/scheduled-at"]
    obj["spec"]["abort"] = abort
    if phase is not None:
        obj["status"] = {"phase": phase.value}
        if finished is not None:
            obj["status"]["finishedAt"] = format_time(finished)
        if children_removed is not None:
            obj["status"]["childrenRemovedAt"] = format_time(children_removed)
    return run_view_from(summarize_action(obj))


def ready(status: str, reason: str, message: str, when: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": when,
        "observedGeneration": 2,
    }


SCHEDULED = ("True", "Scheduled", "runs are created on schedule")


def test_the_view_reads_every_field_and_the_defaults() -> None:
    plain = schedule_view_from(schedule())
    assert plain == ScheduleView(
        name="nightly",
        generation=2,
        created_at=T0,
        schedule=EVERY_10_S,
        time_zone=None,
        policy=ConcurrencyPolicy.ALLOW,
        starting_deadline_seconds=None,
        successful_history_limit=3,
        failed_history_limit=1,
        suspend=False,
        status={},
    )
    status = {"lastScheduleTime": stamp(10)}
    full = schedule_view_from(
        schedule(
            status,
            schedule="0 9 * * *",
            timeZone="Europe/Paris",
            concurrencyPolicy="Replace",
            startingDeadlineSeconds=30,
            successfulHistoryLimit=5,
            failedHistoryLimit=4,
            suspend=True,
        )
    )
    assert full == ScheduleView(
        name="nightly",
        generation=2,
        created_at=T0,
        schedule="0 9 * * *",
        time_zone="Europe/Paris",
        policy=ConcurrencyPolicy.REPLACE,
        starting_deadline_seconds=30,
        successful_history_limit=5,
        failed_history_limit=4,
        suspend=True,
        status=status,
    )
    with pytest.raises(ValueError, match="creationTimestamp"):
        schedule_view_from({"metadata": {"name": "x"}, "spec": {}})


def test_a_first_slot_decision_in_full() -> None:
    decision = decide(schedule_view_from(schedule()), [], at(10.2))
    assert decision == ScheduleDecision(
        status={
            "observedGeneration": 2,
            "active": None,
            "lastSuccessfulTime": None,
            "nextScheduleTime": stamp(20),
            "conditions": [ready(*SCHEDULED, stamp(10))],
        },
        effects=[
            CreateRun("nightly-1767225610", at(10)),
            Notify("Normal", "Created", f"created nightly-1767225610 for {stamp(10)}", at(10)),
        ],
        requeue_after=about(9.85),
        after={"lastScheduleTime": stamp(10)},
    )


def test_the_ready_condition_keeps_its_time_until_its_status_or_reason_changes() -> None:
    same = {"conditions": [ready(*SCHEDULED, stamp(0))]}
    kept = decide(schedule_view_from(schedule(same)), [], at(4))
    assert kept.status["conditions"] == [ready(*SCHEDULED, stamp(0))]
    other_reason = {"conditions": [ready("True", "Suspended", "creates no action", stamp(0))]}
    moved = decide(schedule_view_from(schedule(other_reason)), [], at(4))
    assert moved.status["conditions"] == [ready(*SCHEDULED, stamp(4))]
    other_status = {"conditions": [ready("False", "Scheduled", "x", stamp(0))]}
    moved = decide(schedule_view_from(schedule(other_status)), [], at(4))
    assert moved.status["conditions"] == [ready(*SCHEDULED, stamp(4))]
    no_time = {"conditions": [{**ready(*SCHEDULED, stamp(0)), "lastTransitionTime": None}]}
    filled = decide(schedule_view_from(schedule(no_time)), [], at(4))
    assert filled.status["conditions"] == [ready(*SCHEDULED, stamp(4))]


def test_an_invalid_schedule_decision_in_full_still_prunes() -> None:
    runs = [stored_run(at(-20), Phase.FAILED), stored_run(at(-10), Phase.FAILED)]
    decision = decide(schedule_view_from(schedule(schedule="61 * * * *")), runs, at(1))
    message = "schedule '61 * * * *' is not a valid cron expression"
    assert decision == ScheduleDecision(
        status={
            "observedGeneration": 2,
            "active": None,
            "lastSuccessfulTime": None,
            "nextScheduleTime": None,
            "conditions": [ready("False", "InvalidSchedule", message, stamp(1))],
        },
        effects=[
            DeleteRun(runs[0].name, runs[0].uid),
            Notify("Warning", "InvalidSchedule", message),
        ],
    )


def test_a_suspended_schedule_decision_in_full_still_prunes() -> None:
    runs = [stored_run(at(-20), Phase.FAILED), stored_run(at(-10), Phase.RUNNING)]
    status = {"lastScheduleTime": stamp(-10)}
    decision = decide(schedule_view_from(schedule(status, suspend=True)), runs, at(65))
    assert decision == ScheduleDecision(
        status={
            "observedGeneration": 2,
            "active": [{"name": runs[1].name, "uid": runs[1].uid}],
            "lastSuccessfulTime": None,
            "nextScheduleTime": None,
            "conditions": [ready("True", "Suspended", "creates no action", stamp(65))],
        },
        effects=[],
    )
    pruned = decide(
        schedule_view_from(schedule(status, suspend=True, failedHistoryLimit=0)), runs, at(65)
    )
    assert pruned.effects == [DeleteRun(runs[0].name, runs[0].uid)]
    assert pruned.requeue_after is None


def test_a_schedule_with_no_slot_ahead_waits_for_nothing() -> None:
    decision = decide(schedule_view_from(schedule(schedule="0 0 30 2 *")), [], at(65))
    assert decision == ScheduleDecision(
        status={
            "observedGeneration": 2,
            "active": None,
            "lastSuccessfulTime": None,
            "nextScheduleTime": None,
            "conditions": [ready(*SCHEDULED, stamp(65))],
        },
        effects=[],
        requeue_after=None,
    )


def test_a_slot_past_its_deadline_in_full_and_one_exactly_at_it_runs() -> None:
    status = {"lastScheduleTime": stamp(10)}
    late = decide(schedule_view_from(schedule(status, startingDeadlineSeconds=4)), [], at(24.5))
    message = (
        f"1 slot was missed; the latest, {stamp(20)}, is more than "
        "startingDeadlineSeconds (4s) late: none runs"
    )
    assert late == ScheduleDecision(
        status={
            "observedGeneration": 2,
            "active": None,
            "lastSuccessfulTime": None,
            "nextScheduleTime": stamp(30),
            "conditions": [ready(*SCHEDULED, stamp(24))],
        },
        effects=[Notify("Warning", "MissedSchedule", message, at(20))],
        requeue_after=about(5.55),
    )
    on_time = decide(schedule_view_from(schedule(status, startingDeadlineSeconds=4)), [], at(24))
    assert [e for e in on_time.effects if isinstance(e, CreateRun)] == [
        CreateRun("nightly-1767225620", at(20))
    ]


def test_a_run_already_there_or_a_forbidden_overlap_decides_only_the_wake_up() -> None:
    status = {"lastScheduleTime": stamp(10)}
    active = [stored_run(at(10))]
    expected_status = {
        "observedGeneration": 2,
        "active": [{"name": "nightly-1767225610", "uid": "uid-nightly-1767225610"}],
        "lastSuccessfulTime": None,
        "nextScheduleTime": stamp(30),
        "conditions": [ready(*SCHEDULED, stamp(20))],
    }
    forbid = decide(
        schedule_view_from(schedule(status, concurrencyPolicy="Forbid")), active, at(20.5)
    )
    assert forbid == ScheduleDecision(expected_status, [], about(9.55))
    there = [*active, stored_run(at(20))]
    adopted = decide(schedule_view_from(schedule(status)), there, at(20.5))
    assert adopted == ScheduleDecision(
        {
            **expected_status,
            "active": [
                {"name": "nightly-1767225610", "uid": "uid-nightly-1767225610"},
                {"name": "nightly-1767225620", "uid": "uid-nightly-1767225620"},
            ],
            "lastScheduleTime": stamp(20),
        },
        [],
        about(9.55),
    )


def test_allow_never_aborts_and_replace_aborts_after_pruning() -> None:
    status = {"lastScheduleTime": stamp(10)}
    runs = [
        stored_run(at(-20), Phase.FAILED),
        stored_run(at(-10), Phase.FAILED),
        stored_run(at(0), abort=True),
        stored_run(at(10)),
    ]
    allow = decide(schedule_view_from(schedule(status)), runs, at(20.5))
    assert allow.effects == [
        DeleteRun(runs[0].name, runs[0].uid),
        CreateRun("nightly-1767225620", at(20)),
        Notify("Normal", "Created", f"created nightly-1767225620 for {stamp(20)}", at(20)),
    ]
    replace = decide(
        schedule_view_from(schedule(status, concurrencyPolicy="Replace")), runs, at(20.5)
    )
    assert replace.effects == [
        DeleteRun(runs[0].name, runs[0].uid),
        AbortRun(runs[3].name),
        CreateRun("nightly-1767225620", at(20)),
        Notify("Normal", "Created", f"created nightly-1767225620 for {stamp(20)}", at(20)),
    ]


@pytest.mark.parametrize(
    ("missed", "count", "skipped"),
    [(2, "2", "1"), (100, "100", "99"), (101, "more than 100", "more than 100")],
)
def test_missed_slots_are_counted_up_to_a_hundred(missed: int, count: str, skipped: str) -> None:
    status = {"lastScheduleTime": stamp(0)}
    now = at(60 * missed + 1)
    due = at(60 * missed)
    decision = decide(schedule_view_from(schedule(status, schedule="* * * * *")), [], now)
    message = (
        f"{count} slots were missed; only the latest, {format_time(due)}, runs now "
        f"({skipped} skipped)"
    )
    name = run_name("nightly", due)
    assert decision.effects == [
        Notify("Warning", "MissedSchedule", message, due),
        CreateRun(name, due),
        Notify("Normal", "Created", f"created {name} for {format_time(due)}", due),
    ]


def test_one_missed_slot_alone_warns_of_nothing() -> None:
    decision = decide(schedule_view_from(schedule({"lastScheduleTime": stamp(0)})), [], at(15))
    assert [type(e) for e in decision.effects] == [CreateRun, Notify]


def test_the_last_success_is_the_latest_of_the_record_and_the_runs() -> None:
    recorded = {"lastScheduleTime": stamp(10), "lastSuccessfulTime": stamp(5)}
    alone = decide(schedule_view_from(schedule(recorded)), [], at(12))
    assert alone.status["lastSuccessfulTime"] == stamp(5)  # its run was pruned since
    runs = [stored_run(at(0), Phase.SUCCEEDED, finished=at(3))]
    assert decide(schedule_view_from(schedule(recorded)), runs, at(12)).status[
        "lastSuccessfulTime"
    ] == stamp(5)
    runs = [stored_run(at(10), Phase.SUCCEEDED, finished=at(11))]
    assert decide(schedule_view_from(schedule(recorded)), runs, at(12)).status[
        "lastSuccessfulTime"
    ] == stamp(11)


def test_history_within_its_limits_is_kept_and_runs_sort_by_slot_not_name() -> None:
    kept = [stored_run(at(10 * i), Phase.SUCCEEDED, finished=at(10 * i + 1)) for i in range(3)]
    status = {"lastScheduleTime": stamp(20)}
    assert decide(schedule_view_from(schedule(status)), kept, at(25)).effects == []
    # Names out of slot order (runs made by hand, or whose slot annotation was removed):
    # the oldest slot goes first, a run without a slot counts as the oldest of all.
    runs = [
        stored_run(at(20), Phase.SUCCEEDED, name="nightly-a", finished=at(21)),
        stored_run(at(10), Phase.SUCCEEDED, name="nightly-b", finished=at(11)),
        stored_run(None, Phase.SUCCEEDED, name="nightly-c", finished=at(1)),
    ]
    view = schedule_view_from(schedule(status, successfulHistoryLimit=1))
    assert decide(view, runs, at(25)).effects == [
        DeleteRun("nightly-c", "uid-nightly-c"),
        DeleteRun("nightly-b", "uid-nightly-b"),
    ]


def test_a_run_past_the_history_limit_waits_for_its_ttl_work_before_it_is_deleted() -> None:
    """Found by a review: with ``ttlSecondsAfterFinished`` and an archive store, the
    history limit deleted finished runs whose record was not archived yet (the TTL not
    expired, or S3 down): with any TTL longer than the limit's span, no run of the
    schedule was ever archived."""
    status = {"lastScheduleTime": stamp(20)}
    view = schedule_view_from(schedule(status, failedHistoryLimit=1))
    runs = [
        stored_run(at(0), Phase.FAILED, finished=at(1), ttl=86400),  # pending
        stored_run(at(10), Phase.FAILED, finished=at(11), ttl=60, children_removed=at(80)),
        stored_run(at(20), Phase.FAILED, finished=at(21), ttl=86400),  # the newest
    ]
    assert [run.ttl_work_pending for run in runs] == [True, False, True]
    # two beyond the limit of one: the one whose TTL work is done goes, the other waits
    assert decide(view, runs, at(25)).effects == [
        DeleteRun("nightly-1767225610", "uid-nightly-1767225610")
    ]
    # its TTL work done (archived, children removed): it goes too
    done = stored_run(at(0), Phase.FAILED, finished=at(1), ttl=20, children_removed=at(22))
    assert decide(view, [done, runs[2]], at(25)).effects == [
        DeleteRun("nightly-1767225600", "uid-nightly-1767225600")
    ]


def test_a_run_of_the_due_slot_whose_slot_annotation_was_removed_is_not_created_again() -> None:
    """Its slot is unknown, so it does not move lastScheduleTime, but its name is taken."""
    status = {"lastScheduleTime": stamp(10)}
    runs = [stored_run(None, name=run_name("nightly", at(20)))]
    decision = decide(schedule_view_from(schedule(status)), runs, at(20.5))
    assert decision == ScheduleDecision(
        {
            "observedGeneration": 2,
            "active": [{"name": "nightly-1767225620", "uid": "uid-nightly-1767225620"}],
            "lastSuccessfulTime": None,
            "nextScheduleTime": stamp(30),
            "conditions": [ready(*SCHEDULED, stamp(20))],
        },
        [],
        about(9.55),
    )
