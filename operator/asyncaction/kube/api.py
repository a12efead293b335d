"""The narrow slices of ``KubeClient`` each consumer needs, as Protocols.

A component names the verbs it calls, not the whole client: an informer lists and
watches, a Lease elector gets, creates and patches one object, the hook's status writer
only patches. ``KubeClient`` satisfies every one of them; a test hands in a small fake
that implements just the slice (an in-memory API server, one that stalls, one that
fails), and mypy checks that the fake and the real client agree on each signature.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from asyncaction.kube.client import WatchEvent


class Reader(Protocol):
    """Read one object by path."""

    async def get(self, path: str) -> dict[str, Any]: ...


class ListWatchApi(Protocol):
    """What an informer needs: paginated LISTs and watches of one collection."""

    async def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = ...
    ) -> dict[str, Any]: ...

    def watch(
        self,
        path: str,
        *,
        label_selector: str | None = ...,
        resource_version: str | None = ...,
        timeout_seconds: int = ...,
        accepted: Callable[[], None] | None = ...,
    ) -> AsyncIterator[WatchEvent]: ...


class CachedReadApi(ListWatchApi, Reader, Protocol):
    """An informer's verbs plus reading one object the cache cannot answer for."""


class Patcher(Protocol):
    """A merge patch of one object (a status subresource, say)."""

    async def patch(
        self, path: str, body: Mapping[str, Any] | builtins.list[Any]
    ) -> dict[str, Any]: ...


class LeaseApi(Protocol):
    """One Lease, each call a single attempt with its own deadline: the elector judges
    a failure itself, so nothing retries behind its back."""

    async def get(
        self, path: str, *, retry: bool = ..., request_timeout: float | None = ...
    ) -> dict[str, Any]: ...

    async def create(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        retry: bool = ...,
        request_timeout: float | None = ...,
    ) -> dict[str, Any]: ...

    async def patch(
        self,
        path: str,
        body: Mapping[str, Any] | builtins.list[Any],
        *,
        retry: bool = ...,
        request_timeout: float | None = ...,
    ) -> dict[str, Any]: ...
