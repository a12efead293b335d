from datetime import UTC, datetime
from typing import Any

from asyncaction.admission import Admissions

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def obj(
    uid: str,
    phase: str | None = "QUEUED",
    queue: str = "q",
    priority: int = 0,
    created: str = "2026-11-23T11:00:00Z",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "name": uid, "namespace": "ns", "creationTimestamp": created},
        "spec": {"queue": queue, "priority": priority, **spec},
        "status": {"phase": phase} if phase else {},
    }


def test_unlimited_default_admits_everyone() -> None:
    admissions = Admissions()
    for uid in "abc":
        admissions.observe_action(obj(uid))
    assert all(admissions.try_admit(uid, NOW) for uid in "abc")


def test_grants_count_before_the_api_reflects_them() -> None:
    admissions = Admissions()
    admissions.observe_queue(
        {"metadata": {"name": "q", "namespace": "ns"}, "spec": {"maxConcurrent": 1}}
    )
    admissions.observe_action(obj("a"))
    admissions.observe_action(obj("b"))
    assert admissions.try_admit("a", NOW)
    assert not admissions.try_admit("b", NOW)  # a's grant holds the only slot
    admissions.observe_action(obj("a", "STARTING"))
    assert not admissions.try_admit("b", NOW)
    admissions.observe_action(obj("a", "SUCCEEDED"))
    assert admissions.try_admit("b", NOW)


def test_priority_wins_and_released_grants_free_the_slot() -> None:
    admissions = Admissions(default_max_concurrent=1)
    admissions.observe_action(obj("low", queue="default", priority=0))
    admissions.observe_action(obj("high", queue="default", priority=5))
    assert not admissions.try_admit("low", NOW)
    assert admissions.try_admit("high", NOW)
    admissions.release("high")
    admissions.observe_action(obj("high", "RUNNING", queue="default", priority=5))
    assert not admissions.try_admit("low", NOW)


def test_held_or_backing_off_actions_are_not_candidates() -> None:
    admissions = Admissions(default_max_concurrent=1)
    admissions.observe_action(obj("held", queue="default", priority=9, suspend=True))
    admissions.observe_action(
        obj("later", queue="default", priority=8, startAt="2026-11-23T13:00:00Z")
    )
    admissions.observe_action(obj("ready", queue="default"))
    assert admissions.try_admit("ready", NOW)


def test_suspended_queue_admits_nobody() -> None:
    admissions = Admissions()
    admissions.observe_queue(
        {"metadata": {"name": "q", "namespace": "ns"}, "spec": {"suspend": True}}
    )
    admissions.observe_action(obj("a"))
    assert not admissions.try_admit("a", NOW)
    admissions.observe_queue({"metadata": {"name": "q", "namespace": "ns"}}, deleted=True)
    assert admissions.try_admit("a", NOW)
