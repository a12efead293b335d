"""The bound on coalesced status writes (``asyncaction_hook.pacing``).

The pacer's own arithmetic runs on a fake clock whose ``sleep`` moves it, so every wait
is asserted exactly; the coalescer with a pacer runs on the real loop, asserting only
what no machine speed can change (an upper bound on writes, and the last value of every
action written).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from asyncaction_hook.main import parse_args
from asyncaction_hook.pacing import WritePacer
from asyncaction_hook.reports import Report
from asyncaction_hook.writer import Coalescer
from tests.support.approx import about


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


def pacer(rate: float, burst: int, fake: FakeTime) -> WritePacer:
    return WritePacer(rate, burst, clock=fake.clock, sleep=fake.sleep)


@pytest.mark.asyncio
async def test_a_burst_goes_at_once_then_one_turn_per_interval() -> None:
    fake = FakeTime()
    paced = pacer(10, 3, fake)
    for _ in range(3):
        await paced.turn()
    assert fake.sleeps == []
    assert paced.lag() == pytest.approx(0.1)
    await paced.turn()  # the fourth waits one interval
    assert fake.sleeps == [0.1]
    assert (paced.delayed, paced.waited_seconds) == (1, about(0.1))
    fake.now += 10  # idle: the burst is saved again, no more
    for _ in range(3):
        await paced.turn()
    assert fake.sleeps == [0.1]
    assert paced.lag() == pytest.approx(0.1)


@pytest.mark.asyncio
async def test_waiting_callers_are_served_in_the_order_they_asked() -> None:
    fake = FakeTime()
    paced = pacer(4, 1, fake)
    frozen_sleeps: list[float] = []

    async def record(seconds: float) -> None:  # the clock stands still while they queue
        frozen_sleeps.append(seconds)

    paced.sleep = record
    for _ in range(5):
        await paced.turn()
    assert frozen_sleeps == [0.25, 0.5, 0.75, 1.0]
    assert paced.lag() == pytest.approx(1.25)
    assert paced.waited_seconds == pytest.approx(2.5)


@pytest.mark.asyncio
async def test_a_cancelled_wait_gives_its_turn_back() -> None:
    fake = FakeTime()
    paced = pacer(2, 1, fake)
    blocked = asyncio.Event()

    async def never(seconds: float) -> None:
        fake.sleeps.append(seconds)
        await blocked.wait()

    await paced.turn()  # the burst
    paced.sleep = never
    waiter = asyncio.create_task(paced.turn())
    await asyncio.sleep(0)
    assert fake.sleeps == [0.5]
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert paced.lag() == pytest.approx(0.5)  # the next caller gets the same turn
    paced.sleep = fake.sleep
    await paced.turn()
    assert fake.sleeps == [0.5, 0.5]


@pytest.mark.asyncio
async def test_rate_zero_never_waits_and_bad_settings_are_named() -> None:
    fake = FakeTime()
    unbounded = pacer(0, 1, fake)
    for _ in range(1000):
        await unbounded.turn()
    assert (fake.sleeps, unbounded.delayed, unbounded.lag()) == ([], 0, 0.0)
    with pytest.raises(ValueError, match="rate must be >= 0 and burst >= 1, got -1 and 1"):
        WritePacer(-1, 1)
    with pytest.raises(ValueError, match="got 5 and 0"):
        WritePacer(5, 0)


class CountingWriter:
    def __init__(self) -> None:
        self.writes: list[tuple[str, int | None]] = []

    async def apply(
        self,
        uid: str,
        report: Report | None,
        extra: Any = None,
        attempt: int | None = None,
        cached: bool = False,
    ) -> dict[str, Any]:
        assert report is not None
        self.writes.append((uid, report.progress))
        return {}

    def about(self, uid: str) -> dict[str, Any]:
        return {"uid": uid}


@pytest.mark.asyncio
async def test_many_actions_share_the_write_rate_and_none_loses_its_last_report() -> None:
    """30 actions report without pause with a window of 10 ms: unpaced that is up to
    3,000 writes a second; paced at 40 a second, at most 40 a second plus the burst,
    and every action's last progress is written in the end."""
    writer = CountingWriter()
    coalescer = Coalescer(writer, window=0.01, pacer=WritePacer(40, 5))
    uids = [f"a-{n}" for n in range(30)]
    started = time.monotonic()
    for step in range(1, 51):
        for uid in uids:
            coalescer.submit(uid, Report(progress=step))
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    written_while_running = len(writer.writes)
    await coalescer.close()
    assert written_while_running <= 40 * elapsed + 5 + 1
    last = dict(writer.writes)
    assert last == dict.fromkeys(uids, 50)


@pytest.mark.asyncio
async def test_without_a_pacer_the_coalescer_is_bounded_by_its_window_alone() -> None:
    writer = CountingWriter()
    coalescer = Coalescer(writer, window=0.01)
    assert coalescer.pacer.rate == 0
    coalescer.submit("a", Report(progress=1))
    await asyncio.sleep(0.05)
    assert writer.writes == [("a", 1)]
    await coalescer.close()


def test_the_flags_reach_the_settings_and_refuse_nonsense(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    keys.write_text("k" * 48)
    base = ["--kubeconfig", "x", "--master-keys-file", str(keys)]
    args = parse_args(base)
    assert (args.status_writes_per_second, args.status_writes_burst) == (100.0, 100)
    args = parse_args([*base, "--status-writes-per-second", "0", "--status-writes-burst", "7"])
    assert (args.status_writes_per_second, args.status_writes_burst) == (0.0, 7)
    for flag, value, message in (
        ("--status-writes-per-second", "-1", "--status-writes-per-second must be 0"),
        ("--status-writes-burst", "0", "--status-writes-burst must be at least 1"),
    ):
        with pytest.raises(SystemExit):
            parse_args([*base, flag, value])
        assert message in capsys.readouterr().err
