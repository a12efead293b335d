"""Fair budgets (issue 14): refused traffic, tenants and actions each spend their own."""

from __future__ import annotations

import pytest

from asyncaction_hook.budgets import Budgets, Rate
from asyncaction_hook.errors import HookError, unauthorized


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budgets(clock: Clock) -> Budgets:
    return Budgets(
        unauthenticated=Rate(10, 10), namespace=Rate(5, 5), action=Rate(3, 3), clock=clock
    )


def test_refused_requests_spend_only_their_own_budget() -> None:
    clock = Clock()
    fair = budgets(clock)
    answers = [fair.refused(unauthorized("bad signature")) for _ in range(50)]
    assert [a.status for a in answers[:10]] == [401] * 10
    assert {a.status for a in answers[10:]} == {429}
    assert answers[-1].reason == "RATE_LIMITED"
    assert answers[-1].retry_after == 1
    # a flood of refusals has not taken a single authenticated token
    for _ in range(3):
        fair.charge("tenant-b", "uid-b")


def test_one_namespace_cannot_starve_another() -> None:
    clock = Clock()
    fair = budgets(clock)
    refusals: list[HookError] = []
    for n in range(20):  # tenant a's jobs, two actions, at full speed
        try:
            fair.charge("tenant-a", f"uid-a{n % 2}")
        except HookError as exc:
            refusals.append(exc)
    assert [(e.status, e.retry_after) for e in refusals] == [(429, 1)] * 15
    assert 20 - len(refusals) == 5  # the namespace's burst, though each action had tokens left
    fair.charge("tenant-b", "uid-b")  # another tenant is served at once


def test_one_action_cannot_take_its_namespace_budget() -> None:
    clock = Clock()
    fair = budgets(clock)
    for _ in range(3):
        fair.charge("tenant-a", "busy")
    with pytest.raises(HookError, match="action") as refused:
        fair.charge("tenant-a", "busy")
    assert (refused.value.status, refused.value.reason, refused.value.retry_after) == (
        429,
        "RATE_LIMITED",
        1,
    )
    fair.charge("tenant-a", "quiet")  # the namespace still has tokens for its other jobs


def test_retry_after_says_when_a_token_is_back() -> None:
    clock = Clock()
    slow = Budgets(Rate(0.25, 1), Rate(0.2, 1), Rate(100, 100), clock=clock)
    slow.charge("ns", "uid")
    with pytest.raises(HookError) as refused:
        slow.charge("ns", "uid")
    assert refused.value.retry_after == 5  # one token at 0.2/s
    assert refused.value.response().headers == {"Retry-After": "5"}
    assert slow.refused(unauthorized("x")).status == 401
    assert slow.refused(unauthorized("x")).retry_after == 4


def test_refilled_and_finished_buckets_are_dropped() -> None:
    clock = Clock()
    fair = Budgets(Rate(10, 10), Rate(100, 100), Rate(3, 3), clock=clock)
    for n in range(100):
        fair.charge(f"ns{n % 3}", f"uid{n}")
    assert len(fair.actions) == 100
    fair.forget("uid0")
    assert "uid0" not in fair.actions
    assert fair.prune() == 0  # nothing refilled yet
    clock.now += 2
    assert fair.prune() == 99 + 3
    assert fair.actions == {}
    assert fair.namespaces == {}


@pytest.mark.asyncio
async def test_s3_calls_of_one_namespace_are_bounded_and_leave_nothing_behind() -> None:
    import asyncio

    from asyncaction_hook.app import Hook
    from asyncaction_hook.settings import HookSettings

    hook = Hook.__new__(Hook)  # only the slots are used here
    hook.settings = HookSettings(s3_per_namespace=2)
    hook.store_slots = {}
    running: list[str] = []
    most = {"a": 0, "b": 0}
    release = asyncio.Event()

    async def call(namespace: str) -> None:
        async with hook.s3_slot(namespace):
            running.append(namespace)
            most[namespace] = max(most[namespace], running.count(namespace))
            await release.wait()
            running.remove(namespace)

    tasks = [asyncio.create_task(call("a")) for _ in range(5)]
    tasks.append(asyncio.create_task(call("b")))
    await asyncio.sleep(0.01)
    assert sorted(running) == ["a", "a", "b"]  # tenant b is not queued behind tenant a
    release.set()
    await asyncio.gather(*tasks)
    assert most == {"a": 2, "b": 1}
    assert hook.store_slots == {}
