"""Who starts next within one queue: the single place that decides admission (pure).

Higher priority first, then older, then by uid for a total order; never more than the
queue's free slots, nothing while the queue is suspended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Candidate:
    uid: str
    priority: int
    created_at: datetime
    queue: str


def select_admissions(
    candidates: Iterable[Candidate],
    *,
    active_count: int,
    max_concurrent: int | None,
    queue_suspended: bool = False,
) -> list[str]:
    if queue_suspended:
        return []
    ordered = sorted(candidates, key=lambda c: (-c.priority, c.created_at, c.uid))
    if max_concurrent is None:
        return [c.uid for c in ordered]
    free = max(0, max_concurrent - active_count)
    return [c.uid for c in ordered[:free]]
