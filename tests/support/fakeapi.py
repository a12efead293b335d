"""A small fake kube-apiserver (aiohttp) for driving the operator's ``Manager`` and
``KubeClient`` in unit tests: empty LISTs, WATCHes that stay open (or are refused with
403 for chosen paths), Leases that can be created, read and patched."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


def _status(code: int, reason: str, message: str, name: str = "") -> web.Response:
    """A ``Status`` as the API server answers; a 404 about an object names it in details."""
    body = {"kind": "Status", "status": "Failure", "code": code, "reason": reason}
    details = {"details": {"name": name, "kind": "leases"}} if name else {}
    return web.json_response({**body, "message": message, **details}, status=code)


class FakeApi:
    def __init__(self, watch_refused: tuple[str, ...] = ()) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 100
        self.watch_refused = watch_refused  # path parts whose WATCH is answered 403
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def _next_version(self) -> str:
        self.version += 1
        return str(self.version)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, query = request.path, dict(request.query)
        self.requests.append((request.method, path, query))
        if "/leases" in path:
            return await self._lease(request)
        if request.method == "GET" and query.get("watch") == "true":
            if any(part in path for part in self.watch_refused):
                return _status(403, "Forbidden", f"watch {path} is forbidden")
            response = web.StreamResponse()
            response.content_type = "application/json"
            await response.prepare(request)
            await asyncio.sleep(float(query.get("timeoutSeconds", "300")))
            return response
        if request.method == "GET":
            return web.json_response({"items": [], "metadata": {"resourceVersion": "1"}})
        if request.method == "POST":
            body = await request.json()
            body.setdefault("metadata", {})["resourceVersion"] = self._next_version()
            return web.json_response(body, status=201)
        return web.json_response({})

    async def _lease(self, request: web.Request) -> web.Response:
        key = request.path
        if request.method == "GET":
            if key not in self.leases:
                return _status(404, "NotFound", "no lease", name=key.rsplit("/", 1)[-1])
            return web.json_response(self.leases[key])
        body = await request.json()
        if request.method == "POST":
            full = f"{key}/{body['metadata']['name']}"
            if full in self.leases:
                return _status(409, "AlreadyExists", "exists")
            body["metadata"]["resourceVersion"] = self._next_version()
            self.leases[full] = body
            return web.json_response(body, status=201)
        current = self.leases.get(key)
        if current is None:
            return _status(404, "NotFound", "no lease", name=key.rsplit("/", 1)[-1])
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            return _status(409, "Conflict", "modified")
        for name, value in (body.get("spec") or {}).items():
            if value is None:
                current["spec"].pop(name, None)
            else:
                current["spec"][name] = value
        current["metadata"]["resourceVersion"] = self._next_version()
        return web.json_response(current)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        address = self._runner.addresses[0]
        self.url = f"http://127.0.0.1:{address[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
