"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does.

Only the leader runs the controllers, so two operator replicas (a rolling update, or two
processes started at once) never both admit actions into the same free slot. A
candidate takes the Lease when it is free or expired (``renewTime`` older than
``leaseDurationSeconds``), then renews it every ``renew_seconds``. Every write carries
the Lease's resourceVersion, so two candidates racing for an expired Lease cannot both
win: the loser gets a Conflict and keeps waiting. A leader that cannot renew before
the Lease would expire stops leading (``lost`` is set) rather than risk a second
leader; on a clean shutdown it releases the Lease so a successor starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asyncaction.kube import AlreadyExists, ApiError, Conflict, KubeClient, NotFound
from asyncaction.timeutil import parse_time, utcnow

log = logging.getLogger(__name__)
LEASE_API = "/apis/coordination.k8s.io/v1"


def lease_path(namespace: str, name: str | None = None) -> str:
    path = f"{LEASE_API}/namespaces/{namespace}/leases"
    return f"{path}/{name}" if name else path


def _micro_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_micro_time(text: str | None) -> datetime | None:
    return parse_time(text)


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


def lease_expired(spec: dict[str, Any], now: datetime) -> bool:
    """Free (no holder) or not renewed within its duration."""
    if not spec.get("holderIdentity"):
        return True
    renewed = _parse_micro_time(spec.get("renewTime")) or _parse_micro_time(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 0)
    return renewed is None or renewed + timedelta(seconds=duration) < now


@dataclass
class LeaderElector:
    kube: KubeClient
    namespace: str
    name: str = "asyncaction-operator"
    identity: str = field(default_factory=default_identity)
    lease_seconds: int = 15
    renew_seconds: float = 5.0
    retry_seconds: float = 2.0
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    _resource_version: str | None = None
    _transitions: int = 0

    def _body(self, now: datetime, *, acquire: bool) -> dict[str, Any]:
        transitions = self._transitions if acquire else None
        return lease_spec(self.identity, self.lease_seconds, now, transitions=transitions)

    async def try_acquire_or_renew(self) -> bool:
        """One round: True when this candidate holds the Lease afterwards."""
        now = utcnow()
        path = lease_path(self.namespace, self.name)
        try:
            lease = await self.kube.get(path)
        except NotFound:
            body = build_lease(self.namespace, self.name, self._body(now, acquire=True))
            try:
                created = await self.kube.create(lease_path(self.namespace), body)
            except AlreadyExists:
                return False
            self._resource_version = created["metadata"]["resourceVersion"]
            return True
        spec = lease.get("spec") or {}
        mine = spec.get("holderIdentity") == self.identity
        if not mine and not lease_expired(spec, now):
            return False
        self._transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        patch = {
            "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
            "spec": self._body(now, acquire=not mine),
        }
        try:
            updated = await self.kube.patch(path, patch)
        except Conflict:
            return False
        self._resource_version = updated["metadata"]["resourceVersion"]
        return True

    async def acquire(self) -> None:
        """Wait until this candidate leads."""
        while True:
            try:
                if await self.try_acquire_or_renew():
                    log.info(
                        "leading as %s (lease %s/%s)", self.identity, self.namespace, self.name
                    )
                    return
            except ApiError as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            await asyncio.sleep(self.retry_seconds)

    async def keep(self) -> None:
        """Renew until cancelled; set ``lost`` and return when renewal fails too long."""
        last = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                if await self.try_acquire_or_renew():
                    last = asyncio.get_running_loop().time()
                    continue
                log.error("lease %s/%s was taken by another operator", self.namespace, self.name)
            except ApiError as exc:
                log.warning("lease renewal failed: %s", exc)
                elapsed = asyncio.get_running_loop().time() - last
                if elapsed < self.lease_seconds - self.renew_seconds:
                    continue
            self.lost.set()
            return

    async def release(self) -> None:
        """Give the Lease up (a clean shutdown), so a successor need not wait for expiry."""
        if self._resource_version is None:
            return
        patch = {
            "metadata": {"resourceVersion": self._resource_version},
            "spec": {"holderIdentity": None, "renewTime": None, "acquireTime": None},
        }
        try:
            await self.kube.patch(lease_path(self.namespace, self.name), patch)
        except ApiError as exc:
            log.info("could not release lease %s/%s: %s", self.namespace, self.name, exc)
