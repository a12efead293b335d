"""Recording uploads: a pending upload becomes an output once S3 holds its md5.

Version 1 clients (the seed's) send no Content-MD5, so S3 cannot refuse a wrong body;
the hook checks the stored object's md5 before recording it in ``status.outputs``.
Checked on every report the job sends, on its terminal report, and by a periodic
sweep (a job may upload and exit without another report).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from asyncaction.stores import Stores
from asyncaction_hook.dataplane import parse_uri

if TYPE_CHECKING:
    from asyncaction_hook.app import Hook

log = logging.getLogger(__name__)


async def verify_pending(stores: Stores, action: dict[str, Any]) -> dict[str, Any]:
    """The status patch moving verified uploads to outputs ({} when nothing changes)."""
    status = action.get("status") or {}
    pending = list(status.get("pendingUploads") or [])
    if not pending:
        return {}
    outputs = list(status.get("outputs") or [])
    remaining = []
    for entry in pending:
        ref = parse_uri(entry["uri"])
        store = next((s for s in stores.by_name.values() if s.bucket == ref.bucket), None)
        info = await store.head(ref.key) if store else None
        if info is not None and info.md5 == entry["md5"]:
            record = {
                "name": entry["name"],
                "uri": entry["uri"],
                "size": info.size,
                "md5": info.md5,
            }
            if record not in outputs:
                outputs.append(record)
        else:
            remaining.append(entry)
    if len(remaining) == len(pending):
        return {}
    return {"outputs": outputs, "pendingUploads": remaining or None}


async def sweep_forever(hook: Hook, interval: float) -> None:
    """Every ``interval`` seconds, verify the pending uploads of every action."""
    while True:
        await asyncio.sleep(interval)
        for uid, action in list(hook.registry.actions.items.items()):
            if not (action.get("status") or {}).get("pendingUploads"):
                continue
            try:
                await hook.writer.apply(uid, None, extra=hook.verify_pending)
            except Exception:
                log.exception("sweep of pending uploads of %s failed", uid)
