"""kstatus-compatible conditions for a phase (the contract's table), pure.

So ``kubectl wait --for=condition=Ready``, Flux and Argo CD understand an action.
A condition whose status does not change keeps its lastTransitionTime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.timeutil import format_time

Table = dict[str, str]  # condition type -> status; absent types are omitted

ACTIVE: Table = {"Ready": "Unknown", "Reconciling": "True", "Succeeded": "Unknown"}
TABLE: Mapping[Phase, Table] = {
    Phase.SCHEDULED: ACTIVE,
    Phase.QUEUED: ACTIVE,
    Phase.STARTING: ACTIVE,
    Phase.RUNNING: ACTIVE,
    Phase.PAUSED: {"Ready": "False", "Succeeded": "Unknown"},
    Phase.SUCCEEDED: {"Ready": "True", "Succeeded": "True"},
    Phase.FAILED: {"Ready": "False", "Stalled": "True", "Succeeded": "False"},
    Phase.ABORTED: {"Ready": "False", "Stalled": "True", "Succeeded": "False"},
    Phase.TIMEOUT: {"Ready": "False", "Stalled": "True", "Succeeded": "False"},
}
PHASE_REASON: Mapping[Phase, str] = {
    Phase.SCHEDULED: "Scheduled",
    Phase.QUEUED: "Queued",
    Phase.STARTING: "Starting",
    Phase.RUNNING: "Running",
    Phase.PAUSED: "Paused",
    Phase.SUCCEEDED: "Succeeded",
    Phase.FAILED: "Failed",
    Phase.ABORTED: "Aborted",
    Phase.TIMEOUT: "TimedOut",
}


def conditions_for(
    phase: Phase,
    *,
    reason: str | None = None,
    message: str = "",
    now: datetime,
    observed_generation: int | None = None,
    previous: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous}
    why = reason or PHASE_REASON[phase]
    result = []
    for kind, status in TABLE[phase].items():
        old = before.get(kind)
        changed = old is None or old.get("status") != status
        condition: dict[str, Any] = {
            "type": kind,
            "status": status,
            "reason": why,
            "message": message,
            "lastTransitionTime": format_time(now)
            if changed or old is None
            else old.get("lastTransitionTime", format_time(now)),
        }
        if observed_generation is not None:
            condition["observedGeneration"] = observed_generation
        result.append(condition)
    return result


def matches(phase: Phase, conditions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``conditions`` already say what the table says for ``phase``."""
    return {c.get("type"): c.get("status") for c in conditions} == TABLE[phase]
