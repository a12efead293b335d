"""Watch-fed cache of actions by uid: the hook's only source for authenticating requests.

The hook reads no Secret: a job's key is derived (``asyncaction.keys``) from the action's
namespace, uid and current attempt, all of which this cache holds. An id the cache does
not know is answered from the cache alone (404 while it is current, 503 "retry" while it
is being relisted), never by an API call, so requests with made-up ids cost the API
server nothing. Only writes of authenticated reports read the action fresh.

The loop heals: any error (API, network, a payload it cannot parse, one of its own
bugs) marks the cache stale, and it lists again with capped exponential backoff;
``/readyz`` answers 503 while any cache is stale or not yet listed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from asyncaction.kube import ApiError, Gone, KubeClient, paths

log = logging.getLogger(__name__)


class Backoff:
    """Capped exponential delays with jitter; ``reset`` after a success."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return float(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self.failures = 0


class WatchedMap:
    """uid -> value, kept by a list+watch loop on one collection."""

    def __init__(
        self,
        kube: KubeClient,
        path: str,
        key: Callable[[dict[str, Any]], str | None],
        value: Callable[[dict[str, Any]], Any],
        label_selector: str | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.kube, self.path, self.key, self.value = kube, path, key, value
        self.label_selector = label_selector
        self.backoff = backoff or Backoff()
        self.items: dict[str, Any] = {}
        self.synced = asyncio.Event()  # listed at least once
        self.fresh = False  # listed, and no error since
        self.errors = 0  # for tests and metrics
        self.lists = 0
        self.stale_since: float | None = time.monotonic()

    def put(self, obj: dict[str, Any], deleted: bool = False) -> None:
        key = self.key(obj)
        if key is None:
            return
        if deleted:
            self.items.pop(key, None)
        else:
            self.items[key] = self.value(obj)

    async def _list(self) -> str | None:
        listing = await self.kube.list(self.path, label_selector=self.label_selector)
        items: dict[str, Any] = {}
        for obj in listing.get("items", []):
            key = self.key(obj)
            if key is not None:
                items[key] = self.value(obj)
        self.items = items
        self.lists += 1
        self.fresh, self.stale_since = True, None
        self.synced.set()
        version = listing.get("metadata", {}).get("resourceVersion")
        return str(version) if version else None

    async def run(self) -> None:
        while True:
            try:
                version = await self._list()
                self.backoff.reset()
                while True:
                    async for event in self.kube.watch(
                        self.path, label_selector=self.label_selector, resource_version=version
                    ):
                        if not isinstance(event.object, dict):
                            raise ValueError(f"watch event without an object: {event.type}")
                        version = event.object.get("metadata", {}).get("resourceVersion", version)
                        if event.type != "BOOKMARK":
                            self.put(event.object, deleted=event.type == "DELETED")
            except asyncio.CancelledError:
                raise
            except Gone:
                continue  # the watch expired: list again at once, the cache stays usable
            except Exception as exc:
                self.errors += 1
                self.fresh = False
                if self.stale_since is None:
                    self.stale_since = time.monotonic()
                delay = self.backoff.next()
                level = logging.WARNING if isinstance(exc, ApiError | OSError) else logging.ERROR
                log.log(
                    level,
                    "watch of %s failed (%s: %s); relisting in %.1fs",
                    self.path,
                    type(exc).__name__,
                    str(exc)[:300],
                    delay,
                )
                await asyncio.sleep(delay)


def _action_key(obj: dict[str, Any]) -> str | None:
    uid = obj.get("metadata", {}).get("uid")
    return str(uid) if uid else None


class Registry:
    """The hook's view of actions."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.actions = WatchedMap(kube, paths.action_path(), _action_key, lambda obj: obj)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.actions.run())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def ready(self) -> bool:
        return self.actions.synced.is_set() and self.actions.fresh

    def cached_action(self, uid: str) -> dict[str, Any] | None:
        found = self.actions.items.get(uid)
        return found if isinstance(found, dict) else None

    async def fresh_action(self, uid: str) -> dict[str, Any] | None:
        """The action as the API server has it now (for writes); only for known uids."""
        cached = self.cached_action(uid)
        if cached is None:
            return None
        meta = cached["metadata"]
        try:
            obj = await self.kube.get(paths.action_path(meta["namespace"], meta["name"]))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if obj["metadata"].get("uid") != uid:
            return None
        self.actions.put(obj)
        return obj
