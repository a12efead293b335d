from datetime import timedelta

import pytest

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import Candidate, conditions_for, select_admissions
from asyncaction.lifecycle.views import JobState, job_view_from
from asyncaction.timeutil import format_time
from tests.unit.lifecycle.helpers import NOW

TABLE = {
    Phase.QUEUED: {"Ready": "Unknown", "Reconciling": "True", "Succeeded": "Unknown"},
    Phase.RUNNING: {"Ready": "Unknown", "Reconciling": "True", "Succeeded": "Unknown"},
    Phase.PAUSED: {"Ready": "False", "Succeeded": "Unknown"},
    Phase.SUCCEEDED: {"Ready": "True", "Succeeded": "True"},
    Phase.FAILED: {"Ready": "False", "Stalled": "True", "Succeeded": "False"},
    Phase.TIMEOUT: {"Ready": "False", "Stalled": "True", "Succeeded": "False"},
}


@pytest.mark.parametrize(("phase", "expected"), TABLE.items(), ids=str)
def test_contract_table(phase: Phase, expected: dict[str, str]) -> None:
    got = conditions_for(phase, now=NOW)
    assert {c["type"]: c["status"] for c in got} == expected


def test_paused_reason_and_kept_transition_time() -> None:
    before = conditions_for(Phase.QUEUED, now=NOW)
    after = conditions_for(Phase.RUNNING, now=NOW + timedelta(minutes=1), previous=before)
    assert {c["lastTransitionTime"] for c in after} == {format_time(NOW)}
    paused = conditions_for(Phase.PAUSED, now=NOW + timedelta(minutes=2), previous=after)
    ready = next(c for c in paused if c["type"] == "Ready")
    assert ready["reason"] == "Paused"
    assert ready["lastTransitionTime"] == format_time(NOW + timedelta(minutes=2))


def test_admission_order_and_limits() -> None:
    c = [
        Candidate("a", 0, NOW, "q"),
        Candidate("b", 5, NOW + timedelta(1), "q"),
        Candidate("c", 0, NOW - timedelta(1), "q"),
    ]
    assert select_admissions(c, active_count=0, max_concurrent=None) == ["b", "c", "a"]
    assert select_admissions(c, active_count=1, max_concurrent=3) == ["b", "c"]
    assert select_admissions(c, active_count=3, max_concurrent=3) == []
    assert select_admissions(c, active_count=0, max_concurrent=None, queue_suspended=True) == []


def test_job_view_from_pods() -> None:
    failed_pod = {
        "status": {
            "phase": "Failed",
            "containerStatuses": [{"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}],
        }
    }
    failed = job_view_from(
        {
            "metadata": {"name": "j"},
            "status": {
                "failed": 1,
                "conditions": [
                    {"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}
                ],
            },
        },
        [failed_pod],
    )
    assert failed.state is JobState.FAILED
    assert failed.exit_code == 3
    assert failed.message is not None
    assert "exit code 3" in failed.message
    running = job_view_from(
        {"metadata": {"name": "j"}, "status": {"active": 1}}, [{"status": {"phase": "Running"}}]
    )
    assert running.state is JobState.RUNNING
    done = job_view_from({"metadata": {"name": "j"}, "status": {"succeeded": 1}}, [])
    assert done.state is JobState.SUCCEEDED
