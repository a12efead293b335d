"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does.

Only the leader runs the controllers, so two operator replicas (a rolling update, or two
processes started at once) never both admit actions into the same free slot. The
guarantee rests on three rules, each measured on this replica's monotonic clock, never
by comparing another machine's ``renewTime`` with ours:

- a candidate judges a held Lease expired only when it has seen the same record
  (resourceVersion) for ``lease_seconds``: the time it last *observed a change*, not
  the time the holder wrote, so clock skew between machines does not matter;
- a leader counts a renewal from the moment it *sent* the write that succeeded; if it
  has not renewed within ``renew_deadline`` (shorter than the Lease) of that moment, it
  is ``lost``: the manager stops the controllers at once and the process exits non-zero
  (the Deployment restarts it as a standby), before any candidate may take over;
- every Lease call is one HTTP attempt (no retries inside the client) bounded by the
  time left before the deadline, and any exception counts as a failed renewal.

Every write carries the Lease's resourceVersion, so two candidates racing for an expired
Lease cannot both win: the loser gets a Conflict and keeps waiting. On a clean shutdown
the leader releases the Lease so a successor starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asyncaction.kube import AlreadyExists, ApiError, Conflict, NotFound
from asyncaction.kube.api import LeaseApi
from asyncaction.timeutil import utcnow

log = logging.getLogger(__name__)
LEASE_API = "/apis/coordination.k8s.io/v1"


def lease_path(namespace: str, name: str | None = None) -> str:
    path = f"{LEASE_API}/namespaces/{namespace}/leases"
    return f"{path}/{name}" if name else path


def _micro_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def build_lease(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The Lease object a candidate creates (pure: the schema tests build it too)."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def lease_spec(
    identity: str, seconds: int, now: datetime, *, transitions: int | None
) -> dict[str, Any]:
    """The spec a candidate writes: renewed now; acquired now too when ``transitions``
    (the count after this acquisition) is given."""
    spec: dict[str, Any] = {
        "holderIdentity": identity,
        "leaseDurationSeconds": seconds,
        "renewTime": _micro_time(now),
    }
    if transitions is not None:
        spec["acquireTime"] = _micro_time(now)
        spec["leaseTransitions"] = transitions
    return spec


class LeaseRefused(RuntimeError):
    """The API server refuses this replica the Lease for good: retrying cannot help."""


@dataclass(frozen=True)
class Observation:
    """The Lease record as this replica last saw it change, and when (monotonic)."""

    holder: str
    resource_version: str
    lease_seconds: float
    at: float


def may_take(seen: Observation, identity: str, now: float) -> bool:
    """Whether ``identity`` may write the Lease at ``now``: it holds it, nobody does, or
    the holder's record has not changed for its whole duration as seen from here."""
    if not seen.holder or seen.holder == identity:
        return True
    return seen.at + seen.lease_seconds <= now


@dataclass
class LeaderElector:
    kube: LeaseApi
    namespace: str
    name: str = "asyncaction-operator"
    identity: str = field(default_factory=default_identity)
    lease_seconds: int = 15
    # Time between two renewals, and between two tries while the Lease is held elsewhere.
    renew_seconds: float = 2.0
    # A leader that has not renewed within this long of its last renewal is lost.
    renew_deadline: float = 10.0
    retry_seconds: float = 2.0
    clock: Callable[[], float] = time.monotonic
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    lost_reason: str = ""
    observed: Observation | None = None
    renewed_at: float | None = None  # when the write of the last renewal was sent
    _transitions: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.renew_seconds < self.renew_deadline < self.lease_seconds:
            raise ValueError(
                f"lease timings must satisfy 0 < renew period ({self.renew_seconds}) < renew"
                f" deadline ({self.renew_deadline}) < lease ({self.lease_seconds})"
            )

    def _spec(self, now: datetime, *, acquire: bool) -> dict[str, Any]:
        transitions = self._transitions if acquire else None
        return lease_spec(self.identity, self.lease_seconds, now, transitions=transitions)

    def _observe(self, lease: dict[str, Any], now: float) -> Observation:
        """Record ``lease``; the observation time moves only when the record changed."""
        spec = lease.get("spec") or {}
        version = str(lease["metadata"]["resourceVersion"])
        if self.observed is None or self.observed.resource_version != version:
            self.observed = Observation(
                holder=str(spec.get("holderIdentity") or ""),
                resource_version=version,
                lease_seconds=float(spec.get("leaseDurationSeconds") or self.lease_seconds),
                at=now,
            )
        return self.observed

    def _won(self, lease: dict[str, Any], sent_at: float) -> bool:
        self._observe(lease, sent_at)
        self.renewed_at = sent_at
        return True

    async def try_acquire_or_renew(self, call_timeout: float | None = None) -> bool:
        """One round (two calls at most, none retried): True when this candidate holds
        the Lease afterwards. Raises whatever the API calls raise."""
        options: dict[str, Any] = {"retry": False, "request_timeout": call_timeout}
        path = lease_path(self.namespace, self.name)
        try:
            lease = await self.kube.get(path, **options)
        except NotFound:
            sent_at = self.clock()
            body = build_lease(self.namespace, self.name, self._spec(utcnow(), acquire=True))
            try:
                created = await self.kube.create(lease_path(self.namespace), body, **options)
            except AlreadyExists:
                return False
            return self._won(created, sent_at)
        seen = self._observe(lease, self.clock())
        if not may_take(seen, self.identity, self.clock()):
            return False
        mine = seen.holder == self.identity
        spec = lease.get("spec") or {}
        self._transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        sent_at = self.clock()
        patch = {
            "metadata": {"resourceVersion": seen.resource_version},
            "spec": self._spec(utcnow(), acquire=not mine),
        }
        try:
            updated = await self.kube.patch(path, patch, **options)
        except Conflict:
            return False
        return self._won(updated, sent_at)

    async def acquire(self) -> None:
        """Wait until this candidate leads. Raises ``LeaseRefused`` when the API server
        refuses the Lease for good (RBAC, or its namespace does not exist)."""
        while True:
            try:
                async with asyncio.timeout(self.renew_deadline):
                    won = await self.try_acquire_or_renew(self.renew_deadline)
                if won:
                    log.info(
                        "leading as %s (lease %s/%s)", self.identity, self.namespace, self.name
                    )
                    return
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status in (401, 403, 404):  # 404 here: the create's namespace
                    raise LeaseRefused(
                        f"lease {self.namespace}/{self.name}: {exc} (does the operator's role"
                        " grant get, create and patch on leases in that namespace?"
                        " ASYNCACTION_LEASE_NAMESPACE names it)"
                    ) from exc
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            except Exception as exc:  # any other failure: try again later
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc or repr(exc))
            await asyncio.sleep(self.retry_seconds)

    def _lose(self, reason: str) -> None:
        self.lost_reason = reason
        log.error("lease %s/%s lost: %s", self.namespace, self.name, reason)
        self.lost.set()

    def remaining(self) -> float:
        """Seconds until the renew deadline (negative: passed)."""
        if self.renewed_at is None:
            return 0.0
        return self.renewed_at + self.renew_deadline - self.clock()

    async def keep(self) -> None:
        """Renew until cancelled; set ``lost`` and return as soon as the Lease is held
        elsewhere or no renewal succeeded before the renew deadline."""
        while True:
            await asyncio.sleep(min(self.renew_seconds, max(self.remaining(), 0.0)))
            left = self.remaining()
            if left <= 0:
                self._lose(f"not renewed within the renew deadline ({self.renew_deadline}s)")
                return
            try:
                async with asyncio.timeout(left):
                    renewed = await self.try_acquire_or_renew(left)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                self._lose(f"renewal did not answer within the renew deadline ({left:.1f}s left)")
                return
            except Exception as exc:  # any failure is a failed renewal; the deadline decides
                log.warning("lease renewal failed: %s", exc or repr(exc))
                continue
            if not renewed:
                holder = self.observed.holder if self.observed else "?"
                self._lose(f"taken by {holder}")
                return

    async def release(self) -> None:
        """Give the Lease up (a clean shutdown), so a successor need not wait for expiry."""
        if self.observed is None or self.observed.holder != self.identity or self.lost.is_set():
            return
        patch = {
            "metadata": {"resourceVersion": self.observed.resource_version},
            "spec": {"holderIdentity": None, "renewTime": None, "acquireTime": None},
        }
        try:
            await self.kube.patch(
                lease_path(self.namespace, self.name),
                patch,
                retry=False,
                request_timeout=self.retry_seconds,
            )
        except ApiError as exc:
            log.info("could not release lease %s/%s: %s", self.namespace, self.name, exc)
        except (OSError, TimeoutError) as exc:
            log.info("could not release lease %s/%s: %r", self.namespace, self.name, exc)
