"""What the CLI says about a waiting action: reason, position in its queue, changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from asyncaction_cli import render
from asyncaction_cli.waiting import ReasonChanges, queue_position, waiting_reason

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FULL = "queue ns/gpu is full: 2 of 2 actions are starting or running"


def action(
    name: str, phase: str | None, *, created: str = "11:58:00", priority: int = 0, **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": f"2026-11-23T{created}Z",
        },
        "spec": {"queue": "gpu", "priority": priority},
        "status": {"phase": phase, "queue": "gpu", **status} if phase else {},
    }


def ready(reason: str, message: str) -> list[dict[str, str]]:
    return [{"type": "Ready", "status": "Unknown", "reason": reason, "message": message}]


def test_the_reason_comes_from_the_error_or_the_ready_condition() -> None:
    pulling = action("a", "STARTING", error={"reason": "ImagePullBackOff", "message": "back-off"})
    assert waiting_reason(pulling) == ("ImagePullBackOff", "back-off")
    full = action("b", "QUEUED", conditions=ready("QueueFull", FULL))
    assert waiting_reason(full) == ("QueueFull", FULL)
    assert waiting_reason(action("c", "QUEUED", conditions=ready("Queued", "waiting"))) is None
    assert waiting_reason(action("d", "RUNNING", conditions=ready("Custom", "x"))) is None
    row = render.actions_table([full], NOW, wide=False, namespaces=False).splitlines()[1]
    assert row.split()[-1] == "QueueFull"


def test_position_follows_the_operators_order() -> None:
    old = action("old", "QUEUED", created="11:00:00")
    urgent = action("urgent", "QUEUED", created="11:59:00", priority=5)
    new = action("new", "QUEUED", created="11:30:00")
    held = action("held", "QUEUED", created="10:00:00")
    held["spec"]["suspend"] = True
    elsewhere = action("elsewhere", "QUEUED", created="10:00:00")
    elsewhere["status"]["queue"] = "cpu"
    running = action("running", "RUNNING", created="09:00:00")
    listed = [old, urgent, new, held, elsewhere, running]
    assert queue_position(urgent, listed) == (1, 3)
    assert queue_position(old, listed) == (2, 3)
    assert queue_position(new, listed) == (3, 3)
    assert queue_position(running, listed) is None
    text = render.describe(new, NOW, position=(3, 3))
    assert "Position:     3 of 3 waiting in its queue\n" in text


def test_describe_says_why_it_waits() -> None:
    text = render.describe(action("b", "QUEUED", conditions=ready("QueueFull", FULL)), NOW)
    assert f"Waiting:      QueueFull: {FULL}\n" in text


def test_changes_are_told_once() -> None:
    changes = ReasonChanges()
    starting = action("a", "STARTING")
    pulling = action("a", "STARTING", error={"reason": "ErrImagePull", "message": "refused"})
    backoff = action("a", "STARTING", error={"reason": "ImagePullBackOff", "message": "back-off"})
    lines = [changes.line(a) for a in (starting, pulling, pulling, backoff, action("a", "RUNNING"))]
    assert lines == [
        None,
        "a STARTING: ErrImagePull: refused",
        None,
        "a STARTING: ImagePullBackOff: back-off",
        "a: no longer waiting",
    ]
