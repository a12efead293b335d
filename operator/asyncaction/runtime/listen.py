"""Listening on a configured address, failing with the setting's name.

A port already taken (another process, a second replica with ``hostNetwork``, the
metrics and the probes set to one port) raised aiohttp's ``OSError`` ("error while
attempting to bind on address ...: address already in use"), which says what failed
but not which setting chose the address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web


class ListenError(RuntimeError):
    """A port the process must serve on cannot be bound."""


async def start_site(site: web.TCPSite, setting: str) -> None:
    """Start ``site``; an address that cannot be bound raises ``ListenError`` naming
    ``setting`` (the variable or flag that chose it)."""
    try:
        await site.start()
    except OSError as exc:
        raise _cannot_listen(setting, site.name, exc) from exc


async def start_server(
    factory: Callable[[], asyncio.BaseProtocol],
    host: str,
    port: int,
    setting: str,
    *,
    reuse_port: bool = False,
) -> asyncio.Server:
    """``loop.create_server`` for a protocol of the process's own (the job hook's); an
    address that cannot be bound raises ``ListenError`` naming ``setting``."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(factory, host, port, reuse_port=reuse_port or None)
    except OSError as exc:
        raise _cannot_listen(setting, f"http://{host}:{port}", exc) from exc


def _cannot_listen(setting: str, where: str, exc: OSError) -> ListenError:
    reason = exc.strerror or str(exc)
    return ListenError(f"{setting}: cannot listen on {where}: {reason}")
