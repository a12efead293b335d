from datetime import UTC, datetime, timedelta

from asyncaction.api.phases import Phase
from asyncaction.controllers.admission import Admissions, Member, QueueLimits

T0 = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
Q = ("ns", "q")


def member(
    uid: str,
    phase: Phase | None = Phase.QUEUED,
    *,
    priority: int = 0,
    age: int = 0,
    eligible: bool | None = None,
    queue: tuple[str, str] = Q,
) -> Member:
    return Member(
        uid=uid,
        queue=queue,
        priority=priority,
        created_at=T0 - timedelta(seconds=age),
        phase=phase,
        eligible=phase is Phase.QUEUED if eligible is None else eligible,
    )


def opened(limit: int | None = None, **limits: bool) -> Admissions:
    admissions = Admissions()
    admissions.set_limits(Q, QueueLimits(limit, **limits))
    admissions.open = True
    return admissions


def test_unlimited_queue_admits_everyone() -> None:
    admissions = opened()
    for uid in "abc":
        admissions.observe(member(uid))
    assert sorted(admissions.fill(Q)) == ["a", "b", "c"]
    assert all(admissions.request(uid) for uid in "abc")


def test_nothing_is_granted_before_admission_opens() -> None:
    admissions = Admissions()
    admissions.set_limits(Q, QueueLimits(1))
    admissions.observe(member("waiting"))
    assert admissions.fill(Q) == []
    admissions.observe(member("running", Phase.RUNNING))  # listed after: must still count
    admissions.open = True
    assert admissions.fill(Q) == []


def test_priority_then_age_and_only_free_slots() -> None:
    admissions = opened(2)
    admissions.observe(member("old-low", priority=1, age=100))
    admissions.observe(member("new-high", priority=9))
    admissions.observe(member("old-mid", priority=5, age=50))
    admissions.observe(member("older-mid", priority=5, age=60))
    assert admissions.fill(Q) == ["new-high", "older-mid"]
    assert admissions.fill(Q) == []  # the grants hold both slots until the API shows them
    assert not admissions.request("old-mid")


def test_grants_count_until_the_action_is_active_and_a_freed_slot_admits_one() -> None:
    admissions = opened(1)
    admissions.observe(member("a", age=2))
    admissions.observe(member("b", age=1))
    admissions.observe(member("c"))
    assert admissions.fill(Q) == ["a"]
    admissions.observe(member("a", Phase.STARTING))
    assert admissions.fill(Q) == []
    assert admissions.active_count(Q) == 1
    changed = admissions.observe(member("a", Phase.SUCCEEDED))
    assert changed == {Q}
    assert admissions.fill(Q) == ["b"]  # one slot freed: exactly one woken


def test_released_grant_goes_back_and_withdrawn_actions_are_skipped() -> None:
    admissions = opened(1)
    admissions.observe(member("first", age=2))
    admissions.observe(member("second", age=1))
    assert admissions.fill(Q) == ["first"]
    admissions.release("first")  # its status write lost a race
    admissions.observe(member("first", eligible=False))  # and then it was suspended
    assert admissions.fill(Q) == ["second"]


def test_suspended_queue_admits_nobody_until_resumed() -> None:
    admissions = opened(suspended=True)
    admissions.observe(member("a"))
    assert admissions.fill(Q) == []
    admissions.set_limits(Q, None)
    assert admissions.fill(Q) == ["a"]


def test_an_action_due_by_the_clock_joins_on_request() -> None:
    admissions = opened(1)
    admissions.observe(member("later", eligible=False))
    assert admissions.fill(Q) == []
    assert not admissions.request("later")
    assert admissions.fill(Q) == ["later"]
    assert admissions.request("later")


def test_phase_counts_follow_every_change_and_deletion() -> None:
    admissions = opened()
    admissions.observe(member("a"))
    admissions.observe(member("b", Phase.RUNNING))
    assert admissions.phase_counts(Q) == {"QUEUED": 1, "RUNNING": 1}
    admissions.observe(member("a", Phase.SUCCEEDED))
    assert admissions.forget("b") == Q
    assert admissions.phase_counts(Q) == {"SUCCEEDED": 1}
    assert admissions.active_count(Q) == 0


def test_filling_counts_free_slots_once_not_once_per_grant() -> None:
    """Resuming a suspended queue with 50,000 waiting counted the held slots (a set union
    of every active and granted uid) again for each grant: 10,000 grants took 0.44 s of
    one loop turn, 50,000 about 11 s, past the Lease's renew deadline."""
    from asyncaction.controllers import admission as module

    free = module.QueueState.free
    counted = 0

    def counting(self: module.QueueState) -> int | None:
        nonlocal counted
        counted += 1
        return free(self)

    for limit in (None, 3000):
        admissions = opened(limit, suspended=True)
        for n in range(2000):
            admissions.observe(member(f"run-{n}", Phase.RUNNING))
        for n in range(2000):
            admissions.observe(member(f"wait-{n:04d}", age=2000 - n))
        counted = 0
        module.QueueState.free = counting  # type: ignore[method-assign]
        try:
            admissions.set_limits(Q, QueueLimits(limit))  # resumed
            granted = admissions.fill(Q)
        finally:
            module.QueueState.free = free  # type: ignore[method-assign]
        assert counted == 1
        assert granted == [f"wait-{n:04d}" for n in range(2000 if limit is None else 1000)]
        assert admissions.fill(Q) == []
        assert admissions.active_count(Q) == (4000 if limit is None else 3000)


def test_the_oldest_wait_of_each_admitting_queue_is_read_now() -> None:
    """A queue whose slots are all held admits nothing, and the wait observed at
    admission never showed it (its alert was silent for hours: found by a review)."""
    now = [1000.0]
    admissions = Admissions(clock=lambda: now[0])
    admissions.open = True
    admissions.set_limits(("ns", "q"), QueueLimits(1))
    admissions.set_limits(("ns", "off"), QueueLimits(1, suspended=True))
    for uid, queue in (("a", ("ns", "q")), ("b", ("ns", "q")), ("c", ("ns", "off"))):
        admissions.observe(member(uid, queue=queue))
        now[0] += 10
    assert admissions.oldest_waits() == {("ns", "q"): 30.0}  # "off" is suspended
    assert admissions.fill(("ns", "q")) == ["a"]
    assert admissions.oldest_waits() == {("ns", "q"): 20.0}  # b, since 1010
    now[0] += 3600
    assert admissions.oldest_waits() == {("ns", "q"): 3620.0}
