"""The hook's real server (``server.create_server``) for aiohttp's ``TestClient``, and
the ``Hook`` the unit tests serve (``build_hook``).

The hook serves on its own protocol (``httpserver``), not on an aiohttp runner; this
listens with it on a loopback port as ``main`` does, for aiohttp's test client.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import BaseTestServer
from aiohttp.web import BaseRunner
from yarl import URL

from asyncaction.keys import MasterKeys
from asyncaction.stores import Store, Stores
from asyncaction_hook.app import Hook
from asyncaction_hook.auth import WindowReplayGuard
from asyncaction_hook.budgets import Budgets, Rate
from asyncaction_hook.cache import ActionCache
from asyncaction_hook.server import create_server
from asyncaction_hook.settings import HookSettings
from asyncaction_hook.writer import Coalescer, StatusWriter

KEYS = MasterKeys((b"m" * 48,))
UID = "0b9f1a52-52d4-4bd6-9b4f-8f7c0a0e1c11"


def build_hook(
    api: Any,
    *,
    window: float = 3600,
    store: Store | None = None,
    rate: float = 100,
    settings: HookSettings | None = None,
) -> Hook:
    """The hook over ``api`` (a fake of the client's slices), wired as ``main`` wires it:
    no start fence to wait out (started a minute ago, no future allowed), a coalescing
    ``window`` long enough that nothing is written during a test unless asked, budgets
    of ``rate`` a second, ``store`` as the default store. Its cache is not started."""
    settings = settings or HookSettings(max_future_seconds=0.0)
    cache = ActionCache(api)
    writer = StatusWriter(api, cache, settings.limits)
    hook = Hook(
        settings,
        api,
        cache,
        writer,
        Coalescer(writer, window=window),
        Stores({"default": store} if store is not None else {}),
        WindowReplayGuard(300, 0),
        lambda: KEYS,
        Budgets(Rate(rate, rate), Rate(rate, rate), Rate(rate, rate)),
        started_ms=int(time.time() * 1000) - 60_000,
    )
    hook.coalescer.extra = hook.verify_pending  # every coalesced write checks uploads
    return hook


class HookTestServer(BaseTestServer):
    def __init__(self, hook: Hook, **kwargs: Any) -> None:
        self._hook = hook
        super().__init__(**kwargs)

        self._listening: asyncio.Server | None = None
        self.http = create_server(hook)

    async def start_server(self, loop: asyncio.AbstractEventLoop | None = None, **_: Any) -> None:
        if self._listening is not None:
            return
        running = asyncio.get_running_loop()
        self._listening = await running.create_server(self.http, self.host, self.port or 0)
        self.port = self._listening.sockets[0].getsockname()[1]
        self.scheme = self.scheme or "http"
        self._root = URL(f"{self.scheme}://{self.host}:{self.port}")

    @property
    def started(self) -> bool:
        return self._listening is not None

    async def close(self) -> None:
        if self._listening is not None and not self._closed:
            self._listening.close()
            await self.http.shutdown(grace=1.0)
            self._root = None
            self._closed = True

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        raise NotImplementedError("the hook serves on its own protocol, not a runner")
