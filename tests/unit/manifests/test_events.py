import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from asyncaction.manifests import build_event
from tests.unit.manifests.samples import ACTION_UID, make_action

NOW = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)


def test_event_shape() -> None:
    event = build_event(
        make_action(), type="Normal", reason="Started", message="attempt 1", now=NOW
    )
    assert event["apiVersion"] == "v1"
    assert event["kind"] == "Event"
    assert event["metadata"]["namespace"] == "team-a"
    assert event["involvedObject"] == {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "AsyncAction",
        "name": "resize",
        "namespace": "team-a",
        "uid": ACTION_UID,
        "resourceVersion": "4711",
    }
    assert (event["type"], event["reason"], event["message"]) == ("Normal", "Started", "attempt 1")
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-03-01T12:30:45Z"
    assert event["count"] == 1
    assert event["source"] == {"component": "asyncaction-operator"}


def test_event_name_is_the_action_name_and_a_hex_suffix() -> None:
    event = build_event(make_action(), type="Warning", reason="Failed", message="x", now=NOW)
    assert re.fullmatch(r"resize\.[0-9a-f]+", event["metadata"]["name"])


def test_event_name_is_deterministic_and_differs_by_time_and_reason() -> None:
    def name(reason: str, now: datetime) -> str:
        event = build_event(make_action(), type="Normal", reason=reason, message="m", now=now)
        return str(event["metadata"]["name"])

    assert name("Started", NOW) == name("Started", NOW)
    assert name("Started", NOW) != name("Queued", NOW)
    assert name("Started", NOW) != name("Started", NOW + timedelta(microseconds=1))


def test_explicit_suffix_is_used() -> None:
    event = build_event(
        make_action(), type="Normal", reason="R", message="m", now=NOW, suffix="abc123"
    )
    assert event["metadata"]["name"] == "resize.abc123"


def test_event_name_of_a_long_action_fits() -> None:
    event = build_event(
        make_action(name="n" * 253), type="Normal", reason="R", message="m", now=NOW
    )
    assert len(event["metadata"]["name"]) <= 253
    assert event["involvedObject"]["name"] == "n" * 253


def test_long_messages_are_truncated_to_1024_characters() -> None:
    event = build_event(make_action(), type="Warning", reason="R", message="x" * 5000, now=NOW)
    assert len(event["message"]) == 1024
    assert event["message"].endswith("...")


def test_timestamps_are_written_in_utc() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    event = build_event(make_action(), type="Normal", reason="R", message="m", now=local)
    assert event["firstTimestamp"] == "2026-03-01T12:30:45Z"


def test_custom_component() -> None:
    event = build_event(
        make_action(), type="Normal", reason="R", message="m", now=NOW, component="hook"
    )
    assert event["source"] == {"component": "hook"}


def test_naive_time_and_unknown_type_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_event(make_action(), type="Normal", reason="R", message="m", now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="event type"):
        build_event(make_action(), type="Error", reason="R", message="m", now=NOW)
