"""The ActionSchedule decision, driven by an injected clock (no I/O, no sleeping)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from asyncaction.api.phases import Phase
from asyncaction.api.schedules import ActionSchedule
from asyncaction.lifecycle.schedule import (
    AbortRun,
    CreateRun,
    DeleteRun,
    Notify,
    RunView,
    ScheduleDecision,
    decide,
    run_name,
    schedule_view_from,
)
from asyncaction.timeutil import format_time

T0 = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)


def schedule(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """An ActionSchedule as the API server returns it (validated by the model first)."""
    obj: dict[str, Any] = {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "ActionSchedule",
        "metadata": {
            "name": "nightly",
            "namespace": "ns",
            "uid": "s-uid",
            "generation": 2,
            "creationTimestamp": format_time(T0),
        },
        "spec": {
            "schedule": "*/10 * * * * *",
            "actionTemplate": {"spec": {"templateRef": "t"}},
            **spec,
        },
    }
    if status is not None:
        obj["status"] = status
    ActionSchedule.model_validate(obj)
    return obj


def run(slot: datetime, phase: Phase | None = Phase.RUNNING, **kw: Any) -> RunView:
    return RunView(
        name=run_name("nightly", slot),
        uid=f"uid-{int(slot.timestamp())}",
        scheduled_at=slot,
        phase=phase,
        finished_at=kw.get("finished_at"),
        abort_requested=kw.get("abort_requested", False),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def creates(decision: ScheduleDecision) -> list[CreateRun]:
    return [e for e in decision.effects if isinstance(e, CreateRun)]


def notices(decision: ScheduleDecision) -> list[Notify]:
    return [e for e in decision.effects if isinstance(e, Notify)]


def test_first_slot_creates_its_run_then_records_it() -> None:
    decision = decide(schedule_view_from(schedule()), [], at(10.2))
    assert decision.effects == [
        CreateRun("nightly-1767225610", at(10)),
        Notify("Normal", "Created", "created nightly-1767225610 for 2026-01-01T00:00:10Z", at(10)),
    ]
    assert decision.after == {"lastScheduleTime": "2026-01-01T00:00:10Z"}
    assert decision.status["nextScheduleTime"] == "2026-01-01T00:00:20Z"
    assert decision.status["active"] is None
    assert decision.status["lastSuccessfulTime"] is None
    assert decision.status["observedGeneration"] == 2
    assert "lastScheduleTime" not in decision.status
    [ready] = decision.status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "Scheduled")
    assert decision.requeue_after == pytest.approx(9.8 + 0.05)


def test_before_the_first_slot_it_only_waits() -> None:
    decision = decide(schedule_view_from(schedule()), [], at(4))
    assert decision.effects == []
    assert decision.after == {}
    assert decision.requeue_after == pytest.approx(6.05)


def test_forbid_skips_while_active_and_allow_overlaps() -> None:
    status = {"lastScheduleTime": format_time(at(10))}
    active = [run(at(10))]
    forbid = decide(
        schedule_view_from(schedule(status, concurrencyPolicy="Forbid")), active, at(20.1)
    )
    assert forbid.effects == []
    assert forbid.status["active"] == [{"name": "nightly-1767225610", "uid": "uid-1767225610"}]
    allow = decide(schedule_view_from(schedule(status)), active, at(20.1))
    assert [c.name for c in creates(allow)] == ["nightly-1767225620"]


def test_forbid_runs_the_skipped_slot_when_the_run_ends_within_the_deadline() -> None:
    status = {"lastScheduleTime": format_time(at(10))}
    done = [run(at(10), Phase.SUCCEEDED, finished_at=at(24))]
    view = schedule_view_from(
        schedule(status, concurrencyPolicy="Forbid", startingDeadlineSeconds=5)
    )
    assert [c.scheduled_at for c in creates(decide(view, done, at(24)))] == [at(20)]
    assert creates(decide(view, done, at(25.5))) == []  # 5.5 s late: outside the deadline


def test_replace_aborts_the_active_run_before_creating() -> None:
    status = {"lastScheduleTime": format_time(at(10))}
    runs = [run(at(0.0)), run(at(10)), run(at(-10), abort_requested=True)]
    view = schedule_view_from(schedule(status, concurrencyPolicy="Replace"))
    decision = decide(view, runs, at(20.1))
    kinds = [e for e in decision.effects if not isinstance(e, Notify)]
    assert kinds == [
        AbortRun("nightly-1767225600"),
        AbortRun("nightly-1767225610"),
        CreateRun("nightly-1767225620", at(20)),
    ]


def test_after_downtime_only_the_latest_missed_slot_runs_with_a_warning() -> None:
    status = {"lastScheduleTime": format_time(at(10))}
    view = schedule_view_from(schedule(status, startingDeadlineSeconds=30))
    decision = decide(view, [run(at(10), Phase.SUCCEEDED)], at(65))
    assert creates(decision) == [CreateRun("nightly-1767225660", at(60))]
    warning = notices(decision)[0]
    assert (warning.type, warning.reason, warning.slot) == ("Warning", "MissedSchedule", at(60))
    assert warning.message == (
        "5 slots were missed; only the latest, 2026-01-01T00:01:00Z, runs now (4 skipped)"
    )


def test_after_downtime_beyond_the_deadline_nothing_runs() -> None:
    status = {"lastScheduleTime": format_time(at(10))}
    view = schedule_view_from(schedule(status, startingDeadlineSeconds=3))
    decision = decide(view, [], at(65))
    assert creates(decision) == []
    [warning] = notices(decision)
    assert warning.message == (
        "5 slots were missed; the latest, 2026-01-01T00:01:00Z, is more than "
        "startingDeadlineSeconds (3s) late: none runs"
    )
    assert decision.status["nextScheduleTime"] == "2026-01-01T00:01:10Z"
    assert "lastScheduleTime" not in decision.status  # the missed slot did not run


def test_a_run_that_exists_is_adopted_and_recorded() -> None:
    # Crash between the create and the status write: the run is there, the status not.
    decision = decide(schedule_view_from(schedule()), [run(at(10))], at(12))
    assert creates(decision) == []
    assert decision.status["lastScheduleTime"] == "2026-01-01T00:00:10Z"


def test_a_recorded_slot_whose_run_was_deleted_never_runs_again() -> None:
    status = {"lastScheduleTime": format_time(at(10))}
    decision = decide(schedule_view_from(schedule(status)), [], at(12))
    assert decision.effects == []


def test_history_limits_prune_the_oldest_but_never_the_newest_slot() -> None:
    succeeded = [run(at(10 * i), Phase.SUCCEEDED, finished_at=at(10 * i + 1)) for i in range(5)]
    failed_newest = run(at(50), Phase.FAILED)
    status = {"lastScheduleTime": format_time(at(50)), "lastSuccessfulTime": format_time(at(0))}
    view = schedule_view_from(schedule(status, successfulHistoryLimit=2, failedHistoryLimit=0))
    decision = decide(view, [*succeeded, failed_newest], at(55))
    deleted = [e for e in decision.effects if isinstance(e, DeleteRun)]
    assert deleted == [DeleteRun(r.name, r.uid) for r in succeeded[:3]]
    assert decision.status["lastSuccessfulTime"] == "2026-01-01T00:00:41Z"


def test_suspended_creates_nothing_and_says_so() -> None:
    decision = decide(schedule_view_from(schedule(suspend=True)), [], at(65))
    assert creates(decision) == []
    assert decision.status["nextScheduleTime"] is None
    assert decision.status["conditions"][0]["reason"] == "Suspended"
    assert decision.requeue_after is None


def test_invalid_schedule_is_reported_once() -> None:
    decision = decide(schedule_view_from(schedule(schedule="61 * * * *")), [], at(1))
    [ready] = decision.status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSchedule")
    assert [n.reason for n in notices(decision)] == ["InvalidSchedule"]
    again = decide(schedule_view_from(schedule(decision.status, schedule="61 * * * *")), [], at(2))
    assert notices(again) == []
    assert again.status["conditions"][0]["lastTransitionTime"] == ready["lastTransitionTime"]


def simulate(obj: dict[str, Any], start: datetime, end: datetime, step: float) -> list[datetime]:
    """A controller on an injected clock: wakes at the requested time or every ``step``
    seconds (resyncs, watch events), applies each decision, finishes runs at once."""
    runs: list[RunView] = []
    created: list[datetime] = []
    status: dict[str, Any] = {}
    now = start
    while now < end:
        view = schedule_view_from({**obj, "status": status})
        decision = decide(view, runs, now)
        status = {**status, **{k: v for k, v in decision.status.items() if v is not None}}
        for effect in decision.effects:
            if isinstance(effect, CreateRun):
                created.append(effect.scheduled_at)
                runs.append(run(effect.scheduled_at, Phase.SUCCEEDED, finished_at=now))
        status.update(decision.after)
        wait = decision.requeue_after or step
        now += timedelta(seconds=min(wait, step))
    return created


@pytest.mark.parametrize("step", [60.0, 420.0, 3600.0])
def test_fall_back_hour_runs_each_slot_once(step: float) -> None:
    # New York, 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
    obj = schedule(schedule="*/15 * * * *", timeZone="America/New_York")
    obj["metadata"]["creationTimestamp"] = "2026-11-01T03:50:00Z"  # 23:50 EDT
    start = datetime(2026, 11, 1, 3, 50, tzinfo=UTC)
    created = simulate(obj, start, start + timedelta(hours=5), step)
    walls = Counter(s.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") for s in created)
    assert all(count == 1 for count in walls.values()), walls
    assert len(set(created)) == len(created)
    if step == 60.0:  # woken often enough to miss nothing: every wall slot ran
        assert sorted(walls) == [f"{h:02d}:{m:02d}" for h in range(4) for m in (0, 15, 30, 45)]
    daily = schedule(schedule="30 1 * * *", timeZone="America/New_York")
    daily["metadata"]["creationTimestamp"] = "2026-10-31T03:50:00Z"
    ran = simulate(daily, start - timedelta(days=1), start + timedelta(days=2), step)
    assert [format_time(s) for s in ran] == [
        "2026-10-31T05:30:00Z",  # 01:30 EDT
        "2026-11-01T05:30:00Z",  # 01:30 EDT, the first pass only
        "2026-11-02T06:30:00Z",  # 01:30 EST
    ]


def test_condition_messages_are_never_empty() -> None:
    # The API server 1.20 stores "" as null and then refuses the status as invalid.
    for obj in (schedule(), schedule(suspend=True), schedule(schedule="nope")):
        decision = decide(schedule_view_from(obj), [], at(1))
        assert all(c["message"] for c in decision.status["conditions"])
