"""Listening on a configured address, failing with the setting's name.

A port already taken (another process, a second replica with ``hostNetwork``, the
metrics and the probes set to one port) raised aiohttp's ``OSError`` ("error while
attempting to bind on address ...: address already in use"), which says what failed
but not which setting chose the address.
"""

from __future__ import annotations

from aiohttp import web


class ListenError(RuntimeError):
    """A port the process must serve on cannot be bound."""


async def start_site(site: web.TCPSite, setting: str) -> None:
    """Start ``site``; an address that cannot be bound raises ``ListenError`` naming
    ``setting`` (the variable or flag that chose it)."""
    try:
        await site.start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ListenError(f"{setting}: cannot listen on {site.name}: {reason}") from exc
