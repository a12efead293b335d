"""A stopped attempt writes nothing, uploads included (issue 13, item 7)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from asyncaction_hook.cache import ActionCache
from asyncaction_hook.errors import HookError
from asyncaction_hook.limits import Limits
from asyncaction_hook.reports import Report
from asyncaction_hook.writer import StatusWriter
from tests.support.fed import FedDirectly

UID = "0b7e1c1e-6a1e-4c54-a1d5-7b0d2c9f3a11"


class OneAction(FedDirectly):
    """An API server holding one action: GET answers it, PATCH merges into its status."""

    def __init__(self, phase: str, attempts: int) -> None:
        self.action: dict[str, Any] = {
            "metadata": {"name": "a", "namespace": "ns", "uid": UID, "resourceVersion": "7"},
            "spec": {},
            "status": {"phase": phase, "attempts": attempts},
        }
        self.patches: list[dict[str, Any]] = []

    async def get(self, path: str) -> dict[str, Any]:
        return copy.deepcopy(self.action)

    async def patch(self, path: str, body: Mapping[str, Any] | list[Any]) -> dict[str, Any]:
        assert isinstance(body, dict)
        self.patches.append(body)
        self.action["status"].update(body["status"])
        self.action["metadata"]["resourceVersion"] = "8"
        return copy.deepcopy(self.action)


async def pending_upload(action: dict[str, Any]) -> dict[str, Any]:
    return {"pendingUploads": [{"name": "out", "uri": "s3://b/k", "md5": "0" * 32}]}


@pytest.mark.asyncio
@pytest.mark.parametrize("phase", ["SCHEDULED", "QUEUED", "PAUSED"])
@pytest.mark.parametrize("cached", [False, True])
async def test_no_write_of_an_attempt_that_is_not_running(phase: str, cached: bool) -> None:
    api = OneAction(phase, attempts=1)
    cache = ActionCache(api)
    cache.put(copy.deepcopy(api.action))
    writer = StatusWriter(api, cache, Limits())
    with pytest.raises(HookError) as refused:
        await writer.apply(UID, None, extra=pending_upload, attempt=1, cached=cached)
    assert (refused.value.status, refused.value.reason) == (409, "NOT_RUNNING")
    with pytest.raises(HookError):
        await writer.apply(UID, Report(progress=5), attempt=1)
    assert api.patches == []


@pytest.mark.asyncio
async def test_a_finished_action_answers_completed_and_a_running_one_is_written() -> None:
    done = OneAction("SUCCEEDED", attempts=1)
    cache = ActionCache(done)
    cache.put(copy.deepcopy(done.action))
    with pytest.raises(HookError) as refused:
        await StatusWriter(done, cache, Limits()).apply(UID, None, extra=pending_upload, attempt=1)
    assert (refused.value.status, refused.value.reason) == (409, "ACTION_COMPLETED")
    running = OneAction("RUNNING", attempts=1)
    cache = ActionCache(running)
    cache.put(copy.deepcopy(running.action))
    writer = StatusWriter(running, cache, Limits())
    patched = await writer.apply(UID, None, extra=pending_upload, attempt=1, cached=True)
    assert patched["status"]["pendingUploads"][0]["name"] == "out"
    assert running.patches == [
        {
            "metadata": {"resourceVersion": "7"},
            "status": {"pendingUploads": [{"name": "out", "uri": "s3://b/k", "md5": "0" * 32}]},
        }
    ]
