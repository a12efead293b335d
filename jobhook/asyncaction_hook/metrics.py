"""What the hook costs the API server, counted where it is spent, and ``GET /metrics``.

Every API request the hook makes goes through ``CountingKubeClient``, so a test (or a
Prometheus scrape) can prove that refused traffic costs the API server nothing: the
counters move only for the watch's lists and for writes of authenticated reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

from asyncaction.kube import KubeClient
from asyncaction.kube.client import WatchEvent


class CountingKubeClient(KubeClient):
    """A ``KubeClient`` counting its requests by verb (a retry counts as one request)."""

    requests: Counter[str]

    def _count(self, verb: str) -> None:
        if not hasattr(self, "requests"):
            self.requests = Counter()
        self.requests[verb] += 1

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | list[Any] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        retry: bool = True,
        request_timeout: float | None = None,
    ) -> dict[str, Any]:
        self._count(method.upper())
        return await super().request(
            method,
            path,
            body=body,
            params=params,
            content_type=content_type,
            retry=retry,
            request_timeout=request_timeout,
        )

    async def watch(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        self._count("WATCH")
        async for event in super().watch(
            path,
            label_selector=label_selector,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
        ):
            yield event


def render(counters: Mapping[str, Mapping[str, int]]) -> str:
    """Prometheus text format: ``{metric: {label value: count}}``, one label ``verb``."""
    lines = []
    for metric, by_label in sorted(counters.items()):
        lines.append(f"# TYPE {metric} counter")
        for label, value in sorted(by_label.items()):
            lines.append(f'{metric}{{verb="{label}"}} {value}')
    return "\n".join(lines) + "\n"
