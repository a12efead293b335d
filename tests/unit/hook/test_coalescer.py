import asyncio
import itertools
import time
from typing import Any

import pytest

from asyncaction_hook.reports import Report
from asyncaction_hook.writer import Coalescer


class FakeWriter:
    def __init__(self) -> None:
        self.writes: list[tuple[float, Report]] = []
        self.attempts: list[int | None] = []

    async def apply(
        self,
        uid: str,
        report: Report | None,
        extra: Any = None,
        attempt: int | None = None,
        cached: bool = False,
    ) -> dict[str, Any]:
        assert report is not None
        self.writes.append((time.monotonic(), report))
        self.attempts.append(attempt)
        return {}


@pytest.mark.asyncio
async def test_at_most_one_write_per_window_and_the_last_value_wins() -> None:
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=0.2)  # type: ignore[arg-type]
    started = time.monotonic()
    for n in range(200):
        coalescer.submit("a", Report(progress=n // 2))
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.3)
    assert len(writer.writes) <= elapsed / 0.2 + 2
    times = [t for t, _ in writer.writes]
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(times))
    assert writer.writes[-1][1].progress == 99


@pytest.mark.asyncio
async def test_take_absorbs_pending_and_close_flushes() -> None:
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=10)  # type: ignore[arg-type]
    coalescer.submit("a", Report(progress=10))
    await asyncio.sleep(0.01)  # first write goes out at once
    coalescer.submit("a", Report(progress=20, logs=["x"]))
    taken = coalescer.take("a")
    assert taken is not None
    assert taken.progress == 20
    coalescer.submit("b", Report(progress=1))
    coalescer.submit("b", Report(progress=2))
    await coalescer.close()
    assert [r.progress for _, r in writer.writes] == [10, 2]


@pytest.mark.asyncio
async def test_pending_reports_stay_bound_to_their_attempt() -> None:
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=10)  # type: ignore[arg-type]
    coalescer.submit("a", Report(progress=10, logs=["from 1"]), 1)
    await asyncio.sleep(0.01)
    coalescer.submit("a", Report(progress=20, logs=["late from 1"]), 1)
    coalescer.submit("a", Report(progress=5), 2)  # attempt 2 replaces, never merges
    assert coalescer.take("a", 1) is None  # a terminal report of attempt 1 absorbs nothing
    coalescer.submit("a", Report(progress=6), 2)
    await coalescer.close()
    assert writer.attempts == [1, 2]
    assert writer.writes[-1][1].logs is None


@pytest.mark.asyncio
async def test_pending_log_lines_are_bounded_by_the_tail() -> None:
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=10, keep_lines=5)  # type: ignore[arg-type]
    coalescer.submit("a", Report(progress=1))
    await asyncio.sleep(0.01)
    for n in range(100):
        coalescer.submit("a", Report(logs=[f"line {n}", f"more {n}"]))
    taken = coalescer.take("a")
    assert taken is not None
    assert taken.logs == ["more 97", "line 98", "more 98", "line 99", "more 99"]
