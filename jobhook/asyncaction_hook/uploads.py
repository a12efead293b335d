"""Recording uploads: a pending upload becomes an output once S3 holds its md5.

Version 1 clients (the seed's) send no Content-MD5, so S3 cannot refuse a wrong body;
the hook checks the stored object's md5 before recording it in ``status.outputs``.
Checked on every report the job sends, on its terminal report, and by a periodic
sweep (a job may upload and exit without another report). A pending upload whose
``expiresAt`` (the presigned URL's expiry) has passed without S3 holding its md5 can no
longer arrive: it is dropped, so nothing is swept for an action's whole life. An entry
of a stopped attempt (an earlier attempt than the action's, or one the operator aborted,
timed out or paused) is dropped unrecorded: a stopped attempt writes nothing.

The sweep also does the hook's housekeeping: it runs over this shard's cached actions
only (the cache holds no other), and drops what per-uid state outlived its use (refilled
buckets, old flush times, replay seconds past the window, listings of vanished actions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from asyncaction.logfields import about
from asyncaction.logthrottle import ThrottledLog
from asyncaction.stores import ObjectInfo, Store, Stores
from asyncaction.timeutil import parse_time, utcnow
from asyncaction_hook.dataplane import parse_uri

if TYPE_CHECKING:
    from asyncaction_hook.app import Hook

log = logging.getLogger(__name__)


# How an object is looked up: ``Store.head``, or the hook's, which holds a slot of the
# action's namespace (``Hook.s3_slot``) for the call.
Head = Callable[[Store, str], Awaitable[ObjectInfo | None]]

# an S3 outage: one line a minute while it lasts, not one per write
_outage_log = ThrottledLog(log)


async def _plain_head(store: Store, key: str) -> ObjectInfo | None:
    return await store.head(key)


async def verify_pending(
    stores: Stores, action: dict[str, Any], head: Head = _plain_head
) -> dict[str, Any]:
    """The status patch moving verified uploads to outputs ({} when nothing changes).

    Runs with every status write of an action with pending uploads: an entry S3 cannot
    be asked about now stays pending (and the write goes on), so an S3 outage neither
    refuses terminal reports, which need no S3, nor drops coalesced progress."""
    status = action.get("status") or {}
    pending = list(status.get("pendingUploads") or [])
    if not pending:
        return {}
    outputs = list(status.get("outputs") or [])
    remaining = []
    now = utcnow()
    running = status.get("phase") in ("STARTING", "RUNNING")
    for entry in pending:
        if _of_a_stopped_attempt(entry, status):
            continue  # its pod may still PUT with a valid URL: never recorded
        ref = parse_uri(entry["uri"])
        store = next((s for s in stores.by_name.values() if s.bucket == ref.bucket), None)
        try:
            info = await head(store, ref.key) if store else None
        except (BotoCoreError, ClientError) as exc:
            _outage_log.warning(
                "s3", "cannot check pending uploads (kept pending): %s", exc, extra=about(action)
            )
            remaining.append(entry)
            continue
        if info is not None and info.md5 == entry["md5"]:
            record = {
                "name": entry["name"],
                "uri": entry["uri"],
                "size": info.size,
                "md5": info.md5,
            }
            if record not in outputs:
                outputs.append(record)
        elif not _expired(entry, now) or (running and not _expired(entry, now - IN_FLIGHT_GRACE)):
            remaining.append(entry)
    if len(remaining) == len(pending):
        return {}
    return {"outputs": outputs, "pendingUploads": remaining or None}


# Phases in which the operator stopped the action's attempt (its uploads are not
# recorded); an attempt that ended on its own (SUCCEEDED, FAILED, backing off) keeps
# what it uploaded and did not report.
STOPPED = frozenset({"ABORTED", "TIMEOUT", "PAUSED"})
# S3 checks a presigned URL's expiry when the PUT begins: a large upload begun in time
# lands after it. While its attempt runs, an entry is kept this long past its expiry
# (it was dropped at once: the object landed and was never recorded in status.outputs,
# found by a review); the attempt's end checks it once more, then drops it.
IN_FLIGHT_GRACE = timedelta(minutes=30)


def _of_a_stopped_attempt(entry: dict[str, Any], status: dict[str, Any]) -> bool:
    """An entry of an earlier attempt than the action's, or of an attempt the operator
    stopped. (An entry with no attempt was written before entries named one.)"""
    if status.get("phase") in STOPPED:
        return True
    attempt = entry.get("attempt")
    return attempt is not None and attempt != status.get("attempts")


def _expired(entry: dict[str, Any], now: datetime) -> bool:
    try:
        expires = parse_time(entry.get("expiresAt"))
    except ValueError:
        return False
    return expires is not None and expires < now


async def sweep_once(hook: Hook) -> None:
    """Verify (or expire) this shard's pending uploads, then drop stale per-uid state."""
    for informer in hook.cache.actions.members.values():
        for action in list(informer.items.values()):
            if not (action.get("status") or {}).get("pendingUploads"):
                continue
            uid = action["metadata"]["uid"]
            try:
                await hook.writer.apply(uid, None, extra=hook.verify_pending, cached=True)
            except Exception:
                log.exception("sweep of pending uploads of %s failed", uid, extra=about(action))
    hook.budgets.prune()
    hook.coalescer.prune()
    expire = getattr(hook.guard, "expire", None)
    if callable(expire):
        expire(hook.clock_ms())
    for uid in [u for u in hook.listings if hook.cache.action(u) is None]:
        del hook.listings[uid]


async def sweep_forever(hook: Hook, interval: float) -> None:
    """Every ``interval`` seconds, ``sweep_once``."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_once(hook)
        except Exception:
            log.exception("sweep failed")
