"""Admission's invariants, checked against a model without a heap.

Hypothesis drives ``Admissions`` through random observations, requests, withdrawals,
releases, deletions, limit changes and fills, and compares every answer with a plain
model: the waiting actions as a dict, the best one found by sorting, the counts computed
from scratch. Through the public methods only, so a rewrite of the heap keeps the tests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from asyncaction.api.phases import ACTIVE_PHASES, Phase
from asyncaction.controllers.admission import Admissions, Member, QueueLimits
from asyncaction.lifecycle.admission import admission_order

T0 = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
QUEUES = [("ns", "a"), ("ns", "b"), ("other", "a")]
UIDS = [f"u{n}" for n in range(6)]
PHASES = [None, Phase.QUEUED, Phase.STARTING, Phase.RUNNING, Phase.PAUSED, Phase.SUCCEEDED]

members = st.builds(
    Member,
    uid=st.sampled_from(UIDS),
    queue=st.sampled_from(QUEUES),
    priority=st.integers(0, 2),
    created_at=st.integers(0, 3).map(lambda s: T0 + timedelta(seconds=s)),
    phase=st.sampled_from(PHASES),
    eligible=st.booleans(),
    lingering=st.booleans(),
)
limits = st.one_of(
    st.none(),
    st.builds(
        QueueLimits, max_concurrent=st.one_of(st.none(), st.integers(0, 3)), suspended=st.booleans()
    ),
)


def entry(m: Member) -> object:
    return admission_order(m.priority, m.created_at, m.uid)


def holds(m: Member) -> bool:
    """A slot is held while the attempt runs, or while its Pods linger after it."""
    return m.phase in ACTIVE_PHASES or m.lingering


@dataclass
class Model:
    default: QueueLimits
    open: bool = False
    members: dict[str, Member] = field(default_factory=dict)
    limits: dict[tuple[str, str], QueueLimits] = field(default_factory=dict)
    waiting: dict[str, Any] = field(default_factory=dict)
    granted: set[str] = field(default_factory=set)

    def active(self, queue: tuple[str, str]) -> set[str]:
        return {u for u, m in self.members.items() if m.queue == queue and holds(m)}

    def holding(self, queue: tuple[str, str]) -> set[str]:
        mine = {u for u in self.granted if self.members[u].queue == queue}
        return self.active(queue) | mine

    def observe(self, m: Member) -> None:
        old = self.members.get(m.uid)
        if old is not None and holds(old) and holds(m):
            m = replace(m, queue=old.queue)  # an attempt counts where it was admitted
        if old is not None and (
            old.queue != m.queue or old.phase != m.phase or holds(old) != holds(m)
        ):
            self.waiting.pop(m.uid, None)
            self.granted.discard(m.uid)
        if holds(m):
            self.granted.discard(m.uid)
        self.members[m.uid] = m
        if m.eligible:
            self.push(m)
        else:
            self.waiting.pop(m.uid, None)
            self.granted.discard(m.uid)

    def push(self, m: Member) -> None:
        if m.uid not in self.granted and m.uid not in self.active(m.queue):
            self.waiting[m.uid] = entry(m)

    def fill(self, queue: tuple[str, str]) -> list[str]:
        lim = self.limits.get(queue, self.default)
        if lim.suspended or not self.open:
            return []
        out: list[str] = []
        while True:
            candidates = sorted(
                e for u, e in self.waiting.items() if self.members[u].queue == queue
            )
            if not candidates:
                return out
            if (
                lim.max_concurrent is not None
                and lim.max_concurrent - len(self.holding(queue)) <= 0
            ):
                return out
            uid = candidates[0][2]
            del self.waiting[uid]
            self.granted.add(uid)
            out.append(uid)


# derandomize: the same examples every run, so a mutation score does not vary by luck.
@settings(max_examples=150, stateful_step_count=40, deadline=None, derandomize=True)
class AdmissionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.real = Admissions(default_max_concurrent=2)
        self.model = Model(QueueLimits(2))

    @rule(m=members)
    def observe(self, m: Member) -> None:
        self.real.observe(m)
        self.model.observe(m)

    @rule(uid=st.sampled_from(UIDS))
    def request(self, uid: str) -> None:
        m = self.model.members.get(uid)
        expected = False
        if m is not None:
            # a lingering attempt's Pods hold its slot, but that is no grant for a new one
            running = uid in self.model.active(m.queue) and m.phase in ACTIVE_PHASES
            expected = uid in self.model.granted or running
            if not expected:
                self.model.push(m)
        assert self.real.request(uid) is expected

    @rule(uid=st.sampled_from(UIDS))
    def withdraw(self, uid: str) -> None:
        self.real.withdraw(uid)
        if uid in self.model.members:
            self.model.waiting.pop(uid, None)
            self.model.granted.discard(uid)

    @rule(uid=st.sampled_from(UIDS))
    def release(self, uid: str) -> None:
        self.real.release(uid)
        self.model.granted.discard(uid)

    @rule(uid=st.sampled_from(UIDS))
    def forget(self, uid: str) -> None:
        gone = self.model.members.pop(uid, None)
        self.model.waiting.pop(uid, None)
        self.model.granted.discard(uid)
        assert self.real.forget(uid) == (gone.queue if gone else None)

    @rule(keep=st.sets(st.sampled_from(UIDS)))
    def retain(self, keep: set[str]) -> None:
        gone = [u for u in self.model.members if u not in keep]
        queues = {self.model.members[u].queue for u in gone}
        for uid in gone:
            self.model.members.pop(uid)
            self.model.waiting.pop(uid, None)
            self.model.granted.discard(uid)
        assert self.real.retain(keep) == queues

    @rule(queue=st.sampled_from(QUEUES), lim=limits)
    def set_limits(self, queue: tuple[str, str], lim: QueueLimits | None) -> None:
        self.real.set_limits(queue, lim)
        if lim is None:
            self.model.limits.pop(queue, None)
        else:
            self.model.limits[queue] = lim

    @precondition(lambda self: not self.model.open)
    @rule()
    def open_admission(self) -> None:
        self.real.open = self.model.open = True

    @rule(queue=st.sampled_from(QUEUES))
    def fill(self, queue: tuple[str, str]) -> None:
        assert self.real.fill(queue) == self.model.fill(queue)

    @invariant()
    def counts_match_a_recount(self) -> None:
        for queue in QUEUES:
            here = [m for m in self.model.members.values() if m.queue == queue]
            phases = Counter(m.phase.value for m in here if m.phase is not None)
            assert self.real.phase_counts(queue) == dict(phases)
            assert self.real.active_count(queue) == len(self.model.holding(queue))
            waiting = sum(self.model.members[u].queue == queue for u in self.model.waiting)
            assert self.real.waiting_count(queue) == waiting
        for uid in UIDS:
            m = self.model.members.get(uid)
            assert self.real.queue_of(uid) == (m.queue if m else None)
        busy = {m.queue for m in self.model.members.values() if m.phase or holds(m)}
        assert set(self.real.queues()) >= busy


TestAdmissionModel = AdmissionMachine.TestCase


def queued(uid: str, priority: int = 0) -> Member:
    return Member(uid, QUEUES[0], priority, T0, Phase.QUEUED, eligible=True)


def test_the_default_limit_applies_to_a_queue_without_spec_and_after_its_deletion() -> None:
    admissions = Admissions(default_max_concurrent=1)
    admissions.open = True
    for uid in ("a", "b"):
        admissions.observe(queued(uid))
    assert admissions.fill(QUEUES[0]) == ["a"]
    admissions.set_limits(QUEUES[0], QueueLimits(3))
    assert admissions.fill(QUEUES[0]) == ["b"]
    admissions.set_limits(QUEUES[0], None)
    admissions.observe(queued("c"))
    assert admissions.fill(QUEUES[0]) == []
    unlimited = Admissions()  # 0: no limit
    unlimited.open = True
    for uid in ("a", "b", "c"):
        unlimited.observe(queued(uid))
    assert unlimited.fill(QUEUES[0]) == ["a", "b", "c"]


def test_a_stale_heap_entry_does_not_block_the_actions_behind_it() -> None:
    admissions = Admissions()
    admissions.open = True
    admissions.observe(queued("first", priority=5))
    admissions.observe(queued("second"))
    admissions.withdraw("first")
    assert admissions.fill(QUEUES[0]) == ["second"]


def test_many_withdrawn_entries_are_compacted_without_losing_the_waiting() -> None:
    admissions = Admissions()
    admissions.set_limits(QUEUES[0], QueueLimits(0))
    admissions.open = True
    for n in range(100):
        admissions.observe(queued(f"u{n:03}", priority=n % 3))
    for n in range(90):
        admissions.withdraw(f"u{n:03}")
    assert admissions.fill(QUEUES[0]) == []  # no slot, but the heap is compacted
    admissions.set_limits(QUEUES[0], QueueLimits(20))
    waiting = [f"u{n:03}" for n in range(90, 100)]
    expected = sorted(waiting, key=lambda u: (-(int(u[1:]) % 3), u))
    assert admissions.fill(QUEUES[0]) == expected
    assert admissions.waiting_count(QUEUES[0]) == 0


def test_a_withdrawn_grant_frees_its_slot_for_the_next() -> None:
    """A granted action suspended before it started must not keep the slot."""
    admissions = Admissions(default_max_concurrent=1)
    admissions.open = True
    admissions.observe(queued("a", priority=1))
    admissions.observe(queued("b"))
    assert admissions.fill(QUEUES[0]) == ["a"]
    assert admissions.active_count(QUEUES[0]) == 1
    admissions.withdraw("a")
    assert admissions.active_count(QUEUES[0]) == 0
    assert admissions.fill(QUEUES[0]) == ["b"]
    assert admissions.request("a") is False  # it asks again: back in the heap, no grant


def test_a_grant_given_back_frees_its_slot() -> None:
    admissions = Admissions(default_max_concurrent=1)
    admissions.open = True
    admissions.observe(queued("a"))
    assert admissions.fill(QUEUES[0]) == ["a"]
    assert admissions.request("a") is True
    admissions.release("a")
    assert (admissions.active_count(QUEUES[0]), admissions.request("a")) == (0, False)
    assert admissions.fill(QUEUES[0]) == ["a"]


def test_a_granted_action_observed_no_longer_eligible_gives_its_slot_back() -> None:
    admissions = Admissions(default_max_concurrent=1)
    admissions.open = True
    admissions.observe(queued("a", priority=1))
    admissions.observe(queued("b"))
    assert admissions.fill(QUEUES[0]) == ["a"]
    suspended = Member("a", QUEUES[0], 1, T0, Phase.QUEUED, eligible=False)
    assert admissions.observe(suspended) == set()  # same queue and phase: no count changed
    assert admissions.active_count(QUEUES[0]) == 0
    assert admissions.fill(QUEUES[0]) == ["b"]


def test_a_queue_nobody_is_in_any_more_is_forgotten() -> None:
    """Queue names ever seen must not keep memory: an emptied queue's state goes."""
    admissions = Admissions()
    admissions.open = True
    admissions.observe(queued("a"))
    admissions.observe(Member("b", QUEUES[1], 0, T0, Phase.RUNNING))
    assert set(admissions.queues()) == {QUEUES[0], QUEUES[1]}
    assert admissions.fill(QUEUES[0]) == ["a"]
    admissions.forget("b")
    assert admissions.queues() == [QUEUES[0]]  # "a" still holds its grant
    admissions.forget("a")
    assert admissions.queues() == []


def test_the_limits_shown_as_a_waiting_reason_are_the_ones_admission_applies() -> None:
    """``limits_of`` feeds ``QueueFull``/``QueueSuspended`` (lifecycle.waiting): the
    ActionQueue's limits whether or not anyone is in the queue, else the default."""
    admissions = Admissions(default_max_concurrent=2)
    admissions.open = True
    default = QueueLimits(2)
    assert admissions.limits_of(QUEUES[0]) == default  # no ActionQueue, nobody in it
    admissions.set_limits(QUEUES[0], QueueLimits(1, suspended=True))
    assert admissions.limits_of(QUEUES[0]) == QueueLimits(1, suspended=True)  # nobody in it
    admissions.observe(queued("a"))
    assert admissions.limits_of(QUEUES[0]) == QueueLimits(1, suspended=True)
    admissions.set_limits(QUEUES[0], QueueLimits(5))
    assert admissions.limits_of(QUEUES[0]) == QueueLimits(5)
    assert admissions.limits_of(QUEUES[1]) == default


def test_an_actionqueue_deleted_while_its_queue_is_empty_leaves_no_limit_behind() -> None:
    """The queue's state was forgotten (nobody in it) when its ActionQueue went: the next
    action in it gets the default limit, not the deleted object's."""
    admissions = Admissions(default_max_concurrent=1)
    admissions.open = True
    admissions.set_limits(QUEUES[0], QueueLimits(3))
    admissions.set_limits(QUEUES[0], None)
    assert admissions.limits_of(QUEUES[0]) == QueueLimits(1)
    for uid in ("a", "b"):
        admissions.observe(queued(uid))
    assert admissions.fill(QUEUES[0]) == ["a"]


def test_a_grant_held_by_a_new_action_keeps_its_queue() -> None:
    """A new action (no phase yet, so in no phase count) granted a slot is all that is
    left in its queue once the running one is deleted: the grant must survive."""
    admissions = Admissions(default_max_concurrent=2)
    admissions.open = True
    admissions.observe(Member("running", QUEUES[0], 0, T0, Phase.RUNNING))
    admissions.observe(Member("new", QUEUES[0], 0, T0, None, eligible=True))
    assert admissions.fill(QUEUES[0]) == ["new"]
    admissions.forget("running")
    assert admissions.queues() == [QUEUES[0]]
    assert (admissions.request("new"), admissions.active_count(QUEUES[0])) == (True, 1)


def test_a_full_queue_whose_waiting_actions_all_left_compacts_its_heap() -> None:
    """No free slot and every heap entry stale (nobody waits any more): compacting the
    heap then must not divide by the empty waiting count."""
    admissions = Admissions()
    admissions.set_limits(QUEUES[0], QueueLimits(0))
    admissions.open = True
    for n in range(100):
        admissions.observe(queued(f"u{n:03}"))
    for n in range(100):
        admissions.withdraw(f"u{n:03}")
    assert admissions.fill(QUEUES[0]) == []
    assert admissions.waiting_count(QUEUES[0]) == 0
    admissions.set_limits(QUEUES[0], QueueLimits(1))
    admissions.observe(queued("late"))
    assert admissions.fill(QUEUES[0]) == ["late"]


def test_retain_in_slices_forgets_only_the_gone_members_of_each_slice() -> None:
    """The resync walks ``member_uids()`` in slices (``among``), each judged against the
    cache's uids at that moment: a member of another slice, or one already forgotten,
    is left alone, and the queues that lost a member are named."""
    admissions = Admissions()
    admissions.observe(queued("a"))
    admissions.observe(Member("b", QUEUES[1], 0, T0, Phase.RUNNING))
    admissions.observe(queued("c"))
    uids = admissions.member_uids()
    assert uids == ["a", "b", "c"]
    uids.remove("c")  # a copy: the caller may walk it while members change
    assert admissions.member_uids() == ["a", "b", "c"]
    assert admissions.retain({"c"}, among=["a", "gone-already"]) == {QUEUES[0]}
    assert admissions.member_uids() == ["b", "c"]
    assert admissions.retain(set(), among=["c"]) == {QUEUES[0]}
    assert admissions.retain({"b"}) == set()
    assert admissions.member_uids() == ["b"]
    assert admissions.retain(set()) == {QUEUES[1]}
    assert admissions.member_uids() == []
