"""Who is calling: the signature checks of section 2 of the contract.

Pure apart from the replay memory: ``verify`` takes the request's parts, the action's
secret and the hook's clock. The algorithm itself lives in ``asyncaction_job.signing``,
shared with the job client.

Replays: a signature is accepted once. ``MemoryReplayGuard`` remembers accepted
signatures for twice the time window (after that the time check refuses them anyway),
which holds for one process. Several replicas are sharded (``asyncaction.sharding``):
each action is pinned to one replica, the others refuse it (421), and a request signed
before a replica started is refused (503) since its memory cannot vouch for it. So a
captured request is never accepted twice, by any replica, across restarts.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

from asyncaction_hook.errors import HookError, unauthorized
from asyncaction_job.signing import (
    HEADER_HASH,
    HEADER_SIGNATURE,
    HEADER_TIME,
    SIGNATURE_V2,
    sign_v1,
    sign_v2,
    signatures_equal,
)


def verify(
    headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    body: bytes,
    secret: str,
    now_ms: int,
    window_seconds: float,
    allow_v1: bool,
) -> tuple[str, int]:
    """Check time and signature; return (signature, version). Raises HookError(401)."""
    given = headers.get(HEADER_HASH, "")
    time_ms = headers.get(HEADER_TIME, "")
    if not given or not time_ms.isdigit():
        raise unauthorized("X-Job-Time and X-Job-Hash are required")
    if abs(now_ms - int(time_ms)) > window_seconds * 1000:
        raise unauthorized("X-Job-Time is outside the accepted window; check the clock")
    if headers.get(HEADER_SIGNATURE, "").lower() == SIGNATURE_V2:
        expected, version = sign_v2(secret, time_ms, method, path, body), 2
    elif allow_v1:
        expected, version = sign_v1(secret, time_ms), 1
    else:
        raise unauthorized("signature version 1 is disabled; send X-Job-Signature: v2")
    if not signatures_equal(expected, given.lower()):
        raise unauthorized("bad signature")
    return given.lower(), version


class ReplayGuard(Protocol):
    def accept_once(self, job_id: str, signature: str) -> bool: ...


class MemoryReplayGuard:
    def __init__(self, ttl_seconds: float, max_entries: int = 200_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def accept_once(self, job_id: str, signature: str) -> bool:
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - self.ttl:
            self._seen.popitem(last=False)
        key = (job_id, signature)
        if key in self._seen:
            return False
        self._seen[key] = now
        if len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True


def check_replay(guard: ReplayGuard, job_id: str, signature: str) -> None:
    if not guard.accept_once(job_id, signature):
        raise HookError(401, "REPLAYED", "this signature was already used")
