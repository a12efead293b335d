"""A task report whose ConfigMap write fails is not kept in memory alone.

``post_task`` changes the in-memory book before it writes the chunk. A write that failed
with an answer other than 409 (a 503 while the API server restarts) left the book
changed and loaded: the job's retry got 409 ``TASK_NOT_LEASED`` ("task 0 is done"),
while the ConfigMap, and a restarted hook, still said executing (found by review). A
failed write now makes the book reload before its next decision.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from asyncaction.kube import ApiError, Conflict, NotFound
from asyncaction.kube.client import WatchEvent
from asyncaction_job.signing import headers_v2
from tests.support.hookserver import KEYS, UID, HookTestServer, build_hook

ACTION: dict[str, Any] = {
    "metadata": {"name": "a", "namespace": "ns", "uid": UID, "resourceVersion": "3"},
    "spec": {"template": {"spec": {}}, "tasks": [{"name": "t0"}, {"name": "t1"}]},
    "status": {"phase": "RUNNING", "attempts": 1},
}


class TasksApi:
    """One RUNNING action with two tasks; ConfigMaps in memory; the next ``fail_puts``
    ConfigMap PUTs are answered 503."""

    def __init__(self) -> None:
        self.action = copy.deepcopy(ACTION)
        self.configmaps: dict[str, dict[str, Any]] = {}
        self.version = 10
        self.fail_puts = 0

    async def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        if "/configmaps/" in path:
            name = path.rsplit("/", 1)[1]
            if name not in self.configmaps:
                raise NotFound(404, "NotFound", name)
            return copy.deepcopy(self.configmaps[name])
        return copy.deepcopy(self.action)

    async def create(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.configmaps[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def patch(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.action["status"].update(body["status"])
        self.version += 1
        self.action["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.action)

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method == "PUT":
            if self.fail_puts:
                self.fail_puts -= 1
                raise ApiError(503, "ServiceUnavailable", "the API server is restarting")
            body = kwargs["body"]
            current = self.configmaps[body["metadata"]["name"]]
            if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "changed")
            return await self.create(path, body)
        items = [] if "actiontemplates" in path else [copy.deepcopy(self.action)]
        return {"items": items, "metadata": {"resourceVersion": "3"}}

    async def watch(self, path: str, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})


@pytest.mark.asyncio
async def test_a_task_done_whose_write_failed_is_done_once_the_retry_is_written() -> None:
    fake = TasksApi()
    api: Any = fake
    hook = build_hook(api)
    cache = hook.cache
    cache.start()
    assert await cache.wait_synced(5)
    key = KEYS.issue("ns", UID, 1)
    at = int(time.time() * 1000) - 5_000

    def signed(method: str, path: str, body: bytes = b"") -> dict[str, str]:
        nonlocal at
        at += 1
        return headers_v2(UID, key, method, path, body, at)

    http: TestClient[Any, Any]
    try:
        async with TestClient(HookTestServer(hook)) as http:
            leased = await http.get("/task", headers=signed("GET", "/task"))
            assert (leased.status, (await leased.json())["id"]) == (200, "0")
            done = json.dumps({"status": "done", "result": {"x": 1}}).encode()
            fake.fail_puts = 1
            first = await http.post("/task/0", data=done, headers=signed("POST", "/task/0", done))
            assert first.status == 503
            retried = await http.post("/task/0", data=done, headers=signed("POST", "/task/0", done))
            assert (retried.status, await retried.json()) == (
                200,
                {"id": "0", "state": "done", "tries": 1},
            )
    finally:
        await cache.stop()
    durable = json.loads(fake.configmaps["a-tasks-0"]["data"]["tasks"])
    assert durable["0"][0] == "done"
    assert durable["0"][4] == {"x": 1}
