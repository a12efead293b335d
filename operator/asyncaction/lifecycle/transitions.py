"""The allowed phase graph. Terminal phases have no way out (contract, section 1).

The operator's reconcile and the job hook both check here before writing a phase.
Staying in a phase is not a transition.
"""

from __future__ import annotations

from collections.abc import Mapping

from asyncaction.api.phases import Phase

P = Phase
_END = frozenset({P.SUCCEEDED, P.FAILED, P.ABORTED, P.TIMEOUT})

ALLOWED: Mapping[Phase | None, frozenset[Phase]] = {
    # STARTING: a new action that finds a free slot starts in one status write.
    None: frozenset({P.SCHEDULED, P.QUEUED, P.STARTING, P.PAUSED, P.FAILED, P.ABORTED}),
    # TIMEOUT: a retried or resumed action waits for startAt while its deadline runs.
    P.SCHEDULED: frozenset({P.QUEUED, P.PAUSED, P.FAILED, P.ABORTED, P.TIMEOUT}),
    P.QUEUED: frozenset({P.STARTING, P.PAUSED, P.FAILED, P.ABORTED, P.TIMEOUT}),
    P.STARTING: frozenset({P.RUNNING, P.QUEUED, P.PAUSED}) | _END,
    P.RUNNING: frozenset({P.QUEUED, P.PAUSED}) | _END,
    P.PAUSED: frozenset({P.QUEUED, P.SCHEDULED, P.FAILED, P.ABORTED}),
    P.SUCCEEDED: frozenset(),
    P.FAILED: frozenset(),
    P.ABORTED: frozenset(),
    P.TIMEOUT: frozenset(),
}


def can_transition(src: Phase | None, dst: Phase) -> bool:
    return dst in ALLOWED[src]
