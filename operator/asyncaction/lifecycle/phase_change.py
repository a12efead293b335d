"""A phase change as a decision (pure): the status it writes (phase, message, kstatus
conditions, the error of a warning phase, the end time of a terminal one) and the one
Event people ask about, if any. Every phase change ``reconcile`` makes goes through
``phase_change``, which never leaves the graph of ``transitions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.conditions import PHASE_REASON, conditions_for
from asyncaction.lifecycle.effects import Decision, Effect, Emit
from asyncaction.lifecycle.transitions import can_transition
from asyncaction.lifecycle.views import ActionView
from asyncaction.timeutil import format_time

P = Phase
WARNING_PHASES = {P.FAILED, P.TIMEOUT, P.ABORTED}
# One Event per transition people ask about (queued, started, retried, paused, resumed,
# finished); SCHEDULED and RUNNING (the job's own report) stay quiet: at most a handful of
# Events per attempt, never one per reconcile.
QUIET_PHASES = {P.SCHEDULED, P.RUNNING}
NOTABLE_REASONS = {"Resumed"}


def phase_change(
    view: ActionView,
    phase: Phase,
    now: datetime,
    *,
    message: str,
    event_reason: str | None = None,
    error_reason: str | None = None,
    extra: dict[str, Any] | None = None,
    effects: tuple[Effect, ...] = (),
    requeue_after: float | None = None,
) -> Decision:
    if not can_transition(view.phase, phase):
        # Never crash a reconcile on a missing edge of the graph: stay, look again later.
        return Decision(requeue_after=requeue_after)
    status: dict[str, Any] = {
        "phase": phase.value,
        "message": message,
        "observedGeneration": view.generation,
        "conditions": conditions_for(
            phase,
            reason=error_reason,
            message=message,
            now=now,
            observed_generation=view.generation,
            previous=view.conditions,
        ),
        "error": {"reason": error_reason, "message": message}
        if phase in WARNING_PHASES and error_reason
        else None,
    }
    if phase.is_terminal:
        status["finishedAt"] = format_time(now)
        status["nextAttemptAt"] = None
    status.update(extra or {})
    kind: Literal["Normal", "Warning"] = "Warning" if phase in WARNING_PHASES else "Normal"
    reason = event_reason or PHASE_REASON[phase]
    if reason == "Retrying":
        kind = "Warning"
    if kind == "Normal" and phase in QUIET_PHASES and reason not in NOTABLE_REASONS:
        return Decision(status, effects, requeue_after)  # the status says it: no Event
    event = Emit(kind, reason, message)
    return Decision(status, (*effects, event), requeue_after)
