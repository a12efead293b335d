"""Who starts next within one queue: the single place that orders admission (pure).

Higher priority first, then older, then by uid for a total order; never more than the
queue's free slots, nothing while the queue is suspended.

``admission_order`` is the order itself: ``controllers.admission`` keys its per-queue
heap with it, and ``select_admissions`` (a whole queue at once, for tests and tools)
sorts by it, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# (-priority, creation time as a POSIX timestamp, uid): smaller starts first.
AdmissionOrder = tuple[int, float, str]


def admission_order(priority: int, created_at: datetime, uid: str) -> AdmissionOrder:
    return (-priority, created_at.timestamp(), uid)


@dataclass(frozen=True)
class Candidate:
    uid: str
    priority: int
    created_at: datetime
    queue: str

    @property
    def order(self) -> AdmissionOrder:
        return admission_order(self.priority, self.created_at, self.uid)


def free_slots(max_concurrent: int | None, active_count: int) -> int | None:
    """Slots a queue may still grant (None: unlimited)."""
    return None if max_concurrent is None else max(0, max_concurrent - active_count)


def select_admissions(
    candidates: Iterable[Candidate],
    *,
    active_count: int,
    max_concurrent: int | None,
    queue_suspended: bool = False,
) -> list[str]:
    if queue_suspended:
        return []
    ordered = sorted(candidates, key=lambda c: c.order)
    free = free_slots(max_concurrent, active_count)
    return [c.uid for c in (ordered if free is None else ordered[:free])]
