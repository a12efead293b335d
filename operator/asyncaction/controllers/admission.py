"""Admission per queue: a priority heap of waiting actions and the queue's free slots.

The in-memory side of ``asyncaction.lifecycle.admission``: the heap is keyed by its
``admission_order`` (higher priority, then older, then uid), the one definition of the
order. Each queue keeps:

- ``active``: actions whose cached status is STARTING or RUNNING, and actions whose
  attempt ended but whose Pods are still there (``Member.lingering``): a slot is held
  until the attempt's Pods are gone, in the queue the attempt was admitted to;
- ``granted``: actions given a slot whose STARTING status is not in the cache yet, so
  two actions racing for the last slot cannot both win;
- ``waiting``: a heap of eligible QUEUED actions with lazy deletion (an entry whose uid
  left ``members`` is skipped when popped).

``fill`` pops the heap while slots are free and returns the uids it granted; the caller
wakes exactly those actions (their reconcile then finds the grant). A freed slot thus
costs O(log n) and wakes one action, however many wait. Phase counts per queue are
kept incrementally for the ActionQueue status.

Every record is keyed by the action's uid, never its name: an action deleted and
re-created under the same name is another member. ``retain`` drops the members whose
uid the cache no longer has (a deletion missed in a watch gap). A queue with no
ActionQueue object gets the operator's default limit (``ASYNCACTION_DEFAULT_MAX_CONCURRENT``,
0 = unlimited), and its state is dropped as soon as no action is in it, so the queue
names ever seen do not keep memory.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from asyncaction.api.phases import ACTIVE_PHASES, Phase
from asyncaction.lifecycle.admission import AdmissionOrder, admission_order, free_slots

QueueKey = tuple[str, str]  # (namespace, queue name)
Entry = AdmissionOrder


@dataclass(frozen=True, slots=True)
class Member:
    """What admission knows of one action: a few fields, not the object (no instance
    dict: there is one per action)."""

    uid: str
    queue: QueueKey
    priority: int
    created_at: datetime
    phase: Phase | None
    eligible: bool = False  # QUEUED, not held, its retry backoff and startAt passed
    # Not STARTING/RUNNING any more, but Pods of its attempt still run or terminate.
    lingering: bool = False

    @property
    def holds_slot(self) -> bool:
        return self.phase in ACTIVE_PHASES or self.lingering


@dataclass(frozen=True)
class QueueLimits:
    max_concurrent: int | None
    suspended: bool = False


@dataclass
class QueueState:
    limits: QueueLimits
    active: set[str] = field(default_factory=set)
    granted: set[str] = field(default_factory=set)
    waiting: dict[str, Entry] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)  # uid -> when it began to wait
    heap: list[Entry] = field(default_factory=list)
    phases: Counter[str] = field(default_factory=Counter)

    def free(self) -> int | None:
        if self.limits.max_concurrent is None:
            return None  # unlimited: no need to count 100,000 running uids
        return free_slots(self.limits.max_concurrent, len(self.active | self.granted))

    def empty(self) -> bool:
        return not (self.active or self.granted or self.waiting or self.phases)


class Admissions:
    def __init__(
        self, default_max_concurrent: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self._default = QueueLimits(default_max_concurrent or None)
        self._clock = clock
        # told when a queue no action is in lets go of its state (its metrics go too)
        self.on_released: Callable[[QueueKey], None] = lambda key: None
        self._limits: dict[QueueKey, QueueLimits] = {}
        self._queues: dict[QueueKey, QueueState] = {}
        self._members: dict[str, Member] = {}
        # No grant before every cache has synced: a partial view could miss a RUNNING
        # action of the queue and over-admit. The manager opens admission after sync.
        self.open = False

    def _state(self, key: QueueKey) -> QueueState:
        state = self._queues.get(key)
        if state is None:
            state = self._queues[key] = QueueState(self._limits.get(key, self._default))
        return state

    # -- observations --------------------------------------------------------------------

    def observe(self, member: Member) -> set[QueueKey]:
        """Record an action's (new) summary; the queues whose counts changed."""
        old = self._members.get(member.uid)
        if old is not None and old.holds_slot and member.holds_slot:
            # The attempt counts against the queue it was admitted to until it ends,
            # whatever an edit of spec.queue says meanwhile.
            member = replace(member, queue=old.queue)
        changed: set[QueueKey] = set()
        if (
            old is None
            or old.queue != member.queue
            or old.phase != member.phase
            or old.holds_slot != member.holds_slot
        ):
            if old is not None:
                self._drop(old, release=False)  # not while it moves within one queue
                changed.add(old.queue)
            state = self._state(member.queue)
            if member.phase is not None:
                state.phases[member.phase.value] += 1
            if member.holds_slot:
                state.active.add(member.uid)
                state.granted.discard(member.uid)
            changed.add(member.queue)
            if old is not None and old.queue != member.queue:
                self._release_if_empty(old.queue)
        self._members[member.uid] = member
        if member.eligible:
            self._push(member)
        else:
            self.withdraw(member.uid)
        return changed

    def _push(self, member: Member) -> None:
        state = self._state(member.queue)
        uid = member.uid
        if uid in state.granted or uid in state.active:
            return
        entry = admission_order(member.priority, member.created_at, uid)
        if state.waiting.get(uid) != entry:
            state.waiting[uid] = entry
            state.since.setdefault(uid, self._clock())
            heapq.heappush(state.heap, entry)

    def _drop(self, member: Member, *, release: bool = True) -> None:
        state = self._state(member.queue)
        if member.phase is not None:
            state.phases[member.phase.value] -= 1
            if state.phases[member.phase.value] <= 0:
                del state.phases[member.phase.value]
        state.active.discard(member.uid)
        state.granted.discard(member.uid)
        state.waiting.pop(member.uid, None)
        state.since.pop(member.uid, None)
        if release:
            self._release_if_empty(member.queue)

    def _release_if_empty(self, key: QueueKey) -> None:
        """Free the memory of a queue no action is in (its limits stay while its
        ActionQueue exists; they are kept apart in ``_limits``)."""
        state = self._queues.get(key)
        if state is not None and state.empty():
            del self._queues[key]
            self.on_released(key)

    def forget(self, uid: str) -> QueueKey | None:
        """The action is gone; its queue (whose slot may have been freed)."""
        member = self._members.pop(uid, None)
        if member is None:
            return None
        self._drop(member)
        return member.queue

    def retain(self, uids: Container[str], among: Iterable[str] | None = None) -> set[QueueKey]:
        """Forget every member (of ``among``; default: all) whose uid is not in ``uids``
        (the cache's, after a relist or at a resync): a deletion the watch never
        delivered frees its slot. The queues whose counts changed."""
        candidates = list(self._members) if among is None else among
        changed: set[QueueKey] = set()
        for uid in [uid for uid in candidates if uid in self._members and uid not in uids]:
            queue = self.forget(uid)
            if queue is not None:
                changed.add(queue)
        return changed

    def member_uids(self) -> list[str]:
        """Every member's uid now (a copy: a caller may yield while it walks them)."""
        return list(self._members)

    def set_limits(self, key: QueueKey, limits: QueueLimits | None) -> None:
        """An ActionQueue's spec (None: it was deleted, the default applies again). A
        spec without ``maxConcurrent`` takes the operator's default, as the CRD says
        (it was no limit at all: an ActionQueue made to set only ``retention`` or
        ``suspend`` let every waiting action start at once)."""
        if limits is not None and limits.max_concurrent is None:
            limits = QueueLimits(self._default.max_concurrent, limits.suspended)
        if limits is None:
            self._limits.pop(key, None)
        else:
            self._limits[key] = limits
        state = self._queues.get(key)
        if state is not None:
            state.limits = limits or self._default
            self._revoke_excess(state)

    def _revoke_excess(self, state: QueueState) -> None:
        """Grants the new limits no longer allow go back to the heap, the last in
        admission order first. A grant waits for a worker to write STARTING (after a
        resume, 1,000 granted at a turn): suspending the queue again or lowering its
        limit meanwhile still started every one of them."""
        if not state.granted:
            return
        if state.limits.suspended:
            keep = 0
        elif state.limits.max_concurrent is None:
            return
        else:
            keep = max(0, state.limits.max_concurrent - len(state.active - state.granted))
        members = [self._members[uid] for uid in state.granted if uid in self._members]
        ordered = sorted(members, key=lambda m: admission_order(m.priority, m.created_at, m.uid))
        for member in ordered[keep:]:
            state.granted.discard(member.uid)
            self._push(member)

    def tracked_queues(self) -> int:
        """How many queues hold state now (a figure for tests and metrics)."""
        return len(self._queues)

    # -- decisions -----------------------------------------------------------------------

    def request(self, uid: str) -> bool:
        """An eligible QUEUED action asks for a slot: True when it holds a grant.

        An action that became eligible by the clock (its ``startAt`` or retry time
        passed) joins the heap here; others joined when the watch delivered them.
        """
        member = self._members.get(uid)
        if member is None:
            return False
        state = self._state(member.queue)
        if uid in state.granted or (uid in state.active and member.phase in ACTIVE_PHASES):
            return True
        self._push(member)  # a lingering attempt's Pods still hold its slot: not yet
        return False

    def withdraw(self, uid: str) -> None:
        """The action is no longer eligible (suspended, not yet due): leave the heap."""
        member = self._members.get(uid)
        state = self._queues.get(member.queue) if member is not None else None
        if state is not None:
            state.waiting.pop(uid, None)
            state.since.pop(uid, None)
            state.granted.discard(uid)

    def release(self, uid: str) -> None:
        """A grant that was not used (its status write lost a race): give it back."""
        member = self._members.get(uid)
        state = self._queues.get(member.queue) if member is not None else None
        if state is not None:
            state.granted.discard(uid)

    def fill(self, key: QueueKey, most: int | None = None) -> list[str]:
        """Grant free slots of ``key`` to the best waiting actions, ``most`` of them at a
        time (None: all); the uids granted."""
        state = self._queues.get(key)
        if state is None or state.limits.suspended or not self.open:
            return []
        granted: list[str] = []
        free = state.free()  # counted once: each grant below takes one slot
        while state.heap and (free is None or free > 0) and len(granted) != most:
            entry = heapq.heappop(state.heap)
            uid = entry[2]
            if state.waiting.get(uid) != entry:
                continue  # withdrawn or re-pushed: a stale heap entry
            del state.waiting[uid]
            state.since.pop(uid, None)
            if free is not None and uid not in state.active and uid not in state.granted:
                free -= 1
            state.granted.add(uid)
            granted.append(uid)
        if len(state.heap) > 64 and len(state.heap) > 2 * len(state.waiting):
            state.heap = list(state.waiting.values())  # drop stale entries now and then
            heapq.heapify(state.heap)
        return granted

    def queues(self) -> list[QueueKey]:
        return list(self._queues)

    def queue_of(self, uid: str) -> QueueKey | None:
        member = self._members.get(uid)
        return member.queue if member else None

    # -- status of a queue ---------------------------------------------------------------

    def phase_counts(self, key: QueueKey) -> dict[str, int]:
        state = self._queues.get(key)
        return dict(state.phases) if state else {}

    def active_count(self, key: QueueKey) -> int:
        state = self._queues.get(key)
        return len(state.active | state.granted) if state else 0

    def limits_of(self, key: QueueKey) -> QueueLimits:
        """The limits admission applies to ``key`` now (its ActionQueue's, or the default)."""
        state = self._queues.get(key)
        return state.limits if state else self._limits.get(key, self._default)

    def oldest_waits(self) -> dict[QueueKey, float]:
        """Seconds the longest-waiting eligible action of each queue that admits (not
        suspended) has waited: a queue whose slots are all held by stuck actions admits
        nothing, so a wait measured at admission never shows it."""
        now = self._clock()
        return {
            key: now - min(state.since.values())
            for key, state in self._queues.items()
            if state.since and not state.limits.suspended
        }

    def waiting_count(self, key: QueueKey) -> int:
        state = self._queues.get(key)
        return len(state.waiting) if state else 0
