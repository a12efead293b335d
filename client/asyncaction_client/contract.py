"""The names of the public contract the client speaks (API group, kind, labels, phases)
and the timestamps Kubernetes writes.

The client keeps its own copy rather than importing the operator's ``asyncaction``
package: a client-only install (``pip install ./client``) carries neither the operator
nor kopf, boto3 or pydantic. ``tests/unit/client/test_contract.py`` fails when this copy
and the operator's ``asyncaction.api`` drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

GROUP = "asyncaction.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
ACTION_KIND = "AsyncAction"
ACTION_PLURAL = "asyncactions"
LABEL_ACTION_UID = f"{GROUP}/action-uid"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_TASK_CHUNK = f"{GROUP}/task-chunk"


class Phase(StrEnum):
    """The phases of an AsyncAction (section 1 of the contract)."""

    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    TIMEOUT = "TIMEOUT"


TERMINAL_PHASES: frozenset[Phase] = frozenset(
    {Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.TIMEOUT}
)


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as Kubernetes writes it ('2026-11-23T03:00:00Z'), or None."""
    if not value or not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
