"""How the operator process reports its health, and how it ends when it must.

Two questions, two paths, both answered by the process alone (no API call, so a slow
API server never gets a healthy operator restarted):

- liveness (``/healthz``): the event loop turns (the answer itself proves it; the
  heartbeat's lag is reported) and the process has not failed; a failure (leadership
  lost, a cache refused) answers 500 while the process winds down;
- readiness (``/readyz``): the leader once every cache synced; a standby is ready as a
  standby (it holds no caches: it waits for the Lease, then syncs like a new leader),
  a warm standby (``ASYNCACTION_WARM_STANDBY``) once its caches synced, so that a
  rollout waits until the new pod could take over at once; starting, syncing or failed
  answers 503.

``/metrics`` gives the manager's figures as JSON. ``Lifeline`` ends the process with a
non-zero code: it sets the stop flag kopf was started with and, should the graceful
stop not finish within ``grace_seconds``, exits hard, as controller-runtime does when it
loses its Lease. Embedded in a test (no stop flag), it records the failure, which the
liveness answer then shows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from asyncaction.runtime.listen import ListenError, start_site

log = logging.getLogger(__name__)


@dataclass
class Lifeline:
    stop_flag: asyncio.Event | None = None
    grace_seconds: float = 5.0
    exit_code: int = 0
    reason: str = ""
    _timer: threading.Timer | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.exit_code != 0

    def fail(self, reason: str) -> None:
        """Stop the process with exit code 1 (the first reason is the one reported)."""
        if self.failed:
            return
        self.exit_code, self.reason = 1, reason
        log.critical("stopping the operator: %s", reason)
        if self.stop_flag is None:
            return
        self.stop_flag.set()
        self._timer = threading.Timer(self.grace_seconds, self._force)
        self._timer.daemon = True
        self._timer.start()

    def _force(self) -> None:
        log.critical("graceful stop took over %.0fs: exiting now", self.grace_seconds)
        logging.shutdown()
        os._exit(self.exit_code)


@dataclass(frozen=True)
class Readiness:
    role: str  # "leader", "standby", "starting", "syncing", "failed"
    ready: bool


@dataclass
class Probes:
    lifeline: Lifeline
    readiness: Callable[[], Readiness]
    figures: Callable[[], dict[str, float]]
    heartbeat_seconds: float = 0.5
    lag: float = 0.0  # how late the last heartbeat woke up: the loop's latest stall
    worst_lag: float = 0.0
    _runner: web.AppRunner | None = None
    _beat: asyncio.Task[None] | None = None

    async def _heartbeat(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.heartbeat_seconds)
            self.lag = max(0.0, time.monotonic() - before - self.heartbeat_seconds)
            self.worst_lag = max(self.worst_lag, self.lag)

    async def healthz(self, _: web.Request) -> web.Response:
        body: dict[str, object] = {
            "alive": not self.lifeline.failed,
            "loop_lag_seconds": round(self.lag, 4),
            "worst_loop_lag_seconds": round(self.worst_lag, 4),
        }
        if self.lifeline.failed:
            body["reason"] = self.lifeline.reason
        return web.json_response(body, status=500 if self.lifeline.failed else 200)

    async def readyz(self, _: web.Request) -> web.Response:
        state = self.readiness()
        if self.lifeline.failed:
            state = Readiness("failed", False)
        body = {"ready": state.ready, "role": state.role}
        return web.json_response(body, status=200 if state.ready else 503)

    async def metrics(self, _: web.Request) -> web.Response:
        return web.json_response(self.figures())

    async def start(self, url: str) -> str:
        """Serve on the host and port of ``url`` (liveness at its path, default
        ``/healthz``); returns the base URL actually bound (port 0 picks one)."""
        parts = urlsplit(url)
        app = web.Application()
        app.router.add_get(parts.path or "/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = 8081 if parts.port is None else parts.port
        site = web.TCPSite(self._runner, parts.hostname or "0.0.0.0", port)  # noqa: S104
        try:
            await start_site(site, "--liveness")
        except ListenError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self._beat = asyncio.create_task(self._heartbeat(), name="probes-heartbeat")
        addresses = [sock.getsockname() for sock in getattr(site._server, "sockets", None) or []]
        host, bound = addresses[0][:2] if addresses else (parts.hostname, port)
        log.info("health endpoints on http://%s:%s (/healthz, /readyz, /metrics)", host, bound)
        return f"http://{host}:{bound}"

    async def stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
