"""core/v1 Events about an action, as ``kubectl describe`` shows them.

core/v1 Events (not events.k8s.io) because every supported server and every kubectl
reads them. The name must be unique per event; to keep the builder pure, its suffix is
derived from the action's uid, the time, the reason and the message unless the caller
passes one. Messages are cut to 1024 characters, the limit kubectl and most event sinks
keep.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from asyncaction.api.names import ACTION_KIND, API_VERSION, MANAGED_BY
from asyncaction.manifests.naming import MAX_NAME_LENGTH, short_hash
from asyncaction.manifests.ownership import action_name, action_namespace, action_uid
from asyncaction.timeutil import format_time

MAX_MESSAGE_LENGTH = 1024
EVENT_TYPES = frozenset({"Normal", "Warning"})
_ELLIPSIS = "..."


def truncate_message(message: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """``message`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    if len(message) <= limit:
        return message
    return message[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def event_suffix(uid: str, now: datetime, reason: str, message: str) -> str:
    """A stable suffix for an event's name: the same inputs always give the same name."""
    digest = short_hash(f"{uid}\n{now.isoformat()}\n{reason}\n{message}")
    return f"{int(now.timestamp() * 1_000_000):x}{digest}"


def build_event(
    action: Mapping[str, Any],
    *,
    type: str,
    reason: str,
    message: str,
    now: datetime,
    component: str = MANAGED_BY,
    suffix: str | None = None,
) -> dict[str, Any]:
    """A core/v1 Event about ``action`` that happened at ``now`` (a timezone-aware time)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"event type must be one of {sorted(EVENT_TYPES)}, got {type!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    metadata = action.get("metadata") or {}
    name, namespace, uid = action_name(action), action_namespace(action), action_uid(action)
    suffix = suffix or event_suffix(uid, now, reason, message)
    prefix_room = MAX_NAME_LENGTH - len(suffix) - 1
    timestamp = format_time(now)
    involved: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": ACTION_KIND,
        "name": name,
        "namespace": namespace,
        "uid": uid,
    }
    if metadata.get("resourceVersion"):
        involved["resourceVersion"] = metadata["resourceVersion"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name[:prefix_room].rstrip('-.')}.{suffix}", "namespace": namespace},
        "involvedObject": involved,
        "type": type,
        "reason": reason,
        "message": truncate_message(message),
        "firstTimestamp": timestamp,
        "lastTimestamp": timestamp,
        "count": 1,
        "source": {"component": component},
        "reportingComponent": component,
    }
