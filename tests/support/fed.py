"""An API slice for caches that a test fills by hand.

Many unit tests build an informer or the hook's ``ActionCache`` and put objects in it
directly instead of serving LISTs and watches. Their fakes inherit this class: it
satisfies the list/watch/read Protocols of ``asyncaction.kube.api`` for the type checker,
and any LIST, watch or read that does reach it fails the test with the path, so a fake
can never answer a call it was not written for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from asyncaction.kube.client import WatchEvent


class FedDirectly:
    async def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        raise AssertionError(f"{method} {path}: this cache is filled by the test")

    async def watch(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        accepted: Callable[[], None] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        raise AssertionError(f"watch {path}: this cache is filled by the test")
        yield  # an async generator, as KubeClient.watch is

    async def get(self, path: str) -> dict[str, Any]:
        raise AssertionError(f"GET {path}: this cache is filled by the test")
