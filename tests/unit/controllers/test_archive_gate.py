"""Archive uploads while the store hangs or fails: few workers held, failing fast after.

Found by a review: an S3 endpoint that accepts connections and never answers held each
reconcile worker for botocore's default timeouts (three minutes); once as many TTLs had
expired as there are workers, no action in any namespace was reconciled.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncaction.controllers.archive_gate import ArchiveGate, ArchiveUnavailable
from asyncaction.logthrottle import is_transient
from asyncaction.stores import S3_CONNECT_TIMEOUT, S3_READ_TIMEOUT, Store


class HangingStore:
    """``put`` waits until ``answer`` is set, then fails or stores as it says."""

    name = "archive"

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.fail = True
        self.puts = 0

    async def put(self, key: str, body: bytes, content_type: str) -> str:
        self.puts += 1
        await self.answer.wait()
        if self.fail:
            raise ConnectionError("Read timeout on endpoint URL")
        return f"s3://b/{key}"


@pytest.mark.asyncio
async def test_a_hanging_store_holds_at_most_the_slots_then_fails_fast_until_a_probe() -> None:
    now = [100.0]
    gate = ArchiveGate(slots=2, base=5.0, clock=lambda: now[0])
    hanging = HangingStore()
    store: Any = hanging
    held = [asyncio.create_task(gate.put(store, key, b"{}", "application/json")) for key in "ab"]
    await asyncio.sleep(0)
    with pytest.raises(ArchiveUnavailable, match="2 upload"):  # no third worker waits
        await gate.put(store, "k3", b"{}", "application/json")
    hanging.answer.set()  # the timeouts fire
    for task in held:
        with pytest.raises(ConnectionError):
            await task
    assert hanging.puts == 2
    with pytest.raises(ArchiveUnavailable) as down:  # failing fast, no S3 call
        await gate.put(store, "k4", b"{}", "application/json")
    assert is_transient(down.value)  # a warning, throttled, not a traceback
    assert "failed 2 time(s) in a row (ConnectionError: Read timeout" in str(down.value)
    assert hanging.puts == 2
    now[0] += 10.0  # past 5 s * 2: one probe
    hanging.fail = False
    assert await gate.put(store, "k5", b"{}", "application/json") == "s3://b/k5"
    assert (gate.failures, gate.in_flight) == (0, 0)


def test_the_s3_client_gives_up_within_a_minute() -> None:
    store = Store("s", {"bucket": "b", "endpoint": "http://127.0.0.1:9"}, 60)
    config: Any = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (S3_CONNECT_TIMEOUT, S3_READ_TIMEOUT)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}
    assert (S3_CONNECT_TIMEOUT + S3_READ_TIMEOUT) * 2 < 60
