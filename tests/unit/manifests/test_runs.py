"""The run of a schedule's slot, and Events named by slot."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from asyncaction.api.models import AsyncAction
from asyncaction.controllers.caches import summarize_action
from asyncaction.controllers.schedules import run_view_from
from asyncaction.manifests.runs import build_run, build_schedule_event

SLOT = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
SCHEDULE: dict[str, Any] = {
    "metadata": {"name": "nightly", "namespace": "ns", "uid": "s-uid", "generation": 1},
    "spec": {
        "schedule": "* * * * *",
        "actionTemplate": {
            "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
            "spec": {"templateRef": "t", "request": {"n": 1}},
        },
    },
}


def test_run_is_owned_labelled_and_annotated_with_its_slot() -> None:
    run = build_run(SCHEDULE, "nightly-1767225610", SLOT)
    assert run["metadata"] == {
        "name": "nightly-1767225610",
        "namespace": "ns",
        "labels": {"team": "a", "asyncaction.dev/schedule": "nightly"},
        "annotations": {"note": "x", "asyncaction.dev/scheduled-at": "2026-01-01T00:00:10Z"},
        "ownerReferences": [
            {
                "apiVersion": "asyncaction.dev/v1alpha1",
                "kind": "ActionSchedule",
                "name": "nightly",
                "uid": "s-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    assert run["spec"] == {"templateRef": "t", "request": {"n": 1}}
    AsyncAction.model_validate(run)


def test_summary_keeps_what_the_decision_reads() -> None:
    run = build_run(SCHEDULE, "nightly-1767225610", SLOT)
    run["metadata"].update(uid="r-uid", resourceVersion="7")
    run["status"] = {"phase": "SUCCEEDED", "finishedAt": "2026-01-01T00:00:12Z", "progress": 100}
    summary = summarize_action(run)  # as the operator's cache keeps it
    assert summary["metadata"]["annotations"] == {
        "asyncaction.dev/scheduled-at": run["metadata"]["annotations"][
            "asyncaction.dev/scheduled-at"
        ]
    }
    assert summary["metadata"]["ownerReferences"] == run["metadata"]["ownerReferences"]
    assert summary["status"] == {"phase": "SUCCEEDED", "finishedAt": "2026-01-01T00:00:12Z"}
    view = run_view_from(summary)
    assert (view.name, view.uid, view.scheduled_at) == ("nightly-1767225610", "r-uid", SLOT)
    assert view.phase is not None
    assert view.phase.value == "SUCCEEDED"
    assert view.finished_at == datetime(2026, 1, 1, 0, 0, 12, tzinfo=UTC)
    assert not view.abort_requested
    assert not view.active


def test_events_of_one_slot_share_a_name() -> None:
    now = datetime(2026, 1, 1, 0, 0, 11, tzinfo=UTC)
    later = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    first = build_schedule_event(
        SCHEDULE, type="Warning", reason="MissedSchedule", message="a", slot=SLOT, now=now
    )
    again = build_schedule_event(
        SCHEDULE, type="Warning", reason="MissedSchedule", message="b", slot=SLOT, now=later
    )
    other = build_schedule_event(
        SCHEDULE, type="Normal", reason="Created", message="a", slot=SLOT, now=now
    )
    assert first["metadata"]["name"] == again["metadata"]["name"]
    assert first["metadata"]["name"] != other["metadata"]["name"]
    assert first["involvedObject"]["kind"] == "ActionSchedule"
    assert first["involvedObject"]["uid"] == "s-uid"


def test_a_run_is_an_async_action_in_full() -> None:
    run = build_run(SCHEDULE, "nightly-1767225610", SLOT)
    assert (run["apiVersion"], run["kind"]) == ("asyncaction.dev/v1alpha1", "AsyncAction")
    assert sorted(run) == ["apiVersion", "kind", "metadata", "spec"]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_a_slot_event_in_full_is_named_by_uid_slot_and_reason() -> None:
    now = datetime(2026, 1, 1, 0, 0, 11, tzinfo=UTC)
    message = "created nightly-1767225610 for 2026-01-01T00:00:10Z"
    event = build_schedule_event(
        SCHEDULE, type="Normal", reason="Created", message=message, slot=SLOT, now=now
    )
    name = "nightly." + digest("s-uid\n2026-01-01T00:00:10Z\nCreated") + f"{1767225610:x}"
    assert event == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "ns"},
        "involvedObject": {
            "apiVersion": "asyncaction.dev/v1alpha1",
            "kind": "ActionSchedule",
            "name": "nightly",
            "namespace": "ns",
            "uid": "s-uid",
        },
        "type": "Normal",
        "reason": "Created",
        "message": message,
        "firstTimestamp": "2026-01-01T00:00:11Z",
        "lastTimestamp": "2026-01-01T00:00:11Z",
        "count": 1,
        "source": {"component": "asyncaction-operator"},
        "reportingComponent": "asyncaction-operator",
    }


def test_an_event_without_a_slot_is_named_by_generation_and_message() -> None:
    """An invalid schedule is reported once per generation and message, not per decision."""
    now = datetime(2026, 1, 1, 0, 0, 11, tzinfo=UTC)
    message = "schedule '61 * * * *' is not a valid cron expression"

    def event(schedule: dict[str, Any], at: datetime) -> dict[str, Any]:
        return build_schedule_event(
            schedule, type="Warning", reason="InvalidSchedule", message=message, slot=None, now=at
        )

    first = event(SCHEDULE, now)
    name = "nightly." + digest(f"s-uid\n1:{message}\nInvalidSchedule")
    assert first["metadata"] == {"name": name, "namespace": "ns"}
    assert (first["type"], first["reason"], first["message"]) == (
        "Warning",
        "InvalidSchedule",
        message,
    )
    later = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert event(SCHEDULE, later)["metadata"]["name"] == name
    edited = {**SCHEDULE, "metadata": {**SCHEDULE["metadata"], "generation": 2}}
    assert event(edited, later)["metadata"]["name"] == "nightly." + digest(
        f"s-uid\n2:{message}\nInvalidSchedule"
    )
