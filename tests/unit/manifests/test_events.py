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


def expected_suffix(uid: str, now: datetime, reason: str, message: str) -> str:
    """The name's suffix, computed independently: µs since the epoch in hex, then the
    first 8 hex digits of sha256(uid, time, reason, message)."""
    import hashlib

    micros = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    text = f"{uid}\n{now.isoformat()}\n{reason}\n{message}"
    return f"{micros:x}" + hashlib.sha256(text.encode()).hexdigest()[:8]


def test_the_whole_event_as_written() -> None:
    event = build_event(
        make_action(), type="Warning", reason="BackoffLimitExceeded", message="m", now=NOW
    )
    assert event == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": "resize." + expected_suffix(ACTION_UID, NOW, "BackoffLimitExceeded", "m"),
            "namespace": "team-a",
        },
        "involvedObject": {
            "apiVersion": "asyncaction.dev/v1alpha1",
            "kind": "AsyncAction",
            "name": "resize",
            "namespace": "team-a",
            "uid": ACTION_UID,
            "resourceVersion": "4711",
        },
        "type": "Warning",
        "reason": "BackoffLimitExceeded",
        "message": "m",
        "firstTimestamp": "2026-03-01T12:30:45Z",
        "lastTimestamp": "2026-03-01T12:30:45Z",
        "count": 1,
        "source": {"component": "asyncaction-operator"},
        "reportingComponent": "asyncaction-operator",
    }


def test_the_suffix_depends_on_the_message_and_the_uid() -> None:
    a = build_event(make_action(), type="Normal", reason="R", message="one", now=NOW)
    b = build_event(make_action(), type="Normal", reason="R", message="two", now=NOW)
    assert a["metadata"]["name"] != b["metadata"]["name"]
    assert a["metadata"]["name"] == "resize." + expected_suffix(ACTION_UID, NOW, "R", "one")


def test_a_long_name_is_cut_to_exactly_253_and_never_ends_in_a_separator() -> None:
    suffix = expected_suffix(ACTION_UID, NOW, "R", "m")
    room = 253 - len(suffix) - 1
    name = build_event(
        make_action(name="a" * 300), type="Normal", reason="R", message="m", now=NOW
    )["metadata"]["name"]
    assert name == "a" * room + "." + suffix
    assert len(name) == 253
    cut_at_dash = "a" * (room - 2) + "-.b" + "c" * 50
    name = build_event(
        make_action(name=cut_at_dash), type="Normal", reason="R", message="m", now=NOW
    )["metadata"]["name"]
    assert name == "a" * (room - 2) + "." + suffix


def test_a_message_of_exactly_the_limit_is_kept_whole() -> None:
    from asyncaction.manifests.events import truncate_message

    assert truncate_message("x" * 1024) == "x" * 1024
    assert truncate_message("x" * 1025) == "x" * 1021 + "..."
    assert truncate_message("abcdef", limit=5) == "ab..."
