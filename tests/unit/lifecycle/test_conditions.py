"""The conditions written for a phase, field by field, and when lastTransitionTime moves."""

from __future__ import annotations

from datetime import UTC, datetime

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.conditions import conditions_for, matches

NOW = datetime(2026, 11, 29, 10, 5, 10, tzinfo=UTC)
EARLIER = "2026-11-29T10:01:02Z"


def test_a_running_action_is_reconciling_with_every_field() -> None:
    assert conditions_for(
        Phase.RUNNING, message="job j is running", now=NOW, observed_generation=2
    ) == [
        {
            "type": "Ready",
            "status": "Unknown",
            "reason": "Running",
            "message": "job j is running",
            "lastTransitionTime": "2026-11-29T10:05:10Z",
            "observedGeneration": 2,
        },
        {
            "type": "Reconciling",
            "status": "True",
            "reason": "Running",
            "message": "job j is running",
            "lastTransitionTime": "2026-11-29T10:05:10Z",
            "observedGeneration": 2,
        },
        {
            "type": "Succeeded",
            "status": "Unknown",
            "reason": "Running",
            "message": "job j is running",
            "lastTransitionTime": "2026-11-29T10:05:10Z",
            "observedGeneration": 2,
        },
    ]


def test_a_reason_given_replaces_the_phases_and_no_generation_writes_none() -> None:
    assert conditions_for(Phase.FAILED, reason="BackoffLimitExceeded", now=NOW) == [
        {
            "type": kind,
            "status": status,
            "reason": "BackoffLimitExceeded",
            "message": "",
            "lastTransitionTime": "2026-11-29T10:05:10Z",
        }
        for kind, status in (("Ready", "False"), ("Stalled", "True"), ("Succeeded", "False"))
    ]
    assert [c["reason"] for c in conditions_for(Phase.TIMEOUT, now=NOW)] == ["TimedOut"] * 3


def test_an_unchanged_status_keeps_its_transition_time_and_a_changed_one_moves() -> None:
    previous = [
        {"type": "Ready", "status": "Unknown", "lastTransitionTime": EARLIER},
        {"type": "Reconciling", "status": "True", "lastTransitionTime": EARLIER},
        {"type": "Succeeded", "status": "Unknown"},  # no time recorded: now
    ]
    times = {
        c["type"]: c["lastTransitionTime"]
        for c in conditions_for(Phase.RUNNING, now=NOW, previous=previous)
    }
    assert times == {"Ready": EARLIER, "Reconciling": EARLIER, "Succeeded": "2026-11-29T10:05:10Z"}
    times = {
        c["type"]: c["lastTransitionTime"]
        for c in conditions_for(Phase.SUCCEEDED, now=NOW, previous=previous)
    }
    assert times == {"Ready": "2026-11-29T10:05:10Z", "Succeeded": "2026-11-29T10:05:10Z"}
    times = {
        c["type"]: c["lastTransitionTime"]
        for c in conditions_for(Phase.PAUSED, now=NOW, previous=previous)
    }
    assert times == {"Ready": "2026-11-29T10:05:10Z", "Succeeded": "2026-11-29T10:05:10Z"}


def test_matches_compares_the_whole_table() -> None:
    running = conditions_for(Phase.RUNNING, now=NOW)
    assert matches(Phase.RUNNING, running)
    assert matches(Phase.QUEUED, running)  # the same table
    assert not matches(Phase.SUCCEEDED, running)
    assert not matches(Phase.RUNNING, running[:2])
    assert not matches(Phase.RUNNING, [*running, {"type": "Stalled", "status": "True"}])
    assert not matches(Phase.RUNNING, [{**running[0], "status": "False"}, *running[1:]])
