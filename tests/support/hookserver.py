"""The hook's real server (``server.create_server``) for aiohttp's ``TestClient``.

``aiohttp.test_utils.RawTestServer`` builds its own low-level server from a handler,
without the hook's request factory (its body limit); this serves the one ``main`` runs.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import BaseTestServer
from aiohttp.web import ServerRunner

from asyncaction_hook.app import Hook
from asyncaction_hook.server import create_server


class HookTestServer(BaseTestServer):
    def __init__(self, hook: Hook, **kwargs: Any) -> None:
        self._hook = hook
        super().__init__(**kwargs)

    async def _make_runner(self, **kwargs: Any) -> ServerRunner:
        return ServerRunner(create_server(self._hook))
