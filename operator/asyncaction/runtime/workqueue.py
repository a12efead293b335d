"""The work queue: de-duplicated keys, one delay heap, per-key retry backoff, N workers.

Semantics follow client-go's rate-limited delaying queue:

- ``add(key)`` makes ``key`` ready. A key waiting in the queue is not added twice; a key
  being processed is marked dirty and queued again when its worker is done, so one key
  is never processed by two workers at once and no change is lost.
- ``add_after(key, seconds)`` puts ``key`` on a single heap of timers (``startAt``,
  deadlines, TTLs, start timeouts, retry backoff all live there). Only the earliest
  pending time per key is kept; a later request for a key that already fires sooner is
  dropped. One task sleeps until the heap's first entry is due.
- ``add(key, bulk=True)`` queues ``key`` behind every ordinary key: the keys of a
  resync, or a warm standby's on taking over (100,000 of them), wait behind the
  changes that arrive meanwhile instead of in front of them, as controller-runtime's
  priority queue puts the initial list's events at low priority. An ordinary add of a
  key waiting as bulk promotes it. What an informer's handlers add while it replays its
  first LIST is bulk too (``runtime.initial_list``). So that bulk keys are never
  starved, every ``BULK_EVERY``-th key taken is a bulk one when any waits.
- ``add_rate_limited(key)`` retries a failed key after a per-key exponential backoff;
  ``forget(key)`` resets it after a success.
- ``run(process, workers)`` runs a fixed number of workers. ``process`` returns a
  ``Result`` (``runtime.result``; a bare delay or None is accepted too) for a requeue;
  an exception is logged and retried with the backoff, a ``TerminalError`` is logged and
  not retried. A transient API failure (``logthrottle.is_transient``) is logged without
  a traceback and at most once per interval for the whole queue, with the count of the
  others: during an outage every key fails, and a line each would bury the cause.
- a worker yields to the event loop after every key, so a burst of reconciles that
  make no API call (a resync, a start-up) never holds the loop for more than one key.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyncaction.logthrottle import ThrottledLog, is_transient
from asyncaction.runtime.initial_list import in_initial_list
from asyncaction.runtime.result import Result, TerminalError

log = logging.getLogger(__name__)

Process = Callable[[str], Awaitable[Result | float | None]]
BULK_EVERY = 8  # at least one key in this many taken is a bulk key, when any waits


@dataclass
class RateLimiter:
    """Per-key exponential backoff: base * 2**failures, capped."""

    base: float = 0.05
    cap: float = 60.0
    _failures: dict[str, int] = field(default_factory=dict)

    def when(self, key: str) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay: float = min(self.cap, self.base * 2**failures)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)


class Observer(Protocol):
    """Told what the queue does, for metrics (``runtime.metrics.WorkQueueObserver``)."""

    def added(self) -> None: ...

    def retried(self) -> None: ...

    def taken(self, waited: float) -> None: ...

    def done(self, worked: float) -> None: ...


@dataclass
class QueueStats:
    adds: int = 0
    processed: int = 0
    failures: int = 0


class WorkQueue:
    def __init__(
        self,
        name: str = "queue",
        rate_limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: Observer | None = None,
        log_fields: Callable[[str], Mapping[str, Any]] | None = None,
    ) -> None:
        self.name = name
        # transient failures: one line per interval for the queue, not one per key
        self._failure_log = ThrottledLog(log, clock=clock)
        self.observer = observer
        # ``extra`` of the log lines about a key (``asyncaction.logfields.about``)
        self._log_fields = log_fields or (lambda key: {})
        self._added_at: dict[str, float] = {}  # when each ready key was queued
        self._started_at: dict[str, float] = {}  # when each key's processing began
        self.rate_limiter = rate_limiter or RateLimiter()
        self.stats = QueueStats()
        self._clock = clock
        # Ready keys, in two lines: ordinary, and bulk behind them. ``_queued`` says which
        # line each ready key is in (True: bulk); an entry of a deque whose key is no
        # longer queued there (promoted, or taken) is skipped when it comes up.
        self._urgent: deque[str] = deque()
        self._bulk: deque[str] = deque()
        self._queued: dict[str, bool] = {}
        self._taken = 0
        self._wakeup = asyncio.Event()  # set while a key is ready
        self._processing: set[str] = set()
        self._dirty: dict[str, bool] = {}  # added while processing (True: only as bulk)
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}  # earliest pending time per key
        self._seq = 0
        self._heap_changed = asyncio.Event()
        self._closed = False
        self._held: set[str] | None = None  # keys collected while held (see ``hold``)

    # -- adding --------------------------------------------------------------------------

    def hold(self) -> None:
        """Collect keys without queuing them until ``release``: a warm standby's caches
        follow the leader's changes, but its controllers do not run, and client-go's
        controllers enqueue nothing before they lead. Held keys are one set: no depth,
        no adds counted, no time waited (a standby of hours would otherwise report every
        key as ready, and hours of queue wait once it led)."""
        if self._held is None:
            self._held = set()

    async def release(self, batch: int = 1000) -> None:
        """Queue every held key now, as fresh bulk adds, giving the loop a turn every
        ``batch`` keys (100,000 keys must not hold it at once)."""
        held, self._held = self._held or set(), None
        for count, key in enumerate(held, 1):
            self.add(key, bulk=True)
            if count % batch == 0:
                await asyncio.sleep(0)

    @property
    def held(self) -> int:
        return len(self._held or ())

    def add(self, key: str, *, bulk: bool = False) -> None:
        self._add(key, bulk=bulk or in_initial_list(), count=True)

    def _add(self, key: str, *, bulk: bool, count: bool) -> None:
        """Queue ``key`` unless it waits already. ``count``: an add that makes the key
        wait counts in ``adds`` (``workqueue_adds_total``), as client-go counts an item
        that becomes dirty; an add of a key already waiting, queued or added again while
        processed, is the same work and counts nothing, nor does the requeue of such a
        key when its processing ends."""
        if self._closed:
            return
        if self._held is not None:
            self._held.add(key)
            return
        if key in self._processing:
            dirty = self._dirty.get(key)
            if dirty is None:
                self._added_at[key] = self._clock()  # its wait starts now, as client-go's
                if count:
                    self._count_add()
            self._dirty[key] = (dirty is None or dirty) and bulk
            return
        waiting = self._queued.get(key)
        if waiting is not None and (bulk or not waiting):
            return  # already queued, in this line or the ordinary one
        if waiting is None:
            if count:
                self._count_add()
            # a requeue keeps the time it was added while processed
            self._added_at.setdefault(key, self._clock())
        self._queued[key] = bulk
        (self._bulk if bulk else self._urgent).append(key)
        self._wakeup.set()

    def _count_add(self) -> None:
        self.stats.adds += 1
        if self.observer is not None:
            self.observer.added()

    def add_after(self, key: str, seconds: float) -> None:
        if seconds <= 0 or self._held is not None:  # held: its reconcile decides again
            self.add(key)
            return
        when = self._clock() + seconds
        due = self._due.get(key)
        if due is not None and due <= when:
            return
        self._due[key] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key))
        self._heap_changed.set()

    def add_rate_limited(self, key: str) -> None:
        if self._held is not None:
            self._held.add(key)
            return
        if self.observer is not None:
            self.observer.retried()
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def delayed(self) -> int:
        return len(self._due)

    def running_seconds(self) -> list[float]:
        """How long each key being processed has been at it (client-go's unfinished work)."""
        now = self._clock()
        return [now - started for started in self._started_at.values()]

    # -- the delay heap ------------------------------------------------------------------

    def _pop_due(self) -> float | None:
        """Move every due key to the ready queue; the seconds until the next one."""
        now = self._clock()
        while self._heap:
            when, _, key = self._heap[0]
            if self._due.get(key) != when:  # superseded by an earlier time
                heapq.heappop(self._heap)
                continue
            if when > now:
                return when - now
            heapq.heappop(self._heap)
            del self._due[key]
            self.add(key)
        return None

    async def _run_timers(self) -> None:
        while True:
            self._heap_changed.clear()
            wait = self._pop_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heap_changed.wait(), timeout=wait)

    # -- workers -------------------------------------------------------------------------

    def _next(self) -> str | None:
        """The next ready key (ordinary first, a bulk one every ``BULK_EVERY``), or None."""
        self._taken += 1
        lines = (self._urgent, self._bulk)
        if self._taken % BULK_EVERY == 0:
            lines = (self._bulk, self._urgent)
        for line in lines:
            bulk = line is self._bulk
            while line:
                key = line.popleft()
                if self._queued.get(key) is bulk:
                    del self._queued[key]
                    return key
        return None

    async def _get(self) -> str:
        while (key := self._next()) is None:
            self._wakeup.clear()
            await self._wakeup.wait()
        if self._queued:
            self._wakeup.set()  # more keys ready: the next idle worker takes one
        self._processing.add(key)
        now = self._clock()
        self._started_at[key] = now
        added = self._added_at.pop(key, now)
        if self.observer is not None:
            self.observer.taken(now - added)
        return key

    def _done(self, key: str) -> None:
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if self.observer is not None and started is not None:
            self.observer.done(self._clock() - started)
        bulk = self._dirty.pop(key, None)
        if bulk is not None:  # counted when it was added during the processing
            self._add(key, bulk=bulk, count=False)

    async def _worker(self, process: Process) -> None:
        while True:
            key = await self._get()
            try:
                outcome = await process(key)
            except asyncio.CancelledError:
                self._done(key)
                raise
            except TerminalError as exc:
                self.stats.failures += 1
                log.error(
                    "%s: %s failed for good, not retried: %s",
                    self.name,
                    key,
                    exc,
                    extra=self._log_fields(key),
                )
                self.rate_limiter.forget(key)
                self._done(key)
                await asyncio.sleep(0)
                continue
            except Exception as exc:
                self.stats.failures += 1
                if is_transient(exc):
                    self._failure_log.warning(
                        "api",
                        "%s: processing %s failed: %s; retrying with backoff",
                        self.name,
                        key,
                        exc,
                        extra=self._log_fields(key),
                    )
                else:
                    log.exception(
                        "%s: processing %s failed; retrying with backoff",
                        self.name,
                        key,
                        extra=self._log_fields(key),
                    )
                self._done(key)
                self.add_rate_limited(key)
                await asyncio.sleep(0)
                continue
            self._failure_log.recovered("api", "%s: keys are processed again", self.name)
            self.stats.processed += 1
            self.rate_limiter.forget(key)
            self._done(key)
            delay = outcome.requeue_after if isinstance(outcome, Result) else outcome
            if delay is not None:
                self.add_after(key, delay)
            # A reconcile that made no API call never awaited anything: without this a
            # resync of 100,000 keys would run as one stretch and starve the watches,
            # the Lease renewal and the probes.
            await asyncio.sleep(0)

    async def run(self, process: Process, workers: int) -> None:
        """Run the timers and ``workers`` workers until cancelled."""
        tasks = [asyncio.create_task(self._run_timers(), name=f"{self.name}-timers")]
        tasks += [
            asyncio.create_task(self._worker(process), name=f"{self.name}-worker-{i}")
            for i in range(workers)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            self._closed = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
