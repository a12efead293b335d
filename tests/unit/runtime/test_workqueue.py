import asyncio
import logging
from collections.abc import Callable

import pytest

from asyncaction.kube.errors import ApiError
from asyncaction.runtime.workqueue import BULK_EVERY, RateLimiter, WorkQueue


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


async def until(condition: Callable[[], object], rounds: int = 2000) -> None:
    """Let the queue's tasks run until ``condition()`` holds (bounded, no time asserted)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


@pytest.mark.asyncio
async def test_forget_resets_the_backoff() -> None:
    clock = Clock()
    queue = WorkQueue(rate_limiter=RateLimiter(base=1, cap=60), clock=clock)
    queue.add_rate_limited("k")
    assert queue._pop_due() == 1
    clock.now = 1
    assert queue._pop_due() is None
    queue.add_rate_limited("k")
    assert queue._pop_due() == 2  # the second failure in a row waits twice as long
    clock.now = 3
    queue._pop_due()
    queue.forget("k")
    queue.add_rate_limited("k")
    assert queue._pop_due() == 1
    assert queue.rate_limiter.failures("k") == 1


@pytest.mark.asyncio
async def test_add_after_nothing_or_less_is_an_add() -> None:
    queue = WorkQueue(clock=Clock())
    queue.add_after("now", 0)
    queue.add_after("past", -5)
    assert (len(queue), queue.delayed) == (2, 0)


@pytest.mark.asyncio
async def test_a_later_or_equal_time_never_replaces_an_earlier_one() -> None:
    clock = Clock()
    queue = WorkQueue(clock=clock)
    queue.add_after("k", 10)
    queue.add_after("k", 10)
    queue.add_after("k", 11)
    assert queue._pop_due() == 10
    clock.now = 9.5
    queue.add_after("k", 0.25)  # earlier than the pending 10
    assert queue._pop_due() == pytest.approx(0.25)
    clock.now = 9.75  # exactly due
    assert queue._pop_due() is None
    assert (len(queue), queue.delayed) == (1, 0)
    clock.now = 10  # the superseded entry at 10 is skipped, not a second add
    assert queue._pop_due() is None
    assert queue.stats.adds == 1


@pytest.mark.asyncio
async def test_the_ready_queue_keeps_the_order_keys_became_due() -> None:
    clock = Clock()
    queue = WorkQueue(clock=clock)
    queue.add_after("late", 3)
    queue.add_after("early", 1)
    queue.add_after("middle", 2)
    clock.now = 5
    queue._pop_due()
    assert [await queue._get() for _ in range(3)] == ["early", "middle", "late"]


@pytest.mark.asyncio
async def test_workers_count_forget_on_success_and_requeue_after_the_delay_asked() -> None:
    queue = WorkQueue(rate_limiter=RateLimiter(base=0.001, cap=0.001))
    answers: dict[str, list[float | Exception | None]] = {
        "fails-once": [RuntimeError("transient"), None],
        "again": [0.001, None],
    }
    calls: list[str] = []

    async def process(key: str) -> float | None:
        calls.append(key)
        answer = answers[key].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    queue.add("fails-once")
    queue.add("again")
    task = asyncio.create_task(queue.run(process, workers=1))
    await until(lambda: not answers["fails-once"] and not answers["again"])
    await until(lambda: queue.stats.processed == 3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sorted(calls) == ["again", "again", "fails-once", "fails-once"]
    assert (queue.stats.adds, queue.stats.processed, queue.stats.failures) == (4, 3, 1)
    assert queue.rate_limiter.failures("fails-once") == 0  # forgotten after its success
    assert (len(queue), queue.delayed) == (0, 0)
    queue.add("after-the-end")  # a stopped queue takes nothing
    assert (len(queue), queue.stats.adds) == (0, 4)


@pytest.mark.asyncio
async def test_a_cancelled_worker_lets_go_of_its_key_and_keeps_its_change() -> None:
    queue = WorkQueue()
    started = asyncio.Event()

    async def process(key: str) -> float | None:
        started.set()
        await asyncio.Event().wait()  # never returns
        return None

    queue.add("k")
    task = asyncio.create_task(queue.run(process, workers=1))
    await started.wait()
    queue.add("k")  # while processing: dirty, re-added when the worker is done
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert queue._processing == set()  # the worker let go of its key
    assert len(queue) == 1  # and the change made meanwhile is not lost


@pytest.mark.asyncio
async def test_keys_due_at_the_same_time_keep_the_order_they_were_added() -> None:
    clock = Clock()
    queue = WorkQueue(clock=clock)
    for key in ("b", "c", "a"):
        queue.add_after(key, 2)
    clock.now = 2
    queue._pop_due()
    assert [await queue._get() for _ in range(3)] == ["b", "c", "a"]


@pytest.mark.asyncio
async def test_run_names_its_tasks_and_leaves_none_behind() -> None:
    """Named tasks show in asyncio's debug output; a stopped queue leaves nothing running."""
    assert WorkQueue().name == "queue"
    queue = WorkQueue(name="actions")
    started = asyncio.Event()

    async def process(key: str) -> float | None:
        started.set()
        return None

    before = asyncio.all_tasks()
    task = asyncio.create_task(queue.run(process, workers=2))
    queue.add("k")
    await started.wait()
    names = {t.get_name() for t in asyncio.all_tasks() - before} - {task.get_name()}
    assert names == {"actions-timers", "actions-worker-0", "actions-worker-1"}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert asyncio.all_tasks() - before == set()


class Recorder:
    """An ``Observer`` that keeps what it was told, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []

    def added(self) -> None:
        self.calls.append(("added", None))

    def retried(self) -> None:
        self.calls.append(("retried", None))

    def taken(self, waited: float) -> None:
        self.calls.append(("taken", waited))

    def done(self, worked: float) -> None:
        self.calls.append(("done", worked))


@pytest.mark.asyncio
async def test_the_observer_is_told_each_add_retry_wait_and_work_time() -> None:
    clock = Clock()
    recorder = Recorder()
    queue = WorkQueue(clock=clock, observer=recorder, rate_limiter=RateLimiter(base=1))
    assert queue.running_seconds() == []
    queue.add("a")  # queued at 0
    clock.now = 2.5
    queue.add("b")  # queued at 2.5
    queue.add("a")  # already waiting: the same work, neither counted nor queued twice
    clock.now = 4
    assert await queue._get() == "a"  # waited 4
    clock.now = 7
    assert queue.running_seconds() == [3]
    assert await queue._get() == "b"  # waited 4.5
    clock.now = 10
    assert sorted(queue.running_seconds()) == [3, 6]
    queue._done("a")  # worked 6
    queue.add_rate_limited("b")  # b is being processed: marked dirty after its backoff
    clock.now = 11
    queue._done("b")  # worked 4 (from 7)
    queue._done("b")  # already done: nothing more to tell
    assert queue.running_seconds() == []
    assert recorder.calls == [
        ("added", None),
        ("added", None),
        ("taken", 4),
        ("taken", 4.5),
        ("done", 6),
        ("retried", None),
        ("done", 4),
    ]


@pytest.mark.asyncio
async def test_an_api_outage_is_a_few_lines_not_one_traceback_per_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """200 keys fail on a 503 within one interval: one line, no traceback; a bug (a
    KeyError) keeps its own line with its traceback; the recovery is one line."""
    caplog.set_level(logging.INFO, "asyncaction.runtime.workqueue")
    clock = Clock()
    queue = WorkQueue(
        name="actions",
        clock=clock,
        rate_limiter=RateLimiter(base=3600),
        log_fields=lambda key: {"action": {"name": key}},
    )
    back = asyncio.Event()

    async def process(key: str) -> None:
        # No await inside: each key is taken, processed and logged before the next, so
        # "after", added last, comes once every other key has failed.
        if key == "bug":
            raise KeyError("status")
        if key != "after":
            raise ApiError(503, "ServiceUnavailable", "the API server is down")
        clock.now = 31.0  # an interval without failure: this success ends the outage
        back.set()

    for key in [*(f"k{i}" for i in range(200)), "bug", "after"]:
        queue.add(key)
    task = asyncio.create_task(queue.run(process, workers=4))
    await back.wait()
    await asyncio.sleep(0)  # the worker logs after process returns
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    records = [r for r in caplog.records if r.name == "asyncaction.runtime.workqueue"]
    assert [(r.levelno, r.getMessage(), r.exc_info is not None) for r in records] == [
        (
            logging.WARNING,
            "actions: processing k0 failed: 503 ServiceUnavailable: the API server is down;"
            " retrying with backoff",
            False,
        ),
        (logging.ERROR, "actions: processing bug failed; retrying with backoff", True),
        (logging.INFO, "actions: keys are processed again: 200 failure(s) over 0s", False),
    ]
    assert [getattr(r, "action", None) for r in records] == [{"name": "k0"}, {"name": "bug"}, None]


@pytest.mark.asyncio
async def test_held_keys_are_one_set_until_released_and_then_fresh_adds() -> None:
    """A warm standby holds its keys: no depth, no adds, no wait counted while it stands
    by (an hour of standing by is not an hour of queue wait); released, each key is
    queued once, as if added then."""
    clock = Clock()
    seen = Recorder()
    queue = WorkQueue(clock=clock, observer=seen)

    def told(what: str) -> list[float | None]:
        return [value for call, value in seen.calls if call == what]

    queue.hold()
    for key in ("a", "b", "a"):
        queue.add(key)
    queue.add_after("c", 30)  # held as well: its reconcile decides again on release
    queue.add_rate_limited("a")
    assert (len(queue), queue.delayed, queue.held, seen.calls) == (0, 0, 3, [])
    clock.now = 3600.0
    await queue.release(batch=2)
    assert (len(queue), queue.held, len(told("added"))) == (3, 0, 3)
    clock.now = 3601.0
    taken = sorted([await queue._get() for _ in range(3)])
    assert (taken, told("taken"), told("retried")) == (["a", "b", "c"], [1.0, 1.0, 1.0], [])
    queue.add("d")  # released: an ordinary queue again
    assert (len(queue), queue.held) == (1, 0)


@pytest.mark.asyncio
async def test_bulk_keys_wait_behind_ordinary_ones_and_an_ordinary_add_promotes() -> None:
    """A resync's or a takeover's keys must not stand in front of a change that arrives
    meanwhile (a new action waited 2.8 s behind 100,000 released keys)."""
    queue = WorkQueue()
    for key in ("r1", "r2", "r3", "r4"):
        queue.add(key, bulk=True)
    queue.add("new")
    queue.add("r3")  # a change to a key waiting as bulk: it moves up
    queue.add("new", bulk=True)  # already waiting as ordinary: stays there
    assert len(queue) == 5
    taken = [await queue._get() for _ in range(5)]
    assert taken == ["new", "r3", "r1", "r2", "r4"]
    assert len(queue) == 0


@pytest.mark.asyncio
async def test_bulk_keys_are_not_starved() -> None:
    """Under a steady stream of ordinary keys one key in BULK_EVERY taken is bulk."""
    queue = WorkQueue()
    queue.add("bulk", bulk=True)
    for i in range(3 * BULK_EVERY):
        queue.add(f"k{i}")
    taken = [await queue._get() for _ in range(BULK_EVERY)]
    assert taken.index("bulk") == BULK_EVERY - 1


@pytest.mark.asyncio
async def test_a_key_added_while_processing_is_queued_again_in_the_line_of_its_adds() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add("b")
    assert await queue._get() == "a"
    assert await queue._get() == "b"
    queue.add("a", bulk=True)  # only bulk adds while processing: bulk again
    queue.add("b", bulk=True)
    queue.add("b")  # any ordinary add: ordinary
    queue.add("c", bulk=True)
    queue._done("a")
    queue._done("b")
    assert [await queue._get() for _ in range(3)] == ["b", "c", "a"]


@pytest.mark.asyncio
async def test_adds_count_work_that_starts_waiting_as_client_go_counts_them() -> None:
    """``workqueue_adds_total`` counts an item when it becomes dirty: a key added again
    while it waits, or several times while it is processed, is one add, and its requeue
    when processing ends is none (this counted 1 + 1 + 3 + 1 = 6 here: every call, and
    the requeue again)."""
    recorder = Recorder()
    queue = WorkQueue(observer=recorder)
    queue.add("a")
    queue.add("a")  # waiting already
    queue.add("a", bulk=True)  # waiting already, in the ordinary line
    assert (queue.stats.adds, len(queue)) == (1, 1)
    assert await queue._get() == "a"
    queue.add("a", bulk=True)  # while processed: it will wait again, one add
    queue.add("a")
    queue.add("a")
    assert queue.stats.adds == 2
    queue._done("a")  # queued again: counted when it was added
    assert (queue.stats.adds, len(queue)) == (2, 1)
    assert await queue._get() == "a"
    queue._done("a")
    queue.add("a")  # new work after it was done
    assert queue.stats.adds == 3
    assert [call for call in recorder.calls if call[0] == "added"] == [("added", None)] * 3


@pytest.mark.asyncio
async def test_a_key_added_while_processed_has_waited_since_that_add() -> None:
    """client-go records an item's add time when it becomes dirty, so the queue wait of a
    key changed while it was processed runs from that change, not from the end of the
    processing (this observed 1 s here where the change had waited 5)."""
    clock = Clock()
    recorder = Recorder()
    queue = WorkQueue(clock=clock, observer=recorder)
    queue.add("a")
    assert await queue._get() == "a"
    clock.now = 1
    queue.add("a")  # changed while processed
    clock.now = 3
    queue.add("a")  # again: its wait still runs from 1
    clock.now = 5
    queue._done("a")
    clock.now = 6
    assert await queue._get() == "a"
    assert [call for call in recorder.calls if call[0] == "taken"] == [("taken", 0), ("taken", 5)]


@pytest.mark.asyncio
async def test_idle_workers_wake_for_keys_of_either_line() -> None:
    queue = WorkQueue()
    seen: list[str] = []

    async def process(key: str) -> None:
        seen.append(key)

    task = asyncio.create_task(queue.run(process, 3))
    for _ in range(3):
        await asyncio.sleep(0)  # the workers start and wait
    queue.add("x", bulk=True)
    queue.add("y")
    await until(lambda: len(seen) == 2)
    assert sorted(seen) == ["x", "y"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
