"""The phases of an AsyncAction and how they group (section 1 of the contract)."""

from enum import StrEnum


class Phase(StrEnum):
    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    TIMEOUT = "TIMEOUT"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_PHASES


TERMINAL_PHASES: frozenset[Phase] = frozenset(
    {Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.TIMEOUT}
)
# Phases that hold a slot of their queue: a child Job exists or is being created.
ACTIVE_PHASES: frozenset[Phase] = frozenset({Phase.STARTING, Phase.RUNNING})
# Phases that wait for admission.
WAITING_PHASES: frozenset[Phase] = frozenset({Phase.SCHEDULED, Phase.QUEUED})
