"""The AsyncAction controller's writes to the API server: the verbs, counted, cached.

Three parts write (the effect executor, the per-attempt Secrets and the status
writer); each goes through ``ApiWrites`` so that every write is counted once in
``asyncaction_api_writes_total`` and every answer enters its cache through
``Caches.accept`` (so the next reconcile sees it before the watch echoes it, and an
answer that raced with a deletion never brings the deleted object back).

``KubeApi`` is the narrow part of ``asyncaction.kube.KubeClient`` they use (four
verbs), so the controller runs the same against the API server and an in-memory fake.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from asyncaction.controllers.caches import Caches
from asyncaction.runtime import Informers, Metrics

Obj = dict[str, Any]


class KubeApi(Protocol):
    """The part of ``asyncaction.kube.KubeClient`` the action controller writes with."""

    async def get(self, path: str) -> dict[str, Any]: ...

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch(
        self, path: str, body: Mapping[str, Any] | builtins.list[Any], *, patch_type: str = ...
    ) -> dict[str, Any]: ...

    async def delete(
        self,
        path: str,
        *,
        propagation: str = ...,
        missing_ok: bool = ...,
        preconditions: Mapping[str, str] | None = ...,
    ) -> None: ...


@dataclass(frozen=True)
class ApiWrites:
    """The client, the caches its answers go to, and the write counter."""

    kube: KubeApi
    caches: Caches
    metrics: Metrics

    def count(self, resource: str) -> None:
        self.metrics.inc("asyncaction_api_writes_total", {"resource": resource})

    def created(self, cache: Informers, resource: str, obj: Obj) -> Obj:
        """Count a created object and put it in the cache (unless deleted meanwhile)."""
        self.count(resource)
        self.caches.accept(cache, obj, update=False)
        return obj

    async def delete(
        self,
        path: str,
        *,
        propagation: str = "Background",
        preconditions: Mapping[str, str] | None = None,
    ) -> None:
        await self.kube.delete(path, propagation=propagation, preconditions=preconditions)
        self.count(path.rsplit("/", 2)[-2])
