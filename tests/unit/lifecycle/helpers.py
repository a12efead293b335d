from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import (
    ActionView,
    Decision,
    Effect,
    Emit,
    JobState,
    JobView,
    LifecycleSettings,
)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SETTINGS = LifecycleSettings(backoff_base_seconds=10, backoff_max_seconds=60, poll_seconds=30)


def view(**changes: Any) -> ActionView:
    base = ActionView(
        name="act",
        namespace="ns",
        uid="abcdef-123",
        generation=1,
        created_at=NOW - timedelta(minutes=1),
        has_handler=True,
        status_queue="default",  # status already records the (default) queue
    )
    return replace(base, **changes)


def running(**changes: Any) -> ActionView:
    defaults: dict[str, Any] = {
        "phase": Phase.RUNNING,
        "attempts": 1,
        "job_name": "act-abcde-1",
        "started_at": NOW - timedelta(seconds=5),
    }
    return view(**{**defaults, **changes})


def job(state: JobState, **changes: Any) -> JobView:
    return JobView(name="act-abcde-1", state=state, **changes)


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def phase_of(decision: Decision) -> str | None:
    return decision.status.get("phase")


def effect_types(decision: Decision) -> list[str]:
    return [type(e).__name__ for e in decision.effects]


def as_emit(effect: Effect) -> Emit:
    """The effect as the Event it must be: a test reading an Event's fields fails here,
    naming the effect, when the decision holds another effect in that place."""
    assert isinstance(effect, Emit), effect
    return effect
