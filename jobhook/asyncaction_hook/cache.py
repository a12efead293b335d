"""Watch-fed caches: each action's secret and latest state, by action uid.

Requests are authenticated without an API round trip: a list+watch of the operator's
Secrets (selected by the action-uid label) and of AsyncActions keeps both maps current.
A miss (a job faster than the watch) falls back to one direct lookup.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import Any

from asyncaction.api.names import LABEL_ACTION_UID, SECRET_KEY_FIELD
from asyncaction.kube import ApiError, Gone, KubeClient, paths

log = logging.getLogger(__name__)


class WatchedMap:
    """uid -> value, kept by a list+watch loop on one collection."""

    def __init__(
        self,
        kube: KubeClient,
        path: str,
        key: Callable[[dict[str, Any]], str | None],
        value: Callable[[dict[str, Any]], Any],
        label_selector: str | None = None,
    ) -> None:
        self.kube, self.path, self.key, self.value = kube, path, key, value
        self.label_selector = label_selector
        self.items: dict[str, Any] = {}
        self.synced = asyncio.Event()

    def _put(self, obj: dict[str, Any], deleted: bool = False) -> None:
        key = self.key(obj)
        if key is None:
            return
        if deleted:
            self.items.pop(key, None)
        else:
            self.items[key] = self.value(obj)

    async def run(self) -> None:
        while True:
            try:
                listing = await self.kube.list(self.path, label_selector=self.label_selector)
                self.items = {}
                for obj in listing.get("items", []):
                    self._put(obj)
                self.synced.set()
                version = listing.get("metadata", {}).get("resourceVersion")
                while True:
                    async for event in self.kube.watch(
                        self.path, label_selector=self.label_selector, resource_version=version
                    ):
                        version = event.object.get("metadata", {}).get("resourceVersion", version)
                        if event.type != "BOOKMARK":
                            self._put(event.object, deleted=event.type == "DELETED")
            except Gone:
                continue
            except (TimeoutError, ApiError, OSError) as exc:
                log.warning("watch of %s failed (%s); relisting", self.path, exc)
                await asyncio.sleep(1)


def _secret_key(obj: dict[str, Any]) -> str | None:
    labels = obj.get("metadata", {}).get("labels") or {}
    uid = labels.get(LABEL_ACTION_UID)
    return str(uid) if uid else None


def _secret_value(obj: dict[str, Any]) -> str:
    data = obj.get("data") or {}
    return base64.b64decode(data.get(SECRET_KEY_FIELD, "")).decode()


def _action_key(obj: dict[str, Any]) -> str | None:
    uid = obj.get("metadata", {}).get("uid")
    return str(uid) if uid else None


class Registry:
    """The hook's view of actions and their secrets."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.secrets = WatchedMap(
            kube, paths.secret_path(), _secret_key, _secret_value, label_selector=LABEL_ACTION_UID
        )
        self.actions = WatchedMap(kube, paths.action_path(), _action_key, lambda obj: obj)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.secrets.run()),
            asyncio.create_task(self.actions.run()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def ready(self) -> bool:
        return self.secrets.synced.is_set() and self.actions.synced.is_set()

    async def secret_for(self, uid: str) -> str | None:
        if uid in self.secrets.items:
            return str(self.secrets.items[uid])
        listing = await self.kube.list(
            paths.secret_path(), label_selector=f"{LABEL_ACTION_UID}={uid}"
        )
        for obj in listing.get("items", []):
            self.secrets._put(obj)
        found = self.secrets.items.get(uid)
        return str(found) if found is not None else None

    def cached_action(self, uid: str) -> dict[str, Any] | None:
        found = self.actions.items.get(uid)
        return found if isinstance(found, dict) else None

    async def fresh_action(self, uid: str) -> dict[str, Any] | None:
        """The action as the API server has it now (for writes)."""
        cached = self.cached_action(uid)
        if cached is None:  # the watch has not seen it yet: look once
            for obj in (await self.kube.list(paths.action_path())).get("items", []):
                self.actions._put(obj)
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
        self.actions._put(obj)
        return obj
