"""Per-uid state follows the running actions (issue 14, item 4).

The hook's real parts are driven directly: its cache (the runtime informer, fed by an
in-memory API that answers a paginated LIST and then streams watch events), the
budgets, the coalescer, the input listings and the replay memory. 10,000 actions run,
report and finish (or are deleted); afterwards no per-uid map holds anything.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from asyncaction.keys import MasterKeys
from asyncaction.kube.client import WatchEvent
from asyncaction.stores import Stores
from asyncaction_hook.app import Hook
from asyncaction_hook.auth import WindowReplayGuard
from asyncaction_hook.budgets import Budgets, Rate
from asyncaction_hook.cache import ActionCache
from asyncaction_hook.metrics import per_uid_entries, state_families
from asyncaction_hook.reports import Report
from asyncaction_hook.settings import HookSettings
from asyncaction_hook.tasks import Book
from asyncaction_hook.uploads import sweep_once
from asyncaction_hook.writer import Coalescer, StatusWriter
from tests.support.fed import FedDirectly

N = 10_000
KEYS = MasterKeys((b"k" * 48,))


class MemoryApi(FedDirectly):
    """Serves LIST pages of what it holds, then the events put on ``events``."""

    def __init__(self) -> None:
        self.objects: list[dict[str, Any]] = []
        self.events: asyncio.Queue[WatchEvent] = asyncio.Queue()
        self.version = 1
        self.lists = 0

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        assert method == "GET"
        self.lists += "actiontemplates" not in path
        if "actiontemplates" in path:
            return {"items": [], "metadata": {"resourceVersion": str(self.version)}}
        return {"items": list(self.objects), "metadata": {"resourceVersion": str(self.version)}}

    async def watch(self, path: str, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        if "actiontemplates" in path:
            await asyncio.Event().wait()  # no template ever changes
        while True:
            yield await self.events.get()

    def emit(self, kind: str, action: dict[str, Any]) -> None:
        self.version += 1
        meta = {**action["metadata"], "resourceVersion": str(self.version)}
        self.events.put_nowait(WatchEvent(kind, {**action, "metadata": meta}))


def action(uid: str, phase: str, n: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"a{n}", "namespace": f"ns{n % 7}", "uid": uid},
        "spec": {"template": {"spec": {}}, "request": {"n": n}},
        "status": {"phase": phase, "attempts": 1},
    }


class QuietWriter(StatusWriter):
    """The coalescer's writes land nowhere: this test is about what stays in memory."""

    def __init__(self) -> None:
        self.patches = 0

    async def apply(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.patches += 1
        return {}


async def drain(api: MemoryApi) -> None:
    """Until the informer has taken every event (it applies each as it takes it)."""
    for _ in range(1000):
        if api.events.empty():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_per_uid_maps_are_empty_after_ten_thousand_actions_finished() -> None:
    api = MemoryApi()
    cache = ActionCache(api, shard=0, shards=1)
    writer = QuietWriter()
    coalescer = Coalescer(writer, window=3600)
    guard = WindowReplayGuard(past_seconds=300, future_seconds=5)
    budgets = Budgets(Rate(100, 100), Rate(1e6, 1e6), Rate(10, 10))
    hook = Hook(
        HookSettings(),
        api,  # type: ignore[arg-type]  # the Hook takes the whole client
        cache,
        writer,
        coalescer,
        Stores({}),
        guard,
        lambda: KEYS,
        budgets,
    )
    hook.metrics.bind(lambda: state_families(hook))  # as create_server binds them
    cache.add_handler(hook.on_action)
    cache.start()
    try:
        assert await cache.wait_synced(5)
        uids = [str(uuid.UUID(int=n + 1)) for n in range(N)]
        for n, uid in enumerate(uids):
            api.emit("ADDED", action(uid, "RUNNING", n))
        await drain(api)
        assert len(cache.actions) == N
        now_ms = 1_800_000_000_000
        for n, uid in enumerate(uids):  # every action reports, downloads, is signed
            budgets.charge(f"ns{n % 7}", uid)
            coalescer.submit(uid, Report(progress=n % 100), 1)
            hook.listings[uid] = (1, [("k", "k")])
            hook.task_books.books[uid] = Book()  # as an action of tasks leases one
            for _ in hook.candidate_keys(cache.action(uid) or {}):  # keys derived once
                break
            assert guard.accept_once(uid, f"sig-{n}", now_ms, now_ms)
        kept = per_uid_entries(hook)
        assert (kept["budgets"], kept["listings"], kept["keys"], kept["tasks"]) == (N, N, N, N)
        # the same figures are gauges of the hook's metrics (read at scrape time)
        scraped = generate_latest(hook.metrics.registry).decode()
        assert f"asyncaction_hook_cached_actions {float(N)}\n" in scraped
        assert f'asyncaction_hook_per_uid_entries{{map="listings"}} {float(N)}\n' in scraped
        assert f"asyncaction_hook_replay_entries {float(N)}\n" in scraped
        assert kept["coalescer"] >= N  # a pending report (and its timer) or a flush time
        for n, uid in enumerate(uids):  # half finish, half are deleted
            if n % 2:
                api.emit("MODIFIED", action(uid, "SUCCEEDED", n))
            else:
                api.emit("DELETED", action(uid, "RUNNING", n))
        await drain(api)
        assert per_uid_entries(hook) == {
            "budgets": 0,
            "coalescer": 0,
            "listings": 0,
            "keys": 0,
            "tasks": 0,
        }
        assert len(cache.actions) == N // 2  # the finished ones, as summaries
        # the replay memory forgets once the window has passed, without any request
        assert guard.size == N
        guard.expire(now_ms + 302_000)
        assert guard.size == 0
        await sweep_once(hook)
        assert api.lists == 1  # one LIST, then the watch: no relist
    finally:
        await coalescer.close()
        await cache.stop()
