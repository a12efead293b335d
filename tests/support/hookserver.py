"""The hook's real server (``server.create_server``) for aiohttp's ``TestClient``, and
the ``Hook`` the unit tests serve (``build_hook``).

``aiohttp.test_utils.RawTestServer`` builds its own low-level server from a handler,
without the hook's request factory (its body limit); this serves the one ``main`` runs.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import BaseTestServer
from aiohttp.web import ServerRunner

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

    async def _make_runner(self, **kwargs: Any) -> ServerRunner:
        return ServerRunner(create_server(self._hook))
