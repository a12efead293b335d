"""The whole status patch a report becomes, field by field, and how reports coalesce.

The current status is an AsyncAction's status as the API server serves it; each test
states the complete merge patch, so a field dropped or renamed shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import conditions_for
from asyncaction_hook.errors import HookError
from asyncaction_hook.reports import Report, check_result_size, public_view, status_patch

NOW = datetime(2026, 11, 29, 10, 6, 0, tzinfo=UTC)
T = "2026-11-29T10:06:00Z"
EARLIER = conditions_for(
    Phase.RUNNING, message="job j is running", now=datetime(2026, 11, 29, 10, 5, tzinfo=UTC)
)


def current(phase: str = "RUNNING", **fields: Any) -> dict[str, Any]:
    return {
        "phase": phase,
        "attempts": 1,
        "jobName": "resize-7f3c2a10-1",
        "startedAt": "2026-11-29T10:05:00Z",
        "conditions": EARLIER,
        "logTail": ["one", "two"],
        **fields,
    }


def patch_for(body: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    report = Report.model_validate(body)
    return status_patch(status or current(), report, now=NOW, log_tail_lines=3)


def test_a_progress_report_writes_every_field_it_carries_and_no_phase() -> None:
    body = {
        "progress": 40,
        "statusDetails": {"step": "resize", "done": 4},
        "result": {"partial": True},
        "logs": ["three", "four"],
    }
    assert patch_for(body) == {
        "lastReportAt": T,
        "progress": 40,
        "statusDetails": {"step": "resize", "done": 4},
        "result": {"partial": True},
        "logTail": ["two", "three", "four"],
    }
    assert patch_for({}) == {"lastReportAt": T}


def test_the_first_report_moves_starting_to_running() -> None:
    message = "the job reported it is running"
    assert patch_for({"status": "RUNNING"}, current("STARTING", conditions=[])) == {
        "lastReportAt": T,
        "phase": "RUNNING",
        "message": message,
        "conditions": conditions_for(Phase.RUNNING, message=message, now=NOW),
    }


def test_success_writes_the_phase_the_end_and_full_progress() -> None:
    message = "the job reported success"
    assert patch_for({"status": "SUCCESS", "results": {"n": 1}}) == {
        "lastReportAt": T,
        "result": {"n": 1},
        "phase": "SUCCEEDED",
        "message": message,
        "conditions": conditions_for(Phase.SUCCEEDED, message=message, now=NOW, previous=EARLIER),
        "finishedAt": T,
        "error": None,
        "progress": 100,
    }


def test_a_reported_failure_is_left_to_the_operator() -> None:
    assert patch_for({"status": "ERROR", "errorMessage": "bad input", "progress": 10}) == {
        "lastReportAt": T,
        "progress": 10,
        "message": "bad input",
        "error": {"reason": "JobReportedFailure", "message": "bad input"},
    }
    assert patch_for({"status": "FAILED"})["error"] == {
        "reason": "JobReportedFailure",
        "message": "the job reported a failure",
    }


@pytest.mark.parametrize(
    ("phase", "status", "reason"),
    [
        ("SUCCEEDED", 409, "ACTION_COMPLETED"),
        ("QUEUED", 409, "NOT_RUNNING"),
        ("PAUSED", 409, "NOT_RUNNING"),
        ("Bogus", 409, "NOT_RUNNING"),
    ],
)
def test_reports_outside_a_running_attempt_are_refused(
    phase: str, status: int, reason: str
) -> None:
    with pytest.raises(HookError) as raised:
        patch_for({"progress": 1}, current(phase))
    assert (raised.value.status, raised.value.reason) == (status, reason)


def test_coalesced_reports_keep_earlier_fields_and_accumulate_logs() -> None:
    first = Report.model_validate(
        {"progress": 10, "statusDetails": {"a": 1}, "logs": ["x"], "result": {"r": 1}}
    )
    later = Report.model_validate({"progress": 20, "logs": ["y", "z"]})
    merged = first.merged_with(later)
    assert merged.model_dump(by_alias=True, exclude_none=True) == {
        "progress": 20,
        "statusDetails": {"a": 1},
        "result": {"r": 1},
        "logs": ["x", "y", "z"],
    }
    only_first = first.merged_with(Report.model_validate({"progress": 30}))
    assert only_first.logs == ["x"]
    only_later = Report().merged_with(later)
    assert only_later.logs == ["y", "z"]
    assert Report.model_validate({"status": "success"}).terminal
    assert not Report.model_validate({"status": "RUNNING"}).terminal
    assert Report.model_validate({"logs": "a\nb"}).logs == ["a", "b"]


def test_a_result_of_exactly_the_limit_passes() -> None:
    report = Report.model_validate({"result": {"k": "v"}})  # {"k":"v"}: 9 bytes
    check_result_size(report, 9)
    with pytest.raises(HookError) as raised:
        check_result_size(report, 8)
    assert (raised.value.status, raised.value.reason) == (413, "TOO_LARGE")
    check_result_size(Report(), 0)


def test_a_result_is_measured_in_utf8_as_every_other_bound() -> None:
    """100 "é" are 200 bytes of UTF-8 (what etcd keeps) and 600 as escaped ASCII: the
    result bound counts the first, as the statusDetails and status bounds do."""
    report = Report.model_validate({"result": {"k": "é" * 100}})  # {"k":"éé…"}: 208 bytes
    check_result_size(report, 208)
    with pytest.raises(HookError):
        check_result_size(report, 207)


def test_the_public_view_names_exactly_what_a_job_may_see() -> None:
    action = {
        "metadata": {"uid": "u-1", "name": "resize", "namespace": "team-a", "labels": {"x": "y"}},
        "spec": {"arguments": []},
        "status": current(progress=40),
    }
    assert public_view(action) == {
        "id": "u-1",
        "name": "resize",
        "namespace": "team-a",
        "phase": "RUNNING",
        "progress": 40,
        "attempts": 1,
    }
    assert public_view({"metadata": {}}) == dict.fromkeys(
        ("id", "name", "namespace", "phase", "progress", "attempts")
    )


def test_a_conditions_transition_time_survives_a_report_that_keeps_its_status() -> None:
    before = datetime(2026, 11, 29, 10, 5, tzinfo=UTC)
    starting = conditions_for(Phase.STARTING, message="attempt 1", now=before)
    patch = patch_for({"status": "RUNNING"}, current("STARTING", conditions=starting))
    assert {c["lastTransitionTime"] for c in patch["conditions"]} == {"2026-11-29T10:05:00Z"}


def test_a_report_after_the_end_names_the_phase() -> None:
    with pytest.raises(HookError, match="already FAILED"):
        patch_for({"progress": 1}, current("FAILED"))


def test_later_fields_given_by_their_wire_names_win_when_coalescing() -> None:
    first = Report.model_validate({"statusDetails": {"a": 1}, "errorMessage": "old"})
    later = Report.model_validate({"statusDetails": {"b": 2}, "errorMessage": "new"})
    merged = first.merged_with(later)
    assert (merged.status_details, merged.error_message) == ({"b": 2}, "new")
    assert public_view({}) == dict.fromkeys(
        ("id", "name", "namespace", "phase", "progress", "attempts")
    )
