from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from asyncaction_hook.errors import HookError
from asyncaction_hook.reports import Report, check_result_size, public_view, status_patch

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def patch(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return status_patch(current, Report.model_validate(body), now=NOW, log_tail_lines=3)


def test_seed_spellings_are_accepted() -> None:
    report = Report.model_validate({"status": "SUCCESS", "results": {"n": 1}})
    assert report.terminal
    assert report.result == {"n": 1}
    assert Report.model_validate({"status": "error"}).status == "FAILED"


def test_first_report_moves_starting_to_running() -> None:
    got = patch({"phase": "STARTING"}, {"progress": 5})
    assert got["phase"] == "RUNNING"
    assert got["progress"] == 5
    assert got["lastReportAt"] == "2026-11-23T12:00:00Z"
    assert "phase" not in patch({"phase": "RUNNING"}, {"progress": 6})


def test_terminal_reports() -> None:
    ok = patch({"phase": "RUNNING"}, {"status": "SUCCEEDED", "result": {"a": 1}})
    assert (ok["phase"], ok["progress"], ok["result"], ok["error"]) == (
        "SUCCEEDED",
        100,
        {"a": 1},
        None,
    )
    assert {c["type"]: c["status"] for c in ok["conditions"]}["Ready"] == "True"
    bad = patch({"phase": "RUNNING"}, {"status": "FAILED", "errorMessage": "disk full"})
    assert bad["error"] == {"reason": "JobReportedFailure", "message": "disk full"}
    # a failed attempt, not the action's end: the operator retries it or fails the action
    assert "phase" not in bad
    assert "finishedAt" not in bad


@pytest.mark.parametrize("phase", ["SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"])
def test_nothing_after_a_terminal_phase(phase: str) -> None:
    with pytest.raises(HookError) as caught:
        patch({"phase": phase}, {"progress": 1})
    assert (caught.value.status, caught.value.reason) == (409, "ACTION_COMPLETED")


@pytest.mark.parametrize("phase", ["PAUSED", "QUEUED", "SCHEDULED"])
def test_reports_need_a_running_attempt(phase: str) -> None:
    with pytest.raises(HookError) as caught:
        patch({"phase": phase}, {"progress": 3})
    assert (caught.value.status, caught.value.reason) == (409, "NOT_RUNNING")


def test_log_tail_is_bounded_and_logs_accumulate() -> None:
    got = patch({"phase": "RUNNING", "logTail": ["a", "b"]}, {"logs": "c\nd"})
    assert got["logTail"] == ["b", "c", "d"]
    merged = Report.model_validate({"logs": ["x"]}).merged_with(
        Report.model_validate({"logs": ["y"], "progress": 3})
    )
    assert merged.logs == ["x", "y"]
    assert merged.progress == 3
    # an empty list adds no line and erases none (it replaced the pending lines)
    kept = merged.merged_with(Report.model_validate({"logs": [], "progress": 4}))
    assert (kept.logs, kept.progress, merged.logs) == (["x", "y"], 4, ["x", "y"])


def test_absorb_merges_in_place_and_leaves_the_later_report() -> None:
    pending = Report.model_validate({"progress": 1, "logs": ["a"], "statusDetails": {"s": 1}})
    later = Report.model_validate({"progress": 2, "logs": "b\nc", "results": {"r": 1}})
    pending.absorb(later)
    assert pending.model_dump(exclude_none=True) == {
        "progress": 2,
        "status_details": {"s": 1},
        "result": {"r": 1},
        "logs": ["a", "b", "c"],
    }
    assert pending.model_fields_set == {"progress", "logs", "status_details", "result"}
    assert later.logs == ["b", "c"]  # its list is not the merged one


@pytest.mark.parametrize("body", [{"progress": 101}, {"status": "PAUSED"}, {"statusDetails": [1]}])
def test_malformed_reports(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Report.model_validate(body)


def test_result_size_limit_tells_what_to_do() -> None:
    with pytest.raises(HookError, match="upload it as an output") as caught:
        check_result_size(Report.model_validate({"result": {"x": "y" * 100}}), 50)
    assert caught.value.status == 413


def test_public_view_has_no_secret() -> None:
    view = public_view(
        {
            "metadata": {"uid": "u", "name": "n", "namespace": "ns"},
            "status": {"phase": "RUNNING"},
            "spec": {"x": 1},
        }
    )
    assert set(view) == {"id", "name", "namespace", "phase", "progress", "attempts"}


def test_a_bad_result_is_named_as_the_job_spelled_it() -> None:
    """The seed's ``results`` is read where ``result`` is absent; a bad one is named as
    sent (it was named ``result``, a key the job never wrote)."""
    from asyncaction_hook.errors import invalid

    for key in ("result", "results"):
        with pytest.raises(ValidationError) as caught:
            Report.model_validate({key: 5})
        assert invalid(caught.value).message == f"{key}: Input should be a valid dictionary"
    with pytest.raises(ValidationError) as both:
        Report.model_validate({"result": 5, "results": {"ok": 1}})  # result wins, as ever
    assert invalid(both.value).message == "result: Input should be a valid dictionary"
