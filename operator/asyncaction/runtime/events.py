"""Events posted off the reconcile path: best effort, bounded, paced.

An Event tells people what happened; it is not state. client-go's recorder hands Events
to a broadcaster and never makes a controller wait for one, and drops them when its
queue is full. This sender does the same for the operator's Events about actions:

- ``post`` puts the Event in a bounded queue and returns at once, so a reconcile never
  waits for an Event's write (measured: two Events per admission made each admission
  wait for two more API round trips, bench/bench_admission.py);
- a few sender tasks write them in the order posted, paced by a token bucket so that a
  burst of transitions (10,000 actions admitted at once) does not double the API
  server's write load while the controller's own writes wait behind it;
- a full queue drops the newest Event, counted in
  ``asyncaction_events_dropped_total{reason="queue_full"}`` and logged (at most every
  ten seconds, with the count); an Event the API server refuses is logged and counted
  as ``reason="refused"``. Neither ever fails a reconcile.

Each Event keeps the time it was built with, so ``kubectl describe`` orders them by when
they happened, not when they were written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from asyncaction.logthrottle import ThrottledLog

log = logging.getLogger(__name__)

DROP_LOG_SECONDS = 10.0


class EventApi(Protocol):
    """The one verb the sender needs (``asyncaction.kube.KubeClient.create``)."""

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


class EventMetrics(Protocol):
    def inc(
        self, name: str, labels: Mapping[str, str] | None = ..., value: float = ...
    ) -> None: ...

    def event(self, type: str, reason: str) -> None: ...

    def event_dropped(self, reason: str) -> None: ...


@dataclass(frozen=True)
class Pending:
    path: str
    body: Mapping[str, Any]
    fields: Mapping[str, Any]  # log fields of the object the Event is about


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``clock`` is monotonic."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()

    def wait_time(self) -> float:
        """Take a token: 0 when one was there, else the seconds until it is (reserved)."""
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class EventSender:
    def __init__(
        self,
        kube: EventApi,
        metrics: EventMetrics,
        *,
        capacity: int = 5000,
        rate: float = 50.0,
        burst: int = 200,
        senders: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.kube = kube
        self.sleep = sleep
        self.metrics = metrics
        self.senders = senders
        self.bucket = TokenBucket(rate, burst, clock)
        self.clock = clock
        self.queue: asyncio.Queue[Pending] = asyncio.Queue(maxsize=capacity)
        self.dropped = 0  # since the last warning
        self._warned_at: float | None = None
        # Events the API server refused (down, throttling, RBAC): a line an interval
        self.failure_log = ThrottledLog(log, clock=clock)

    def __len__(self) -> int:
        return self.queue.qsize()

    def post(self, path: str, body: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
        """Queue an Event for writing; False when the queue was full and it was dropped."""
        try:
            self.queue.put_nowait(Pending(path, body, fields))
            return True
        except asyncio.QueueFull:
            self.metrics.event_dropped("queue_full")
            self.dropped += 1
            now = self.clock()
            if self._warned_at is None or now - self._warned_at >= DROP_LOG_SECONDS:
                log.warning(
                    "event queue full (%d): dropped %d events (the API server writes them "
                    "slower than they are posted; see asyncaction_events_dropped_total)",
                    self.queue.maxsize,
                    self.dropped,
                    extra=dict(fields),
                )
                self._warned_at, self.dropped = now, 0
            return False

    async def run(self) -> None:
        """Write queued Events until cancelled (what is still queued then is dropped)."""
        await asyncio.gather(*(self._send() for _ in range(self.senders)))

    async def drained(self) -> None:
        """Return once every Event posted so far was written or given up."""
        await self.queue.join()

    async def _send(self) -> None:
        while True:
            pending = await self.queue.get()
            try:
                delay = self.bucket.wait_time()
                if delay > 0:
                    await self.sleep(delay)
                await self._write(pending)
            finally:
                self.queue.task_done()

    async def _write(self, pending: Pending) -> None:
        reason, kind = pending.body.get("reason", ""), pending.body.get("type", "")
        try:
            await self.kube.create(pending.path, pending.body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort: an Event never fails anything
            self.metrics.event_dropped("refused")
            self.failure_log.warning(
                "write", "could not post event %s: %s", reason, exc, extra=dict(pending.fields)
            )
            return
        self.failure_log.recovered("write", "events are posted again")
        self.metrics.inc("asyncaction_api_writes_total", {"resource": "events"})
        self.metrics.event(kind, reason)


__all__ = ["EventApi", "EventSender", "TokenBucket"]
