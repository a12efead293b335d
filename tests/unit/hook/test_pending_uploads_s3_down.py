"""An S3 outage does not block an action's status writes.

With an upload pending, every status write first checks S3 for it (``verify_pending``).
While S3 was unreachable the check raised: every terminal report, which needs no S3,
was answered 503 until the job gave up, and a coalesced progress write, already
answered 200, was dropped (found by review). The check now leaves an entry it cannot
verify pending, and the write goes on.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from botocore.exceptions import EndpointConnectionError

from asyncaction.stores import ObjectInfo, Store
from asyncaction_hook.settings import HookSettings
from asyncaction_job.signing import headers_v2
from tests.support.hookserver import KEYS, UID, HookTestServer, build_hook
from tests.unit.hook.test_report_path import OneActionApi

PENDING = {
    "name": "out",
    "uri": f"s3://b/actions/ns/{UID}/out/{'0' * 32}",
    "md5": "0" * 32,
    "expiresAt": "2099-01-01T00:00:00Z",
    "attempt": 1,
}


class ActionWithAnUpload(OneActionApi):
    def __init__(self) -> None:
        super().__init__()
        self.action["status"]["pendingUploads"] = [dict(PENDING)]

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        items = [] if "actiontemplates" in path else [copy.deepcopy(self.action)]
        return {"items": items, "metadata": {"resourceVersion": "3"}}


@pytest.mark.asyncio
async def test_reports_are_written_while_s3_cannot_be_reached() -> None:
    fake = ActionWithAnUpload()
    api: Any = fake
    config = {"bucket": "b", "endpoint": "http://127.0.0.1:9", "accessKeyId": "x"}
    store = Store("default", {**config, "secretAccessKey": "y"}, 300)
    heads: list[str] = []

    async def head(key: str) -> ObjectInfo | None:
        heads.append(key)
        raise EndpointConnectionError(endpoint_url=f"http://s3.test/b/{key}")

    store.head = head  # type: ignore[method-assign]
    hook = build_hook(api, window=0.05, store=store)
    cache = hook.cache
    cache.start()
    assert await cache.wait_synced(5)
    key = KEYS.issue("ns", UID, 1)
    at = int(time.time() * 1000) - 5_000
    http: TestClient[Any, Any]
    try:
        async with TestClient(HookTestServer(hook)) as http:

            async def post(document: dict[str, Any]) -> int:
                nonlocal at
                at += 1
                body = json.dumps(document).encode()
                headers = headers_v2(UID, key, "POST", "/status", body, at)
                return (await http.post("/status", data=body, headers=headers)).status

            assert await post({"progress": 42}) == 200
            for _ in range(100):  # the coalesced write, after its window
                if fake.patches:
                    break
                await asyncio.sleep(0.02)
            assert fake.action["status"]["progress"] == 42
            assert await post({"status": "SUCCEEDED", "result": {"n": 1}}) == 200
    finally:
        hook.coalescer.forget(UID)
        await cache.stop()
    status = fake.action["status"]
    assert (status["phase"], status["result"]) == ("SUCCEEDED", {"n": 1})
    assert status["pendingUploads"] == [PENDING]  # not verified, not dropped: still pending
    assert heads  # it was asked


@pytest.mark.asyncio
async def test_checks_of_pending_uploads_hold_the_namespaces_s3_slots() -> None:
    """The checks ran outside ``--s3-per-namespace``: one namespace's coalesced writes
    and sweep could hold every S3 worker the other tenants' downloads share."""
    api: Any = ActionWithAnUpload()
    settings = HookSettings(max_future_seconds=0.0, s3_per_namespace=4)
    store = Store("default", {"bucket": "b", "endpoint": "http://127.0.0.1:9"}, 300)
    running, most = 0, 0

    async def head(key: str) -> ObjectInfo | None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return None

    store.head = head  # type: ignore[method-assign]
    hook = build_hook(api, store=store, settings=settings)
    actions = []
    for n in range(20):
        action = copy.deepcopy(api.action)
        action["metadata"].update(name=f"a{n}", uid=f"{UID[:-2]}{n:02d}")
        actions.append(action)
    patches = await asyncio.gather(*(hook.verify_pending(a) for a in actions))
    assert patches == [{}] * 20  # nothing stored yet, nothing expired: nothing changes
    assert most == 4
    assert hook.store_slots == {}
