"""Workers yield between keys; Result and TerminalError drive requeues (issue 13)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import pytest

from asyncaction.runtime.result import Result, TerminalError
from asyncaction.runtime.workqueue import WorkQueue


@pytest.mark.asyncio
async def test_a_burst_of_reconciles_that_never_await_lets_other_tasks_run_between_keys() -> None:
    queue = WorkQueue()
    processed: list[str] = []
    turns: list[int] = []  # how many keys were done each time the other task ran
    keys = [f"ns/a{i}" for i in range(200)]

    async def process(key: str) -> None:
        processed.append(key)  # no await: a reconcile served from the caches alone

    async def other_task() -> None:
        while len(processed) < len(keys):
            turns.append(len(processed))
            await asyncio.sleep(0)

    for key in keys:
        queue.add(key)
    runner = asyncio.create_task(queue.run(process, workers=1))
    await asyncio.wait_for(other_task(), timeout=10)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    # the other task ran between every two keys, not once before and once after
    assert len(turns) >= len(keys)
    assert max(b - a for a, b in itertools.pairwise(turns)) <= 1


@pytest.mark.asyncio
async def test_a_result_requeues_later_and_a_terminal_error_is_not_retried() -> None:
    queue = WorkQueue()
    calls: dict[str, int] = {}

    async def process(key: str) -> Result:
        calls[key] = calls.get(key, 0) + 1
        if key == "ns/doomed":
            raise TerminalError("InvalidSpec", "never buildable")
        return Result(requeue_after=3600)

    queue.add("ns/later")
    queue.add("ns/doomed")
    runner = asyncio.create_task(queue.run(process, workers=2))
    for _ in range(50):
        await asyncio.sleep(0)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert calls == {"ns/later": 1, "ns/doomed": 1}
    assert queue.delayed == 1  # only the Result's requeue is pending: no retry backoff
    assert queue.stats.failures == 1
    assert queue.rate_limiter.failures("ns/doomed") == 0


@pytest.mark.asyncio
async def test_a_key_that_failed_for_good_is_processed_again_when_added_again() -> None:
    """A terminal error ends that run only: the next change to the object brings it back.

    The key must leave ``processing`` (else a later add only marks it dirty, for ever), be
    counted once as a failure, keep no backoff, and the worker must go on to other keys.
    """
    queue = WorkQueue()
    calls: list[str] = []
    answers = {"ns/a": ["terminal", "ok"], "ns/b": ["terminal"], "ns/c": ["ok"]}

    async def process(key: str) -> Result:
        calls.append(key)
        if answers[key].pop(0) == "terminal":
            raise TerminalError("InvalidSpec", "never buildable")
        return Result()

    queue.rate_limiter.when("ns/a")  # a backoff from an earlier transient failure
    queue.add("ns/a")
    runner = asyncio.create_task(queue.run(process, workers=1))
    for _ in range(50):
        await asyncio.sleep(0)
    assert calls == ["ns/a"]
    assert queue._processing == set()
    assert queue.rate_limiter.failures("ns/a") == 0
    assert (queue.stats.failures, queue.stats.processed, queue.delayed) == (1, 0, 0)

    queue.add("ns/a")  # the object changed: the key is handed out again
    queue.add("ns/b")  # and the same worker goes on with other keys
    queue.add("ns/c")
    for _ in range(50):
        await asyncio.sleep(0)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert calls == ["ns/a", "ns/a", "ns/b", "ns/c"]
    assert (queue.stats.failures, queue.stats.processed, queue.delayed) == (2, 2, 0)
    assert (len(queue), queue._processing) == (0, set())


@pytest.mark.asyncio
async def test_a_worker_goes_on_with_the_next_key_right_after_a_transient_failure() -> None:
    """The retry waits on the timer heap, not in the worker: the next key is not held up."""
    queue = WorkQueue()
    calls: list[str] = []

    async def process(key: str) -> None:
        calls.append(key)
        if key == "ns/flaky":
            raise RuntimeError("the API server answered 500")

    queue.add("ns/flaky")
    queue.add("ns/next")
    runner = asyncio.create_task(queue.run(process, workers=1))
    for _ in range(50):
        await asyncio.sleep(0)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert calls == ["ns/flaky", "ns/next"]
    assert (queue.stats.failures, queue.stats.processed, queue.delayed) == (1, 1, 1)
    assert queue.rate_limiter.failures("ns/flaky") == 1
