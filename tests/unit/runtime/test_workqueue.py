import asyncio

import pytest

from asyncaction.runtime.workqueue import RateLimiter, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_doubles_per_failure_up_to_its_cap_and_forgets() -> None:
    limiter = RateLimiter(base=1, cap=5)
    assert [limiter.when("k") for _ in range(5)] == [1, 2, 4, 5, 5]
    limiter.forget("k")
    assert limiter.when("k") == 1


@pytest.mark.asyncio
async def test_keys_are_deduplicated_while_waiting() -> None:
    queue = WorkQueue()
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert len(queue) == 2


@pytest.mark.asyncio
async def test_delay_heap_keeps_the_earliest_time_per_key() -> None:
    clock = Clock()
    queue = WorkQueue(clock=clock)
    queue.add_after("k", 10)
    queue.add_after("k", 30)  # later than pending: dropped
    queue.add_after("k", 5)  # earlier: replaces
    queue.add_after("other", 20)
    assert queue.delayed == 2
    clock.now = 6
    assert queue._pop_due() == pytest.approx(14)
    assert len(queue) == 1
    clock.now = 100
    assert queue._pop_due() is None
    assert len(queue) == 2


@pytest.mark.asyncio
async def test_a_key_is_never_processed_twice_at_once_and_no_change_is_lost() -> None:
    queue = WorkQueue()
    running: set[str] = set()
    overlaps = 0
    runs: list[str] = []
    release = asyncio.Event()

    async def process(key: str) -> float | None:
        nonlocal overlaps
        if key in running:
            overlaps += 1
        running.add(key)
        runs.append(key)
        if len(runs) == 1:
            queue.add("k")  # a change while processing: must run again afterwards
            await release.wait()
        running.discard(key)
        return None

    queue.add("k")
    task = asyncio.create_task(queue.run(process, workers=4))
    await asyncio.sleep(0.05)
    assert runs == ["k"]  # the second add waits for the first run
    release.set()
    for _ in range(100):
        if len(runs) == 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert runs == ["k", "k"]
    assert overlaps == 0


@pytest.mark.asyncio
async def test_failures_retry_with_backoff_and_requeue_delays_are_honoured() -> None:
    queue = WorkQueue(rate_limiter=RateLimiter(base=0.01, cap=0.05))
    calls: list[str] = []

    async def process(key: str) -> float | None:
        calls.append(key)
        if len(calls) < 3:
            raise RuntimeError("transient")
        if len(calls) == 3:
            return 0.01  # ask to be looked at again soon
        return None

    queue.add("k")
    task = asyncio.create_task(queue.run(process, workers=2))
    for _ in range(300):
        if len(calls) >= 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls == ["k"] * 4
    assert queue.stats.failures == 2
