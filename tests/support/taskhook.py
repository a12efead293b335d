"""The hook's real app serving one RUNNING action's tasks over an in-memory API server:
ConfigMaps and the action kept as dicts, writes failed on demand (a 503, as an API
server restarting answers), the tasks' clock moved by hand."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp.test_utils import TestClient

from asyncaction.kube import ApiError, Conflict, NotFound
from asyncaction.kube.client import WatchEvent
from asyncaction.manifests.taskrecords import build_task_chunk
from asyncaction_client.taskbook import ROUND_KEY, TaskRecord, encode_chunk
from asyncaction_hook import tasks as hook_tasks
from asyncaction_hook.app import Hook
from asyncaction_job.signing import headers_v2
from tests.support.hookserver import KEYS, UID, HookTestServer, build_hook


def tasks_action(count: int, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "a", "namespace": "ns", "uid": UID, "resourceVersion": "3"},
        "spec": {
            "template": {"spec": {}},
            "tasks": [{"name": f"t{i}"} for i in range(count)],
            **spec,
        },
        "status": {"phase": "RUNNING", "attempts": 1},
    }


def unavailable() -> ApiError:
    return ApiError(503, "ServiceUnavailable", "the API server is restarting")


class TasksApi:
    """The action and its task ConfigMaps in memory. ``fail_writes[name]`` ConfigMap
    writes of ``name`` and ``fail_patches`` status patches are answered 503 first."""

    def __init__(self, action: dict[str, Any], templates: Sequence[dict[str, Any]] = ()) -> None:
        self.action = copy.deepcopy(action)
        self.templates = [copy.deepcopy(t) for t in templates]
        self.configmaps: dict[str, dict[str, Any]] = {}
        self.version = 10
        self.fail_writes: dict[str, int] = {}
        self.fail_patches = 0

    def _fails(self, name: str) -> bool:
        if self.fail_writes.get(name):
            self.fail_writes[name] -= 1
            return True
        return False

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.configmaps[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        if "/configmaps/" in path:
            name = path.rsplit("/", 1)[1]
            if name not in self.configmaps:
                raise NotFound(404, "NotFound", name)
            return copy.deepcopy(self.configmaps[name])
        return copy.deepcopy(self.action)

    async def create(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self._fails(body["metadata"]["name"]):
            raise unavailable()
        return self._store(body)

    async def patch(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self.fail_patches:
            self.fail_patches -= 1
            raise unavailable()
        self.action["status"].update(body["status"])
        self.version += 1
        self.action["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.action)

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method == "PUT":
            body = kwargs["body"]
            name = body["metadata"]["name"]
            if self._fails(name):
                raise unavailable()
            current = self.configmaps[name]
            if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "changed")
            return self._store(body)
        listed = self.templates if "actiontemplates" in path else [self.action]
        return {"items": copy.deepcopy(listed), "metadata": {"resourceVersion": "3"}}

    async def watch(self, path: str, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})

    def records(self, chunk: int = 0) -> dict[str, list[Any]]:
        """The durable records of ``chunk`` (as the ConfigMap holds them)."""
        found = self.configmaps.get(f"a-tasks-{chunk}")
        return dict(json.loads(found["data"]["tasks"])) if found else {}

    def preload(self, chunk: int, records: dict[int, list[Any]], retry_round: int = 0) -> None:
        """Records written before the test, by an earlier part of the run."""
        decoded = {i: TaskRecord.decode(r) for i, r in records.items()}
        annotations = {ROUND_KEY: str(retry_round)} if chunk == 0 else {}
        self._store(build_task_chunk(self.action, chunk, encode_chunk(decoded, chunk), annotations))


_last_signed = [0]


def signing_time() -> int:
    """A millisecond of its own for each request, whichever pod signs (they share the
    key), a few seconds back: inside the window, never ahead of the hook's clock."""
    _last_signed[0] = max(_last_signed[0] + 1, int(time.time() * 1000) - 5_000)
    return _last_signed[0]


class Pod:
    """A job pod of attempt 1 talking to the hook: signed requests, (status, JSON)."""

    def __init__(self, http: TestClient[Any, Any]) -> None:
        self.http = http
        self.key = KEYS.issue("ns", UID, 1)

    def _signed(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        return headers_v2(UID, self.key, method, path, body, signing_time())

    async def lease(self) -> tuple[int, Any]:
        response = await self.http.get("/task", headers=self._signed("GET", "/task"))
        return response.status, (None if response.status == 204 else await response.json())

    async def report(self, task: str, payload: dict[str, Any]) -> tuple[int, Any]:
        body = json.dumps(payload).encode()
        path = f"/task/{task}"
        response = await self.http.post(path, data=body, headers=self._signed("POST", path, body))
        return response.status, await response.json()


@asynccontextmanager
async def serving(api: TasksApi) -> AsyncIterator[tuple[Hook, TestClient[Any, Any]]]:
    fake: Any = api
    hook = build_hook(fake, rate=1000)
    cache = hook.cache
    cache.start()
    try:
        assert await cache.wait_synced(5)
        http: TestClient[Any, Any]
        async with TestClient(HookTestServer(hook)) as http:
            yield hook, http
    finally:
        for book in hook.task_books.books.values():
            if book.summary_later is not None:
                book.summary_later.cancel()
        await cache.stop()


@contextmanager
def task_clock() -> Iterator[list[int]]:
    """The tasks' clock, ahead of the wall clock by the milliseconds in the list."""
    ahead = [0]
    real = hook_tasks._now_ms
    hook_tasks._now_ms = lambda: real() + ahead[0]
    try:
        yield ahead
    finally:
        hook_tasks._now_ms = real
