"""What reconcile asks the operator to do, after the status patch is written.

Every effect must be idempotent: the operator may die after any of them and run the
same decision again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class EnsureSecret:
    """The per-action Secret holds the key of ``attempt`` (``asyncaction.keys``).

    Created, or updated when a new attempt starts, before that attempt's Job exists.
    """

    attempt: int


@dataclass(frozen=True)
class CreateJob:
    attempt: int
    job_name: str


@dataclass(frozen=True)
class DeleteJob:
    job_name: str


@dataclass(frozen=True)
class RemoveChildren:
    """TTL expired: delete the action's Jobs and Secret, keep the action."""


@dataclass(frozen=True)
class DeleteAction:
    """Retention ``Delete``: the TTL work is done (children removed, record archived),
    the action itself goes."""


@dataclass(frozen=True)
class Emit:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Effect = EnsureSecret | CreateJob | DeleteJob | RemoveChildren | DeleteAction | Emit


@dataclass(frozen=True)
class Decision:
    """``status`` is written before the effects run; ``after`` only once they all succeeded
    (markers that something was done, so a crash in between repeats the work)."""

    status: dict[str, Any] = field(default_factory=dict)
    effects: tuple[Effect, ...] = ()
    requeue_after: float | None = None
    after: dict[str, Any] = field(default_factory=dict)
