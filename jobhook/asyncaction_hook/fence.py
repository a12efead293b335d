"""One process per shard at a time, and what the previous one accepted (replay safety).

Replay protection is a memory of accepted signatures; two processes serving one shard
with separate memories would each accept a captured request once. So every hook process
of a shard holds a coordination.k8s.io Lease (``<prefix>-shard-<n>``) before it accepts
anything, and hands over to its successor the one thing the successor needs: a bound on
the signing times the previous holder accepted.

- The holder renews every ``duration / 3`` seconds and writes with each renewal a
  *promise* (``accepted-until``): ``now + duration + future``. It never accepts a request
  signed later than the promise it last wrote, and it stops accepting altogether once it
  could not renew for ``duration`` seconds, so the promise bounds what it accepted even
  if it crashes. A successor that takes an expired Lease refuses every request signed
  at or before that promise (503, the job signs again).
- A holder that stops cleanly (SIGTERM) releases the Lease with the exact newest signing
  time it accepted and, for the requests signed since a waiting successor announced
  itself (``waiting-since``), the newest signing time per action. The successor then
  refuses only what the previous holder could have seen, so requests that a successor
  held while it waited are answered, not refused: seed-era jobs (no retries) survive a
  rollout.
- A process that finds no Lease (or one without a promise) knows nothing of what
  earlier processes accepted (a shard added by a change of the shard count, a renamed
  Lease, a switch from the start fence): it refuses anything signed before it took the
  shard.
- A successor that finds the Lease held waits (requests are held meanwhile, bounded,
  then answered 503 with Retry-After). It announces itself before it listens
  (``announce``), so no request reaches it before the holder knows to hand over per
  action.

Times are milliseconds of the hook's clock, the same clock that checks ``X-Job-Time``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyncaction.kube import ApiError, Conflict, NotFound

log = logging.getLogger(__name__)

ACCEPTED_UNTIL = "asyncaction.dev/accepted-until-ms"
PER_ACTION = "asyncaction.dev/per-action-ms"
PER_ACTION_FROM = "asyncaction.dev/per-action-from-ms"
WAITING_SINCE = "asyncaction.dev/waiting-since-ms"
MAX_HANDOVER_BYTES = 200_000  # Lease annotations may hold 256 KiB together


def lease_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def _micro_time(epoch_ms: int) -> str:
    seconds, ms = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}000Z"


@dataclass(frozen=True)
class Handover:
    """What a successor must refuse: everything signed at or before ``until_ms``, except,
    from ``per_action_from_ms`` on, only what each action had signed (``per_action``)."""

    until_ms: int = 0
    per_action_from_ms: int | None = None
    per_action: dict[str, int] = field(default_factory=dict)

    def refuses(self, uid: str, time_ms: int) -> bool:
        if self.per_action_from_ms is not None and time_ms >= self.per_action_from_ms:
            return time_ms <= self.per_action.get(uid, -1)
        return time_ms <= self.until_ms

    @classmethod
    def from_annotations(cls, annotations: dict[str, str], *, clean: bool) -> Handover:
        until = int(annotations.get(ACCEPTED_UNTIL) or 0)
        if not clean:
            return cls(until)
        since = annotations.get(PER_ACTION_FROM)
        raw = annotations.get(PER_ACTION)
        if since is None or raw is None:
            return cls(until)
        try:
            per_action = {str(k): int(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            return cls(until)
        return cls(until, int(since), per_action)


@dataclass
class AcceptedLog:
    """The newest signing time accepted, overall and per action for recent seconds."""

    keep_ms: int = 120_000
    newest_ms: int = 0
    # the per-action record holds every acceptance signed at or after this (seconds
    # before it were forgotten): a hand-over per action can start no earlier
    complete_from_ms: int = 0
    _by_second: dict[int, dict[str, int]] = field(default_factory=dict)

    def record(self, uid: str, time_ms: int) -> None:
        self.newest_ms = max(self.newest_ms, time_ms)
        second = time_ms // 1000
        bucket = self._by_second.setdefault(second, {})
        bucket[uid] = max(bucket.get(uid, 0), time_ms)
        if len(self._by_second) > self.keep_ms // 1000 + 10:
            oldest = second - self.keep_ms // 1000
            for key in [k for k in self._by_second if k < oldest]:
                del self._by_second[key]
            self.complete_from_ms = max(self.complete_from_ms, oldest * 1000)

    def since(self, from_ms: int) -> dict[str, int]:
        merged: dict[str, int] = {}
        for second, bucket in self._by_second.items():
            if (second + 1) * 1000 <= from_ms:
                continue
            for uid, signed in bucket.items():
                if signed >= from_ms:
                    merged[uid] = max(merged.get(uid, 0), signed)
        return merged


class FenceApi(Protocol):
    """The verbs the fence uses on its one Lease (``KubeClient`` has them all)."""

    async def get(self, path: str) -> dict[str, Any]: ...

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def request(
        self, method: str, path: str, *, body: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def patch(
        self, path: str, body: Mapping[str, Any] | builtins.list[Any]
    ) -> dict[str, Any]: ...


@dataclass
class ShardFence:
    kube: FenceApi
    namespace: str
    name: str
    future_ms: int
    duration_s: int = 15
    identity: str = field(default_factory=lambda: f"hook-{uuid.uuid4().hex[:12]}")
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    accepted: AcceptedLog = field(default_factory=AcceptedLog)
    handover: Handover | None = None  # set once this process holds the Lease
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    _promise_ms: int = 0
    _renewed_at: float = float("-inf")  # monotonic; never renewed: not fresh
    _lease: dict[str, Any] | None = None
    _waiting_written: bool = False

    @property
    def serving(self) -> bool:
        """Whether this process may accept a request now."""
        fresh = time.monotonic() - self._renewed_at < self.duration_s
        return self.holding.is_set() and fresh and not self.lost.is_set()

    def refuses(self, uid: str, time_ms: int) -> str | None:
        """Why a request signed at ``time_ms`` may not be accepted here (None: it may)."""
        if self.handover is None or not self.serving:
            return "another process of this shard may still serve it"
        if time_ms > self._promise_ms:
            return "signed beyond what this process has announced"
        if self.handover.refuses(uid, time_ms):
            return "signed before this process took over the shard"
        return None

    def _lease_body(self, annotations: dict[str, str], holder: str) -> dict[str, Any]:
        now = self.clock_ms()
        base = self._lease or {}
        meta = dict(base.get("metadata") or {"name": self.name, "namespace": self.namespace})
        meta["annotations"] = annotations
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": self.duration_s,
                "renewTime": _micro_time(now),
                "acquireTime": (base.get("spec") or {}).get("acquireTime") or _micro_time(now),
            },
        }

    def _promise(self) -> int:
        return self.clock_ms() + self.duration_s * 1000 + self.future_ms + 1000

    async def _write(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._lease is None:
            return await self.kube.create(lease_path(self.namespace), body)
        return await self.kube.request("PUT", lease_path(self.namespace, self.name), body=body)

    async def acquire(self) -> None:
        """Wait until this process holds the Lease (a successor waits for its holder)."""
        seen_version, seen_at = None, time.monotonic()
        while True:
            try:
                self._lease = await self.kube.get(lease_path(self.namespace, self.name))
            except NotFound:
                self._lease = None
            spec = (self._lease or {}).get("spec") or {}
            annotations = dict(((self._lease or {}).get("metadata") or {}).get("annotations") or {})
            holder = spec.get("holderIdentity") or ""
            version = ((self._lease or {}).get("metadata") or {}).get("resourceVersion")
            if version != seen_version:
                seen_version, seen_at = version, time.monotonic()
            duration = int(spec.get("leaseDurationSeconds") or self.duration_s)
            expired = time.monotonic() - seen_at > duration
            if self._lease is None or not holder or holder == self.identity or expired:
                if ACCEPTED_UNTIL in annotations:
                    handover = Handover.from_annotations(annotations, clean=not holder)
                else:
                    # No record of what earlier processes accepted (a new shard, a renamed
                    # Lease, the start fence before): refuse what was signed before this
                    # process took the shard. (Not up to now + future, as the start fence
                    # does: a job that starts with the shard, written like the seed's
                    # client, would fail on its first report; what that leaves open is a
                    # request signed ahead of the signer's clock and accepted by a process
                    # of the old shard count in the seconds before it stopped.)
                    handover = Handover(self.clock_ms())
                promise = self._promise()
                kept = {k: v for k, v in annotations.items() if not k.startswith("asyncaction.")}
                body = self._lease_body({**kept, ACCEPTED_UNTIL: str(promise)}, self.identity)
                try:
                    self._lease = await self._write(body)
                except (Conflict, ApiError) as exc:
                    if not isinstance(exc, Conflict) and exc.status != 409:
                        raise
                    continue  # someone else wrote first: look again
                self.handover, self._promise_ms = handover, promise
                self._renewed_at = time.monotonic()
                self.holding.set()
                log.info("holding shard lease %s/%s", self.namespace, self.name)
                return
            if not self._waiting_written:
                await self._announce()
            await asyncio.sleep(0.25)

    async def announce(self) -> None:
        """Before this process listens: when another process holds the Lease, tell it a
        successor waits. A holder that releases before it knows so hands over its newest
        time only, and every request this process held meanwhile, signed before some
        other job's newer report, would be refused (a seed-era job then fails); announced
        before the first request can arrive, the hand-over is per action."""
        try:
            lease = await self.kube.get(lease_path(self.namespace, self.name))
        except NotFound:
            return
        except ApiError as exc:
            log.warning("could not read the shard lease before listening: %s", exc)
            return
        holder = (lease.get("spec") or {}).get("holderIdentity") or ""
        if holder and holder != self.identity:
            await self._announce()

    async def _announce(self) -> None:
        """Tell the holder a successor waits, so it hands over per-action times."""
        body = {"metadata": {"annotations": {WAITING_SINCE: str(self.clock_ms())}}}
        try:
            self._lease = await self.kube.patch(lease_path(self.namespace, self.name), body)
            self._waiting_written = True
        except ApiError as exc:
            log.debug("could not announce waiting: %s", exc)

    async def keep(self) -> None:
        """Renew until cancelled; on a renewal that misses its deadline, give up serving."""
        while not self.lost.is_set():
            await asyncio.sleep(self.duration_s / 3)
            try:
                self._lease = await self.kube.get(lease_path(self.namespace, self.name))
                if ((self._lease or {}).get("spec") or {}).get("holderIdentity") != self.identity:
                    raise ApiError(409, "Conflict", "the shard lease has another holder")
                annotations = dict((self._lease or {}).get("metadata", {}).get("annotations") or {})
                promise = self._promise()
                annotations[ACCEPTED_UNTIL] = str(promise)
                self._lease = await self._write(self._lease_body(annotations, self.identity))
                self._promise_ms, self._renewed_at = promise, time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure is a failed renewal
                log.warning("renewing the shard lease failed: %s", exc)
                if time.monotonic() - self._renewed_at >= self.duration_s:
                    log.error("shard lease lost: this process stops serving")
                    self.lost.set()

    async def release(self) -> None:
        """Stop accepting, and hand over what a successor must refuse."""
        if not self.holding.is_set() or self.lost.is_set():
            return
        self.holding.clear()
        try:
            self._lease = await self.kube.get(lease_path(self.namespace, self.name))
            meta = (self._lease or {}).get("metadata") or {}
            annotations = dict(meta.get("annotations") or {})
            if ((self._lease or {}).get("spec") or {}).get("holderIdentity") != self.identity:
                return
            annotations[ACCEPTED_UNTIL] = str(self.accepted.newest_ms)
            waiting = annotations.pop(WAITING_SINCE, None)
            annotations.pop(PER_ACTION, None)
            annotations.pop(PER_ACTION_FROM, None)
            if waiting is not None:
                # Per action only where the log is complete; before that, the successor
                # refuses up to the newest time accepted (``Handover.refuses``).
                since = max(int(waiting) - self.future_ms, self.accepted.complete_from_ms)
                per_action = json.dumps(self.accepted.since(since), separators=(",", ":"))
                if len(per_action) <= MAX_HANDOVER_BYTES:
                    annotations[PER_ACTION_FROM] = str(since)
                    annotations[PER_ACTION] = per_action
            await self._write(self._lease_body(annotations, ""))
            log.info("released shard lease %s/%s", self.namespace, self.name)
        except ApiError as exc:
            log.warning("could not release the shard lease (it will expire): %s", exc)
