"""A coalesced progress write patches from the cache, reading nothing (issue 14, goal:
throughput): every window of every running action used to GET the action before its
PATCH, which on the benchmark cost the API server and the hook more than the reports
themselves. The resourceVersion precondition still guards the write, and whatever the
cached summary cannot decide (a log tail to extend, a transition's conditions, a status
that may be near its size limit) is read fresh as before.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

import pytest

from asyncaction.kube import Conflict
from asyncaction_hook.cache import ActionCache
from asyncaction_hook.errors import HookError
from asyncaction_hook.limits import Limits, json_size
from asyncaction_hook.reports import Report
from asyncaction_hook.writer import Coalescer, StatusWriter
from tests.support.fed import FedDirectly

UID = "0b7e1c1e-6a1e-4c54-a1d5-7b0d2c9f3a11"


class ApiServer(FedDirectly):
    """One action; GETs counted; a PATCH whose resourceVersion is not the current one
    is a conflict, as on a real API server."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.action: dict[str, Any] = {
            "metadata": {"name": "a", "namespace": "ns", "uid": UID, "resourceVersion": "7"},
            "spec": {"template": {"spec": {}}},
            "status": status,
        }
        self.gets = 0
        self.patches: list[dict[str, Any]] = []

    async def get(self, path: str) -> dict[str, Any]:
        self.gets += 1
        return copy.deepcopy(self.action)

    async def patch(self, path: str, body: Mapping[str, Any] | list[Any]) -> dict[str, Any]:
        assert isinstance(body, dict)
        if body["metadata"]["resourceVersion"] != self.action["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        self.patches.append(body)
        self.action["status"].update(body["status"])
        version = int(self.action["metadata"]["resourceVersion"]) + 1
        self.action["metadata"]["resourceVersion"] = str(version)
        return copy.deepcopy(self.action)

    def operator_writes(self, **status: Any) -> None:
        """A write the hook's cache has not seen yet."""
        self.action["status"].update(status)
        version = int(self.action["metadata"]["resourceVersion"]) + 1
        self.action["metadata"]["resourceVersion"] = str(version)


def running(**extra: Any) -> dict[str, Any]:
    return {"phase": "RUNNING", "attempts": 1, "logTail": ["one"], "progress": 3, **extra}


def writer_for(api: ApiServer, limits: Limits | None = None) -> StatusWriter:
    cache = ActionCache(api)
    cache.put(copy.deepcopy(api.action))
    return StatusWriter(api, cache, limits or Limits())


@pytest.mark.asyncio
async def test_a_coalesced_progress_write_reads_nothing() -> None:
    api = ApiServer(running())
    coalescer = Coalescer(writer_for(api), window=0.05)
    coalescer.submit(UID, Report(progress=40, statusDetails={"step": "a"}), 1)
    await asyncio.sleep(0.01)  # the first report of an action is written at once
    coalescer.submit(UID, Report(progress=50), 1)
    coalescer.submit(UID, Report(progress=60), 1)
    await asyncio.sleep(0.15)
    await coalescer.close()
    assert api.gets == 0
    assert [p["metadata"] for p in api.patches] == [
        {"resourceVersion": "7"},
        {"resourceVersion": "8"},  # the first write's answer, cached
    ]
    assert [set(p["status"]) for p in api.patches] == [
        {"lastReportAt", "progress", "statusDetails"},
        {"lastReportAt", "progress"},
    ]
    assert api.action["status"]["progress"] == 60
    assert api.action["status"]["statusDetails"] == {"step": "a"}
    assert api.action["status"]["logTail"] == ["one"]


@pytest.mark.asyncio
async def test_a_stale_cache_conflicts_and_the_write_reads_fresh() -> None:
    api = ApiServer(running())
    writer = writer_for(api)
    api.operator_writes(phase="PAUSED")  # the cache still says RUNNING
    with pytest.raises(HookError) as refused:
        await writer.apply(UID, Report(progress=9), attempt=1, cached=True)
    assert (refused.value.status, refused.value.reason) == (409, "NOT_RUNNING")
    assert (api.gets, api.patches) == (1, [])
    api.operator_writes(phase="RUNNING", message="resumed")
    patched = await writer.apply(UID, Report(progress=9), attempt=1, cached=True)
    assert patched["status"]["progress"] == 9
    assert patched["status"]["message"] == "resumed"  # nothing of the operator's lost
    assert api.gets == 2


@pytest.mark.asyncio
async def test_log_lines_extend_the_tail_the_api_server_has() -> None:
    api = ApiServer(running())
    patched = await writer_for(api).apply(
        UID, Report(progress=9, logs=["two"]), attempt=1, cached=True
    )
    assert patched["status"]["logTail"] == ["one", "two"]
    assert api.gets == 1


@pytest.mark.asyncio
async def test_a_progress_report_of_a_starting_action_makes_it_running_with_conditions() -> None:
    api = ApiServer({"phase": "STARTING", "attempts": 1, "conditions": []})
    patched = await writer_for(api).apply(UID, Report(progress=1), attempt=1, cached=True)
    assert patched["status"]["phase"] == "RUNNING"
    assert [c["type"] for c in patched["status"]["conditions"]] != []
    assert api.gets == 1  # the transition's conditions come from the fresh status


@pytest.mark.asyncio
async def test_the_status_size_limit_decides_on_the_whole_status() -> None:
    big = {"statusDetails": {"blob": "x" * 900}}
    limits = Limits(max_status_bytes=json_size(running(**big)) + 60)
    api = ApiServer(running(**big))
    writer = writer_for(api, limits)
    # the cache cannot tell whether this fits (it replaces the blob): read, then it fits
    patched = await writer.apply(
        UID, Report(progress=9, statusDetails={"blob": "y" * 900}), attempt=1, cached=True
    )
    assert patched["status"]["statusDetails"] == {"blob": "y" * 900}
    assert api.gets == 1
    # and what does not fit is refused as before, nothing written
    with pytest.raises(HookError) as refused:
        await writer.apply(
            UID, Report(progress=9, statusDetails={"blob": "z" * 1000}), attempt=1, cached=True
        )
    assert (refused.value.status, refused.value.reason) == (413, "TOO_LARGE")
    assert len(api.patches) == 1


@pytest.mark.asyncio
async def test_an_upload_record_near_the_status_limit_is_checked_on_the_whole_status() -> None:
    big = {"statusDetails": {"blob": "x" * 900}}
    api = ApiServer(running(**big))
    writer = writer_for(api, Limits(max_status_bytes=json_size(running(**big)) + 40))
    entry = {"name": "out", "uri": "s3://b/" + "k" * 60, "md5": "0" * 32}

    async def add_pending(fresh: dict[str, Any]) -> dict[str, Any]:
        return {"pendingUploads": [entry]}

    with pytest.raises(HookError) as refused:
        await writer.apply(UID, None, extra=add_pending, attempt=1, cached=True)
    assert (refused.value.status, refused.value.reason) == (413, "TOO_LARGE")
    assert (api.gets, api.patches) == (1, [])
    # with room to spare, the record is written from the cache alone
    roomy = ApiServer(running(**big))
    await writer_for(roomy).apply(UID, None, extra=add_pending, attempt=1, cached=True)
    assert roomy.gets == 0
    assert roomy.patches[0]["status"] == {"pendingUploads": [entry]}
