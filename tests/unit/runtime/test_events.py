"""Events off the reconcile path: queued at once, written in order, paced, bounded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from asyncaction.kube import ApiError
from asyncaction.runtime.events import EventSender, TokenBucket
from asyncaction.runtime.metrics import Metrics

PATH = "/api/v1/namespaces/ns/events"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Api:
    """Records each create; ``gate`` holds every answer until it is set."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse: set[str] = set()

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await self.gate.wait()
        if body["reason"] in self.refuse:
            raise ApiError(403, "Forbidden", "events are forbidden")
        self.written.append((path, body["reason"]))
        return dict(body)


def event(reason: str, type: str = "Normal") -> dict[str, Any]:
    return {"type": type, "reason": reason, "message": reason.lower()}


def test_the_bucket_gives_a_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10.0, burst=3, clock=clock)
    assert [bucket.wait_time() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.wait_time() == pytest.approx(0.1)  # reserved: the 4th waits 100 ms
    assert bucket.wait_time() == pytest.approx(0.2)  # the 5th waits behind it
    clock.now += 1.0  # ten tokens' worth of time, less the two reserved, capped at 3
    assert bucket.tokens == pytest.approx(-2.0)
    assert bucket.wait_time() == 0.0
    assert bucket.tokens == pytest.approx(3.0 - 1)


@pytest.mark.asyncio
async def test_post_returns_before_the_api_server_answers_and_order_is_kept() -> None:
    api, metrics = Api(), Metrics()
    api.gate.clear()  # the API server does not answer yet
    sender = EventSender(api, metrics, senders=1)
    assert sender.post(PATH, event("Queued"), {}) is True
    assert sender.post(PATH, event("Started"), {}) is True
    assert len(sender) == 2
    assert api.written == []
    task = asyncio.create_task(sender.run())
    try:
        api.gate.set()
        await asyncio.wait_for(sender.drained(), 5)
    finally:
        task.cancel()
    assert api.written == [(PATH, "Queued"), (PATH, "Started")]
    assert metrics.total("asyncaction_events_total") == 2
    assert metrics.samples()['asyncaction_api_writes_total{resource="events"}'] == 2
    assert len(sender) == 0


@pytest.mark.asyncio
async def test_a_full_queue_drops_the_newest_counts_and_warns_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, metrics, clock = Api(), Metrics(), Clock()
    sender = EventSender(api, metrics, capacity=2, clock=clock)
    caplog.set_level(logging.WARNING, "asyncaction.runtime.events")
    about = {"action": {"namespace": "ns", "name": "a"}}
    results = [sender.post(PATH, event(f"E{n}"), about) for n in range(5)]
    assert results == [True, True, False, False, False]
    drops = 'asyncaction_events_dropped_total{reason="queue_full"}'
    assert metrics.samples()[drops] == 3
    [warning] = caplog.records  # one warning for the three, not three
    assert "event queue full (2): dropped 1 events" in warning.getMessage()
    clock.now += 10.0
    assert sender.post(PATH, event("E5"), about) is False
    assert "dropped 3 events" in caplog.records[-1].getMessage()  # the two since, and this
    task = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(sender.drained(), 5)
    finally:
        task.cancel()
    assert [reason for _, reason in api.written] == ["E0", "E1"]


@pytest.mark.asyncio
async def test_a_refused_event_is_logged_counted_and_the_next_one_still_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, metrics = Api(), Metrics()
    api.refuse.add("Denied")
    sender = EventSender(api, metrics, senders=1)
    caplog.set_level(logging.WARNING, "asyncaction.runtime.events")
    sender.post(PATH, event("Denied", "Warning"), {"action": {"name": "a"}})
    sender.post(PATH, event("Started"), {})
    task = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(sender.drained(), 5)
        assert not task.done()  # the senders go on
    finally:
        task.cancel()
    assert api.written == [(PATH, "Started")]
    assert metrics.samples()['asyncaction_events_dropped_total{reason="refused"}'] == 1
    assert "could not post event Denied: 403" in caplog.text
    assert caplog.records[-1].__dict__["action"] == {"name": "a"}


@pytest.mark.asyncio
async def test_beyond_the_burst_events_wait_for_the_pace() -> None:
    api, metrics, clock = Api(), Metrics(), Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0)

    sender = EventSender(api, metrics, rate=4.0, burst=2, senders=1, clock=clock, sleep=sleep)
    for n in range(4):
        sender.post(PATH, event(f"E{n}"), {})
    task = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(sender.drained(), 5)
    finally:
        task.cancel()
    assert [reason for _, reason in api.written] == ["E0", "E1", "E2", "E3"]
    assert slept == [pytest.approx(0.25), pytest.approx(0.25)]  # two at once, then 4/s


@pytest.mark.asyncio
async def test_events_refused_one_after_another_are_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the API server refuses Events (down, RBAC), a line an interval, not one per
    Event; every refusal is still counted."""
    api, metrics = Api(), Metrics()
    api.refuse.add("Denied")
    sender = EventSender(api, metrics, senders=1)
    caplog.set_level(logging.WARNING, "asyncaction.runtime.events")
    for _ in range(10):
        sender.post(PATH, event("Denied", "Warning"), {})
    task = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(sender.drained(), 5)
    finally:
        task.cancel()
    assert metrics.samples()['asyncaction_events_dropped_total{reason="refused"}'] == 10
    assert [r.getMessage() for r in caplog.records] == [
        "could not post event Denied: 403 Forbidden: events are forbidden"
    ]
