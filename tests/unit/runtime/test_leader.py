"""The elector's decisions against an in-memory Lease and a fake monotonic clock."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest

from asyncaction.kube import AlreadyExists, ApiError, Conflict, KubeClient, NotFound
from asyncaction.runtime.leader import LeaderElector, LeaseRefused, Observation, may_take


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LeaseApi:
    """One Lease in memory with resourceVersion preconditions, as the API server keeps it."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stall = False
        self.unstalled = asyncio.Event()
        self.fail_with: BaseException | None = None

    async def _enter(self, verb: str, options: dict[str, Any]) -> None:
        self.calls.append((verb, options))
        if self.fail_with is not None:
            raise self.fail_with
        if self.stall:
            await self.unstalled.wait()

    def _bump(self) -> dict[str, Any]:
        assert self.lease is not None
        self.version += 1
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    async def get(self, path: str, **options: Any) -> dict[str, Any]:
        await self._enter("get", options)
        if self.lease is None:
            raise NotFound(404, "NotFound", path)
        return copy.deepcopy(self.lease)

    async def create(self, path: str, body: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        await self._enter("create", options)
        if self.lease is not None:
            raise AlreadyExists(409, "AlreadyExists", path)
        self.lease = copy.deepcopy(dict(body))
        return self._bump()

    async def patch(
        self, path: str, body: Mapping[str, Any] | list[Any], **options: Any
    ) -> dict[str, Any]:
        await self._enter("patch", options)
        assert isinstance(body, Mapping)
        assert self.lease is not None
        if body["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", path)
        for key, value in body["spec"].items():
            self.lease["spec"][key] = value
        return self._bump()

    def take(self, holder: str) -> None:
        """Another replica writes the Lease."""
        assert self.lease is not None
        self.lease["spec"]["holderIdentity"] = holder
        self._bump()


def elector(api: LeaseApi, identity: str, clock: Clock, **timings: Any) -> LeaderElector:
    kube: Any = api
    typed: KubeClient = kube
    return LeaderElector(
        typed,
        "ns",
        "lease",
        identity=identity,
        clock=clock,
        **{"lease_seconds": 15, "renew_seconds": 2.0, "renew_deadline": 10.0, **timings},
    )


def test_may_take_decisions() -> None:
    seen = Observation(holder="a", resource_version="7", lease_seconds=15, at=100.0)
    assert may_take(seen, "a", 100.0)  # our own Lease: renew at any time
    assert not may_take(seen, "b", 114.9)  # held, seen unchanged for less than its duration
    assert may_take(seen, "b", 115.0)  # seen unchanged for its whole duration
    free = Observation(holder="", resource_version="8", lease_seconds=15, at=100.0)
    assert may_take(free, "b", 100.0)  # released: no wait


def test_timings_must_leave_the_leader_time_to_stop() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        elector(LeaseApi(), "a", Clock(), renew_deadline=15.0)


@pytest.mark.asyncio
async def test_expiry_is_judged_by_when_the_change_was_seen_here() -> None:
    api, clock = LeaseApi(), Clock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert await a.try_acquire_or_renew()
    assert a.renewed_at == 1000.0
    assert api.lease is not None
    # The holder's renewTime says nothing to b: make it look ancient (clock skew).
    api.lease["spec"]["renewTime"] = "2000-01-01T00:00:00.000000Z"
    assert not await b.try_acquire_or_renew()  # first sight at t=1000
    assert b.observed == Observation("a", "1", 15.0, 1000.0)
    clock.now = 1010.0
    assert await a.try_acquire_or_renew()  # a renews: a new resourceVersion
    clock.now = 1016.0
    assert not await b.try_acquire_or_renew()  # b saw the change at 1016: wait from there
    assert b.observed == Observation("a", "2", 15.0, 1016.0)
    clock.now = 1030.9
    assert not await b.try_acquire_or_renew()
    clock.now = 1031.0
    assert await b.try_acquire_or_renew()  # unchanged for 15 s as seen by b
    assert api.lease["spec"]["holderIdentity"] == "b"
    assert api.lease["spec"]["leaseTransitions"] == 1
    assert b.renewed_at == 1031.0


@pytest.mark.asyncio
async def test_a_stale_view_loses_the_race_with_a_conflict() -> None:
    api, clock = LeaseApi(), Clock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert await a.try_acquire_or_renew()
    await a.release()
    assert api.lease is not None
    assert api.lease["spec"]["holderIdentity"] is None
    assert await b.try_acquire_or_renew()  # released: taken at once
    assert not await a.try_acquire_or_renew()  # b holds it now, a just saw that change


@pytest.mark.asyncio
async def test_every_lease_call_is_a_single_attempt() -> None:
    api, clock = LeaseApi(), Clock()
    a = elector(api, "a", clock)
    assert await a.try_acquire_or_renew(call_timeout=4.0)
    assert await a.try_acquire_or_renew(call_timeout=3.0)
    assert [verb for verb, _ in api.calls] == ["get", "create", "get", "patch"]
    assert all(options["retry"] is False for _, options in api.calls)
    assert [options["request_timeout"] for _, options in api.calls] == [4.0, 4.0, 3.0, 3.0]


async def leading(api: LeaseApi, **timings: Any) -> LeaderElector:
    a = LeaderElector(api, "ns", "lease", identity="a", **timings)
    await a.acquire()
    return a


FAST = {"lease_seconds": 3, "renew_seconds": 0.05, "renew_deadline": 0.5}


@pytest.mark.asyncio
async def test_a_stalled_renewal_is_lost_at_the_renew_deadline() -> None:
    api = LeaseApi()
    a = await leading(api, **FAST)
    api.stall = True
    await asyncio.wait_for(a.keep(), 10)  # returns: it does not wait on the stalled call
    assert a.lost.is_set()
    assert "renew deadline" in a.lost_reason
    assert a.remaining() <= 0


@pytest.mark.asyncio
async def test_any_exception_in_renewal_counts_as_a_failed_renewal() -> None:
    api = LeaseApi()
    a = await leading(api, **FAST)
    api.fail_with = aiohttp.ClientPayloadError("connection dropped mid-body")
    await asyncio.wait_for(a.keep(), 10)
    assert a.lost.is_set()
    assert "not renewed within the renew deadline" in a.lost_reason
    assert len(api.calls) > 3  # it kept trying until the deadline


@pytest.mark.asyncio
async def test_a_lease_taken_elsewhere_is_lost_at_once() -> None:
    api = LeaseApi()
    a = await leading(api, **FAST)
    api.take("b")
    await asyncio.wait_for(a.keep(), 10)
    assert a.lost_reason == "taken by b"
    await a.release()  # never releases a Lease it lost
    assert api.lease is not None
    assert api.lease["spec"]["holderIdentity"] == "b"


@pytest.mark.asyncio
async def test_a_healthy_leader_keeps_renewing() -> None:
    api = LeaseApi()
    a = await leading(api, **FAST)
    keeper = asyncio.create_task(a.keep())
    await asyncio.sleep(0.6)  # longer than the renew deadline
    assert not a.lost.is_set()
    assert api.version >= 3
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_lease_the_role_does_not_grant_is_refused_not_awaited_forever() -> None:
    api = LeaseApi()
    api.fail_with = ApiError(403, "Forbidden", 'leases "lease" is forbidden')
    a = LeaderElector(api, "ns", "lease", identity="a")
    with pytest.raises(LeaseRefused, match="lease ns/lease: 403 Forbidden"):
        await asyncio.wait_for(a.acquire(), 10)
