"""Who is calling: the signature checks of section 2 of the contract.

Pure apart from the replay memory. The checks run cheapest first, so that traffic
without a valid signature costs next to nothing: ``parse_headers`` (format of the id,
time and hash, and the time window, before the body is read), then ``verify`` over the
candidate keys (``asyncaction.keys``: the action's current attempt, and the next one in
case the hook's watch lags the operator by one attempt), then the replay memory. The
algorithm itself lives in ``asyncaction_job.signing``, shared with the job client.

The time window is asymmetric: ``past`` seconds back (the contract's 300 s), but only
``future`` seconds ahead (clock skew between nodes, default 5 s). That keeps the replay
memory to the past window plus the skew, and lets the restart fence (a request signed
before ``started + future`` is refused, 503) hold against requests signed in the future.

Replays: a signature is accepted once. ``WindowReplayGuard`` files each accepted
signature under the second it was SIGNED, and forgets a second only once the time check
refuses it anyway, so the memory holds the whole window at any throughput (its size is
the rate times the window; ``bench/bench_replay.py`` measures it). Several replicas are
sharded (``asyncaction.sharding``): each action is pinned to one replica, the others
refuse it (421); with the restart fence, a captured request is never accepted twice, by
any replica, across restarts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from asyncaction_hook.errors import HookError, unauthorized
from asyncaction_job.signing import (
    HEADER_HASH,
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIME,
    SIGNATURE_V2,
    Signer,
    signatures_equal,
)

# Kubernetes uids are lower-case UUIDs; ASCII digits only (str.isdigit accepts "²").
JOB_ID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
TIME_MS = re.compile(r"\A[0-9]{1,15}\Z")
HASH_HEX = re.compile(r"\A[0-9a-fA-F]{64}\Z")


class SignedHeaders(NamedTuple):
    """The signature headers of one request, checked for form and time. (A named tuple:
    one is made for every request, and a frozen dataclass sets each field through
    ``object.__setattr__``.)"""

    job_id: str
    time_text: str
    time_ms: int
    signature: str  # lower-case hex
    version: int


def parse_headers(
    headers: Mapping[str, str],
    *,
    now_ms: int,
    past_seconds: float,
    future_seconds: float,
    allow_v1: bool,
) -> SignedHeaders:
    """Everything that can be checked without a key or the body. Raises HookError(401)."""
    job_id = headers.get(HEADER_ID, "")
    if not job_id:
        raise HookError(401, "UNAUTHORIZED", "X-Job-Id is required")
    if not JOB_ID.match(job_id):
        raise unauthorized("X-Job-Id must be the action's uid (a lower-case UUID)")
    time_text = headers.get(HEADER_TIME, "")
    given = headers.get(HEADER_HASH, "")
    if not time_text or not given:
        raise unauthorized("X-Job-Time and X-Job-Hash are required")
    if not TIME_MS.match(time_text):
        raise unauthorized("X-Job-Time must be milliseconds since the epoch (ASCII digits)")
    if not HASH_HEX.match(given):
        raise unauthorized("X-Job-Hash must be 64 hex digits (HMAC-SHA256)")
    time_ms = int(time_text)
    if time_ms < now_ms - past_seconds * 1000:
        raise _too_old()
    if time_ms > now_ms + future_seconds * 1000:
        raise unauthorized("X-Job-Time is in the future: check the clock of the job's node")
    if headers.get(HEADER_SIGNATURE, "").lower() == SIGNATURE_V2:
        version = 2
    elif allow_v1:
        version = 1
    else:
        raise unauthorized("signature version 1 is disabled; send X-Job-Signature: v2")
    return SignedHeaders(job_id, time_text, time_ms, given.lower(), version)


def _too_old() -> HookError:
    return unauthorized("X-Job-Time is too old: check the clock, and sign each request anew")


def check_still_in_window(signed: SignedHeaders, *, now_ms: int, past_seconds: float) -> None:
    """The time window again, when the signature is about to be accepted: the replay
    memory forgets a second once the window has passed it, so a request whose body
    arrived after its signature expired would find no trace of an earlier acceptance.
    ``now_ms`` must be the clock reading the replay memory is given."""
    if signed.time_ms < now_ms - past_seconds * 1000:
        raise _too_old()


def signature_matches(
    signed: SignedHeaders, *, method: str, path: str, body: bytes, signer: Signer
) -> bool:
    """Whether ``signer``'s key produced this request's signature (constant-time)."""
    if signed.version == 2:
        expected = signer.v2(signed.time_text, method, path, body)
    else:
        expected = signer.v1(signed.time_text)
    return signatures_equal(expected, signed.signature)


def matching_attempt(
    signed: SignedHeaders,
    *,
    method: str,
    path: str,
    body: bytes,
    candidates: Iterable[tuple[int, Iterable[Signer]]],
) -> int:
    """The attempt whose key signed the request: ``candidates`` are (attempt, its keys).

    Raises HookError(401) when none did: a wrong key, a tampered request, or the key of
    an attempt that is no longer current.
    """
    for attempt, signers in candidates:
        for signer in signers:
            if signature_matches(signed, method=method, path=path, body=body, signer=signer):
                return attempt
    raise unauthorized("bad signature (or the key of an attempt that is no longer current)")


class ReplayGuard(Protocol):
    def accept_once(self, job_id: str, signature: str, time_ms: int, now_ms: int) -> bool: ...


@dataclass
class WindowReplayGuard:
    """Accepted signatures, by the second they were signed, kept as long as the window.

    ``past_seconds`` and ``future_seconds`` are the time check's: a signature signed at
    ``t`` can pass it only while ``now <= t + past``, so its second is forgotten after
    that. Entries are salted 64-bit hashes of (job id, signature): a false "replay"
    would need a collision no caller can aim at (the salt is per process).
    """

    past_seconds: float
    future_seconds: float = 5.0
    bucket_ms: int = 1000
    size: int = 0
    _buckets: dict[int, set[int]] = field(default_factory=dict)
    _expired_at: int = -1

    def _expire(self, now_ms: int) -> None:
        current = now_ms // self.bucket_ms
        if current == self._expired_at:
            return
        self._expired_at = current
        oldest = (now_ms - int(self.past_seconds * 1000)) // self.bucket_ms - 1
        for bucket in [b for b in self._buckets if b < oldest]:
            self.size -= len(self._buckets.pop(bucket))

    def expire(self, now_ms: int) -> None:
        """Forget the seconds the time check refuses anyway (the sweep calls this, so the
        memory shrinks even when no request arrives)."""
        self._expire(now_ms)

    def accept_once(self, job_id: str, signature: str, time_ms: int, now_ms: int) -> bool:
        self._expire(now_ms)
        seen = self._buckets.setdefault(time_ms // self.bucket_ms, set())
        token = hash((job_id, signature))
        if token in seen:
            return False
        seen.add(token)
        self.size += 1
        return True


def check_replay(guard: ReplayGuard, signed: SignedHeaders, now_ms: int) -> None:
    if not guard.accept_once(signed.job_id, signed.signature, signed.time_ms, now_ms):
        raise HookError(401, "REPLAYED", "this signature was already used")
