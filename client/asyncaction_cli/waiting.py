"""Why an action waits, as the CLI shows it (pure).

The operator writes the reason into the action (``status.error`` while its Pod cannot
start, the ``Ready`` condition while its queue holds it); the CLI reads it back for the
Reason column, ``describe``, ``wait`` and ``watch``. The position in the queue is not
in the action (it would change on every admission): ``queue_position`` computes it from
a listing, by the operator's own rule (``asyncaction.lifecycle.admission``: higher
priority first, then older, then by uid).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from asyncaction_client.model import effective_queue

# The Ready reasons that only repeat the phase: no explanation in them.
PLAIN_REASONS = {"Scheduled", "Queued", "Starting", "Running", "Resumed", "Started"}
WAITING_PHASES = {"SCHEDULED", "QUEUED", "STARTING"}


def waiting_reason(action: Mapping[str, Any]) -> tuple[str, str] | None:
    """(reason, message) of what holds the action, or of its failure; None when nothing."""
    status = action.get("status") or {}
    error = status.get("error") or {}
    if error.get("reason"):
        return str(error["reason"]), str(error.get("message") or "")
    if status.get("phase") not in WAITING_PHASES:
        return None
    for condition in status.get("conditions") or []:
        reason = condition.get("reason")
        if condition.get("type") == "Ready" and reason and reason not in PLAIN_REASONS:
            return str(reason), str(condition.get("message") or "")
    return None


def _order(action: Mapping[str, Any]) -> tuple[int, str, str]:
    meta = action.get("metadata") or {}
    priority = int((action.get("spec") or {}).get("priority") or 0)
    return (-priority, str(meta.get("creationTimestamp") or ""), str(meta.get("uid") or ""))


def queue_position(
    action: Mapping[str, Any], listed: Iterable[Mapping[str, Any]]
) -> tuple[int, int] | None:
    """(position, waiting) of a QUEUED action among the QUEUED actions of its queue that
    may start (not suspended); None when it does not wait for a slot."""
    if (action.get("status") or {}).get("phase") != "QUEUED":
        return None
    namespace = (action.get("metadata") or {}).get("namespace")
    queue = effective_queue(action)
    line = sorted(
        (
            other
            for other in listed
            if (other.get("status") or {}).get("phase") == "QUEUED"
            and (other.get("metadata") or {}).get("namespace") == namespace
            and effective_queue(other) == queue
            and not (other.get("spec") or {}).get("suspend")
        ),
        key=_order,
    )
    uids = [(o.get("metadata") or {}).get("uid") for o in line]
    uid = (action.get("metadata") or {}).get("uid")
    if uid not in uids:
        return None
    return uids.index(uid) + 1, len(uids)


class ReasonChanges:
    """Tells, once per change, why each action waits (for ``wait`` and ``watch``)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[str, str] | None] = {}

    def line(self, action: Mapping[str, Any]) -> str | None:
        meta = action.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        reason = waiting_reason(action)
        if self._last.get(key) == reason:
            return None
        first = key not in self._last
        self._last[key] = reason
        if reason is None:
            return None if first else f"{key[1]}: no longer waiting"
        phase = (action.get("status") or {}).get("phase") or "PENDING"
        return f"{key[1]} {phase}: {reason[0]}" + (f": {reason[1]}" if reason[1] else "")
