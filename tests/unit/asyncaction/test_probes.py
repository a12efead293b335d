"""The health endpoints answer from the process: liveness, readiness by role, figures."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from asyncaction.handlers import Runtime
from asyncaction.probes import Lifeline, Probes, Readiness
from asyncaction.settings import OperatorSettings


class FakeManager:
    def __init__(self, settings: OperatorSettings | None = None) -> None:
        self.settings = settings or OperatorSettings()
        self.caches_synced = asyncio.Event()
        self.synced = asyncio.Event()
        self.leading = False

    def figures(self) -> dict[str, float]:
        return {"asyncaction_leader": 1.0 if self.leading else 0.0}


def test_readiness_by_role() -> None:
    runtime = Runtime(OperatorSettings(), Lifeline())
    assert runtime.readiness() == Readiness("starting", False)
    manager: Any = FakeManager()
    runtime.manager = manager
    assert runtime.readiness() == Readiness("standby", True)  # waits for the Lease
    manager.leading = True
    assert runtime.readiness() == Readiness("syncing", False)
    manager.synced.set()
    assert runtime.readiness() == Readiness("leader", True)


def test_a_warm_standby_is_ready_once_its_caches_synced() -> None:
    settings = OperatorSettings(warm_standby=True)
    runtime = Runtime(settings, Lifeline())
    manager: Any = FakeManager(settings)
    runtime.manager = manager
    # not ready while listing: a rollout waits until it could take over at once
    assert runtime.readiness() == Readiness("syncing", False)
    manager.caches_synced.set()
    assert runtime.readiness() == Readiness("standby", True)
    manager.leading = True  # took the Lease; admission opens at once
    assert runtime.readiness() == Readiness("syncing", False)
    manager.synced.set()
    assert runtime.readiness() == Readiness("leader", True)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with session.get(url) as response:
        return response.status, await response.json()


@pytest.mark.asyncio
async def test_liveness_readiness_and_metrics_over_http() -> None:
    lifeline = Lifeline()  # embedded: no stop flag, the failure is only recorded
    state = {"now": Readiness("syncing", False)}
    probes = Probes(lifeline, lambda: state["now"], lambda: {"asyncaction_leader": 1.0})
    base = await probes.start("http://127.0.0.1:0/livez")
    try:
        async with aiohttp.ClientSession() as session:
            status, body = await get(session, base + "/livez")
            assert status == 200
            assert body["alive"] is True
            assert await get(session, base + "/readyz") == (
                503,
                {"ready": False, "role": "syncing"},
            )
            state["now"] = Readiness("leader", True)
            assert await get(session, base + "/readyz") == (200, {"ready": True, "role": "leader"})
            assert await get(session, base + "/metrics") == (200, {"asyncaction_leader": 1.0})
            lifeline.fail("leadership lost (taken by b)")
            status, body = await get(session, base + "/livez")
            assert status == 500
            assert body["reason"] == "leadership lost (taken by b)"
            assert await get(session, base + "/readyz") == (503, {"ready": False, "role": "failed"})
    finally:
        await probes.stop()
    assert lifeline.exit_code == 1


@pytest.mark.asyncio
async def test_a_failure_sets_the_stop_flag_once() -> None:
    lifeline = Lifeline(stop_flag=asyncio.Event(), grace_seconds=3600)
    lifeline.fail("first")
    lifeline.fail("second")
    assert lifeline.stop_flag is not None
    assert lifeline.stop_flag.is_set()
    assert (lifeline.exit_code, lifeline.reason) == (1, "first")
    assert lifeline._timer is not None
    lifeline._timer.cancel()
