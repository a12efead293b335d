"""What a successor of a shard refuses, from what its predecessor handed over (pure), and
the hand-over itself over an in-memory Lease."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest

from asyncaction.kube import Conflict, NotFound
from asyncaction_hook.fence import (
    ACCEPTED_UNTIL,
    PER_ACTION,
    PER_ACTION_FROM,
    AcceptedLog,
    Handover,
    ShardFence,
)


def test_after_a_crash_everything_up_to_the_promise_is_refused() -> None:
    annotations = {
        ACCEPTED_UNTIL: "5000",
        PER_ACTION_FROM: "1000",  # never trusted from a holder that did not release
        PER_ACTION: json.dumps({"a": 1500}),
    }
    handover = Handover.from_annotations(annotations, clean=False)
    assert handover == Handover(5000)
    assert handover.refuses("a", 5000)
    assert handover.refuses("b", 4999)
    assert not handover.refuses("b", 5001)


def test_a_clean_release_refuses_only_what_each_action_had_signed() -> None:
    annotations = {
        ACCEPTED_UNTIL: "9000",
        PER_ACTION_FROM: "3000",
        PER_ACTION: json.dumps({"a": 4000}),
    }
    handover = Handover.from_annotations(annotations, clean=True)
    assert handover == Handover(9000, 3000, {"a": 4000})
    assert handover.refuses("a", 4000)  # the predecessor accepted it: a replay
    assert handover.refuses("a", 3500)
    assert not handover.refuses("a", 4001)  # signed after its last accepted request
    assert not handover.refuses("b", 3000)  # b sent nothing to the predecessor since 3000
    assert handover.refuses("b", 2999)  # before the hand-over window: the global bound


def test_a_garbled_or_missing_hand_over_falls_back_to_the_global_bound() -> None:
    assert Handover.from_annotations({}, clean=True) == Handover(0)
    garbled = {ACCEPTED_UNTIL: "7", PER_ACTION_FROM: "1", PER_ACTION: "not json"}
    assert Handover.from_annotations(garbled, clean=True) == Handover(7)


def test_the_accepted_log_gives_the_newest_time_per_action_since_a_moment() -> None:
    log = AcceptedLog(keep_ms=60_000)
    log.record("a", 10_100)
    log.record("a", 10_900)
    log.record("b", 11_500)
    log.record("c", 9_000)
    assert log.newest_ms == 11_500
    assert log.since(10_500) == {"a": 10_900, "b": 11_500}
    assert log.since(12_000) == {}
    for second in range(200):  # old seconds are dropped as time goes on
        log.record("d", 20_000 + second * 1000)
    assert log.since(0).keys() == {"d"}


class LeaseApi:
    """One namespace's Leases in memory, with resourceVersion conflicts as the API has."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0

    def _stamp(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def get(self, path: str) -> dict[str, Any]:
        name = path.rsplit("/", 1)[1]
        if name not in self.leases:
            raise NotFound(404, "NotFound", f"lease {name} not found")
        return copy.deepcopy(self.leases[name])

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if body["metadata"]["name"] in self.leases:
            raise Conflict(409, "AlreadyExists", "exists")
        return self._stamp(body)

    async def request(self, method: str, path: str, *, body: Mapping[str, Any]) -> dict[str, Any]:
        assert method == "PUT"
        current = self.leases[path.rsplit("/", 1)[1]]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        return self._stamp(body)

    async def patch(self, path: str, body: Mapping[str, Any] | list[Any]) -> dict[str, Any]:
        assert isinstance(body, Mapping)
        current = copy.deepcopy(self.leases[path.rsplit("/", 1)[1]])
        current["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        return self._stamp(current)


def fence(api: LeaseApi, identity: str, now: list[int]) -> ShardFence:
    return ShardFence(
        api,
        "ns",
        "hook-shard-0",
        future_ms=1000,
        duration_s=6,
        identity=identity,
        clock_ms=lambda: now[0],
    )


@pytest.mark.asyncio
async def test_a_successor_announced_before_it_listens_gets_a_per_action_hand_over() -> None:
    """The holder releases right after the successor started listening: requests the
    successor held meanwhile, signed before another job's newer report, are answered.
    (Announced from inside the wait for the Lease, the announcement could land after the
    release: the successor then refused them all, and seed-era jobs failed a rollout.)"""
    api, now = LeaseApi(), [100_000]
    old = fence(api, "old", now)
    await old.acquire()
    new = fence(api, "new", now)
    now[0] = 101_000
    await new.announce()  # as the hook's main does, before its site starts
    old.accepted.record("job-a", 101_200)  # the old process answered a's report...
    old.accepted.record("job-b", 101_400)  # ...and b's newer one
    now[0] = 101_500
    await old.release()  # SIGTERM: it stops listening and hands over
    await asyncio.wait_for(new.acquire(), 5)
    # job a's next report, signed at 101,300 and held by the new process meanwhile
    assert new.refuses("job-a", 101_300) is None
    assert new.refuses("job-a", 101_200) is not None  # a replay of what old accepted
    assert new.refuses("job-b", 101_400) is not None
    assert new.refuses("job-c", 101_000) is None  # c sent nothing to the old one since


@pytest.mark.asyncio
async def test_a_successor_that_waited_longer_than_the_log_keeps_is_handed_over_safely() -> None:
    """The accepted log keeps recent seconds only (``keep_ms``), the replay window is
    longer. A successor that waited over two minutes was handed over per action from
    when it announced itself, with the oldest of those seconds already forgotten: a
    replay of what the holder accepted then was accepted again (found by review). The
    per-action part now starts where the log is complete; before it, the global bound."""
    api, now = LeaseApi(), [1_000_000]
    old = fence(api, "old", now)
    old.future_ms = 5_000
    await old.acquire()
    new = fence(api, "new", now)
    new.future_ms = 5_000
    await new.announce()  # waits from 1,000,000
    old.accepted.record("job-x", 1_001_000)  # x's last report, 139 s before the release
    for second in range(2, 140):  # others report on
        old.accepted.record("job-y", 1_000_000 + second * 1000)
    now[0] = 1_140_000
    await old.release()
    await asyncio.wait_for(new.acquire(), 5)
    assert new.refuses("job-x", 1_001_000) is not None  # a replay: inside the 300 s window
    assert new.refuses("job-y", 1_139_000) is not None
    assert new.refuses("job-x", 1_139_500) is None  # x's next report, held meanwhile


@pytest.mark.asyncio
async def test_a_process_that_creates_the_lease_fences_as_a_restart_does() -> None:
    """No Lease (a shard added by a change of the shard count, a renamed Lease, a switch
    from the start fence to Leases) is no record of what earlier processes accepted: the
    process that created it refused nothing, and a request another process had accepted
    seconds before was accepted again (found by review). It now refuses anything signed
    before it took the shard; a job that starts with it reports at once (a fence up to
    start + future, as without a Lease, failed seed-style jobs on their first report)."""
    api, now = LeaseApi(), [10_000_000]
    first = fence(api, "first", now)
    first.future_ms = 5_000
    await first.acquire()
    assert first.refuses("job-x", now[0] - 10_000) is not None
    assert first.refuses("job-x", now[0]) is not None
    assert first.refuses("job-x", now[0] + 1) is None


@pytest.mark.asyncio
async def test_announcing_with_no_holder_writes_nothing() -> None:
    api, now = LeaseApi(), [100_000]
    await fence(api, "new", now).announce()  # no Lease yet
    assert api.leases == {}
    first = fence(api, "first", now)
    await first.acquire()
    await first.release()
    version = api.version
    await fence(api, "new", now).announce()  # released: nobody to tell
    assert api.version == version
