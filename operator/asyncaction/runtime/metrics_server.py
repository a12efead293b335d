"""The metrics endpoint: Prometheus text from a registry, served by aiohttp in the loop.

aiohttp rather than ``prometheus_client.start_http_server``: that server answers from a
thread, and the scrape-time gauges read the informers' dicts, which only the event
loop may touch. The bind address follows controller-runtime's ``--metrics-bind-address``
(``HOST:PORT``, ``:PORT`` for every interface, ``0`` for off).
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from asyncaction.runtime.listen import ListenError, start_site

log = logging.getLogger(__name__)


class MetricsAddressError(ValueError):
    """A bind address that is not ``HOST:PORT``, ``:PORT`` or ``0``."""


def parse_bind_address(address: str, *, setting: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``address``; None when metrics are off (``0`` or empty)."""
    address = address.strip()
    if address in ("", "0"):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsAddressError(f"{setting}={address!r}: expected HOST:PORT, :PORT or 0 (off)")
    return (host.strip("[]") or "0.0.0.0", int(port))  # noqa: S104 - a pod's endpoint


def metrics_app(registry: CollectorRegistry, path: str = "/metrics") -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(path, metrics)
    return app


async def serve_metrics(
    registry: CollectorRegistry, address: str, path: str = "/metrics", *, setting: str = ""
) -> web.AppRunner | None:
    """Start serving ``registry`` at ``address``; None when off. Stop with ``cleanup()``."""
    bind = parse_bind_address(address, setting=setting or "metrics bind address")
    if bind is None:
        return None
    runner = web.AppRunner(metrics_app(registry, path), access_log=None)
    await runner.setup()
    try:
        await start_site(web.TCPSite(runner, bind[0], bind[1]), setting or "metrics bind address")
    except ListenError:
        await runner.cleanup()
        raise
    log.info("metrics on http://%s:%d%s", bind[0], bind[1], path)
    return runner
