import asyncio
import itertools
import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest

from asyncaction.kube import ApiError
from asyncaction_hook import writer as writer_module
from asyncaction_hook.logs import about_uid
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

    def about(self, uid: str) -> dict[str, Any]:
        return about_uid(lambda _: None, uid)  # what a writer whose cache lacks it logs


@pytest.mark.asyncio
async def test_at_most_one_write_per_window_and_the_last_value_wins() -> None:
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=0.2)
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
async def test_the_first_report_goes_out_at_once_on_a_host_booted_moments_ago(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The monotonic clock counts from the host's boot. Five seconds after it, with a
    window of 60 s, the first report of an action must not wait 55 s for a write that
    never happened (the hook's own report path test failed on a machine up 18 minutes
    with its window of an hour)."""
    monkeypatch.setattr(writer_module, "time", SimpleNamespace(monotonic=lambda: 5.0))
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=60)
    coalescer.submit("a", Report(progress=10))
    for _ in range(100):  # a few turns of the loop, not a time
        await asyncio.sleep(0)
    assert [r.progress for _, r in writer.writes] == [10]
    coalescer.submit("a", Report(progress=20))  # the next one waits for its window
    for _ in range(100):
        await asyncio.sleep(0)
    assert [r.progress for _, r in writer.writes] == [10]
    assert coalescer.take("a") == Report(progress=20)


@pytest.mark.asyncio
async def test_take_absorbs_pending_and_close_flushes() -> None:
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=10)
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
    coalescer = Coalescer(writer, window=10)
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
    coalescer = Coalescer(writer, window=10, keep_lines=5)
    coalescer.submit("a", Report(progress=1))
    await asyncio.sleep(0.01)
    for n in range(100):
        coalescer.submit("a", Report(logs=[f"line {n}", f"more {n}"]))
    taken = coalescer.take("a")
    assert taken is not None
    assert taken.logs == ["more 97", "line 98", "more 98", "line 99", "more 99"]


class FlakyWriter(FakeWriter):
    """Refuses its first ``failures`` writes as an API server that is down would."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures = failures
        self.error = error
        self.refused = asyncio.Event()  # set at each refusal
        self.written = asyncio.Event()

    async def apply(
        self,
        uid: str,
        report: Report | None,
        extra: Any = None,
        attempt: int | None = None,
        cached: bool = False,
    ) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            self.refused.set()
            raise self.error
        self.written.set()
        return await super().apply(uid, report, extra, attempt, cached)


@pytest.mark.asyncio
async def test_a_report_whose_write_the_api_server_refused_is_written_later_merged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage of three writes: the job's last progress is not lost (it may not report
    again for a long while), what it reported meanwhile merges over it, and the outage
    is one log line, not one per write."""
    caplog.set_level(logging.INFO, "asyncaction_hook.writer")
    writer = FlakyWriter(3, ApiError(503, "ServiceUnavailable", "the API server is down"))
    coalescer = Coalescer(writer, window=0.01)
    coalescer.submit("a", Report(progress=10, statusDetails={"step": "load"}), attempt=1)
    await writer.refused.wait()  # the first of three refusals
    coalescer.submit("a", Report(progress=20, logs=["x"]), attempt=1)
    await writer.written.wait()
    await coalescer.close()
    [(_, written)] = writer.writes
    assert written.model_dump(exclude_none=True) == {
        "progress": 20,
        "status_details": {"step": "load"},
        "logs": ["x"],
    }
    assert writer.attempts == [1]
    assert coalescer.tracked <= 1  # the flush time; nothing pending
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "could not write coalesced report for a (503 ServiceUnavailable: the API server is"
        " down); it is kept and written again"
    ]


@pytest.mark.asyncio
async def test_a_refused_report_of_an_earlier_attempt_is_not_written_again() -> None:
    writer = FlakyWriter(1, ApiError(503, "ServiceUnavailable", "down"))
    coalescer = Coalescer(writer, window=0.01)
    coalescer.submit("a", Report(progress=10), attempt=1)
    await writer.refused.wait()
    coalescer.submit("a", Report(progress=1), attempt=2)  # the next attempt started
    await writer.written.wait()
    await coalescer.close()
    assert [(r.progress, a) for (_, r), a in zip(writer.writes, writer.attempts, strict=True)] == [
        (1, 2)
    ]


@pytest.mark.asyncio
async def test_a_write_that_retrying_cannot_fix_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = FlakyWriter(1, KeyError("status"))
    coalescer = Coalescer(writer, window=0.01)
    coalescer.submit("a", Report(progress=10), attempt=1)
    await writer.refused.wait()
    await asyncio.sleep(0.05)  # ten windows: nothing is written again
    await coalescer.close()
    assert writer.writes == []
    [record] = [r for r in caplog.records if r.name == "asyncaction_hook.writer"]
    assert record.exc_info is not None
    assert record.getMessage() == "could not write coalesced report for a"


@pytest.mark.asyncio
async def test_a_report_put_back_after_a_failed_write_yields_to_what_arrived_meanwhile() -> None:
    writer = FakeWriter()
    coalescer = Coalescer(writer, window=3600)
    coalescer.submit("a", Report(progress=1))  # the first write goes at once
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    coalescer.submit("a", Report(progress=40, statusDetails={"step": 4}, logs=["four"]))
    taken = coalescer.take("a")  # a terminal report took it; its write is failing
    assert taken is not None
    coalescer.submit("a", Report(progress=50, logs=["five"]))  # arrived meanwhile
    coalescer.put_back("a", taken)
    again = coalescer.take("a")
    assert again is not None
    assert (again.progress, again.status_details, again.logs) == (50, {"step": 4}, ["four", "five"])
    coalescer.put_back("a", taken, attempt=2)  # nothing pending: pending again, as taken
    stale = coalescer.take("a", attempt=2)
    assert stale is not None
    assert stale.progress == 40
    coalescer.forget("a")
