import asyncio
import time

import pytest

from asyncaction.wakeups import Wakeups


@pytest.mark.asyncio
async def test_sleep_times_out_without_wakeup() -> None:
    started = time.monotonic()
    await Wakeups().sleep("a", 0.05)
    assert time.monotonic() - started >= 0.05


@pytest.mark.asyncio
async def test_wakeup_cuts_the_sleep_short() -> None:
    wakeups = Wakeups()
    asyncio.get_running_loop().call_later(0.01, wakeups.wake, "a")
    started = time.monotonic()
    await wakeups.sleep("a", 5)
    assert time.monotonic() - started < 1


@pytest.mark.asyncio
async def test_wakeup_before_sleep_is_not_lost_and_is_consumed() -> None:
    wakeups = Wakeups()
    wakeups.wake("a")
    started = time.monotonic()
    await wakeups.sleep("a", 5)
    assert time.monotonic() - started < 1
    started = time.monotonic()
    await wakeups.sleep("a", 0.05)
    assert time.monotonic() - started >= 0.05
