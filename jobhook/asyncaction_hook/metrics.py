"""What the hook costs the API server, counted where it is spent, and ``GET /metrics``.

Every API request the hook makes goes through ``CountingKubeClient``, so a test (or a
Prometheus scrape) can prove that refused traffic costs the API server nothing: the
counters move only for the watch's lists and for writes of authenticated reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from asyncaction.kube import KubeClient
from asyncaction.kube.client import WatchEvent

if TYPE_CHECKING:
    from asyncaction_hook.app import Hook


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


def per_uid_entries(hook: Hook) -> dict[str, int]:
    """How many entries each per-action map holds: they must follow the running
    actions, not every action ever seen (a test drives 10,000 actions through them)."""
    return {
        "budgets": len(hook.budgets.actions),
        "coalescer": hook.coalescer.tracked,
        "listings": len(hook.listings),
        "keys": len(hook.derived),
    }


def render_state(hook: Hook) -> str:
    """Gauges of the hook's memory: cached actions, per-uid entries, replay entries."""
    lines = [
        "# TYPE asyncaction_hook_cached_actions gauge",
        f"asyncaction_hook_cached_actions {len(hook.cache.actions)}",
        "# TYPE asyncaction_hook_per_uid_entries gauge",
    ]
    for name, count in sorted(per_uid_entries(hook).items()):
        lines.append(f'asyncaction_hook_per_uid_entries{{map="{name}"}} {count}')
    size = getattr(hook.guard, "size", None)
    if isinstance(size, int):
        lines += [
            "# TYPE asyncaction_hook_replay_entries gauge",
            f"asyncaction_hook_replay_entries {size}",
        ]
    return "\n".join(lines) + "\n"
