"""The hook's Prometheus metrics, and what the hook costs the API server.

``HookMetrics`` holds the definitions: requests by route and code and their duration
(``served``, called by the server's one wrapper around every route), refusals by
reason, reports against status writes, presigned URLs, API requests by method and code,
and gauges read at scrape time (coalescer backlog, cache sync). Every API request the
hook makes also goes through ``CountingKubeClient``, so a test can prove that refused
traffic costs the API server nothing: the counters move only for the watch's lists and
for writes of authenticated reports. Labels are bounded: a route template, a code, a
reason; never an action.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import prometheus_client.metrics
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from asyncaction.kube import KubeClient
from asyncaction.kube.client import WatchEvent
from asyncaction.runtime.metrics import events_posted, rest_client_requests

if TYPE_CHECKING:
    from asyncaction_hook.app import Hook
    from asyncaction_hook.pacing import WritePacer


class CountingKubeClient(KubeClient):
    """A ``KubeClient`` counting its requests by verb (a retry counts as one request)."""

    requests: collections.Counter[str]

    def _count(self, verb: str) -> None:
        if not hasattr(self, "requests"):
            self.requests = collections.Counter()
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
        accepted: Callable[[], None] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        self._count("WATCH")
        async for event in super().watch(
            path,
            label_selector=label_selector,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            accepted=accepted,
        ):
            yield event


def per_uid_entries(hook: Hook) -> dict[str, int]:
    """How many entries each per-action map holds: they must follow the running
    actions, not every action ever seen (a test drives 10,000 actions through them)."""
    return {
        "budgets": len(hook.budgets.actions),
        "coalescer": hook.coalescer.tracked,
        "listings": len(hook.listings),
        "keys": len(hook.derived),
        "tasks": len(hook.task_books.books),
    }


def state_families(hook: Hook) -> list[Metric]:
    """Gauges of the hook's memory, read at scrape time: cached actions, per-uid entries,
    replay entries."""
    cached = GaugeMetricFamily(
        "asyncaction_hook_cached_actions",
        "Actions of this shard held in the hook's cache.",
        value=len(hook.cache.actions),
    )
    entries = GaugeMetricFamily(
        "asyncaction_hook_per_uid_entries",
        "Entries of each per-action map (they follow the running actions).",
        labels=["map"],
    )
    for name, count in sorted(per_uid_entries(hook).items()):
        entries.add_metric([name], count)
    families: list[Metric] = [cached, entries]
    size = getattr(hook.guard, "size", None)
    if isinstance(size, int):
        families.append(
            GaugeMetricFamily(
                "asyncaction_hook_replay_entries",
                "Signatures the replay guard remembers.",
                value=size,
            )
        )
    return families


UNKNOWN_ID = "unknown job id"  # the message of authenticate's 404
REFUSALS = {
    # (HTTP status, error reason) -> refusal reason; 401 UNAUTHORIZED is split by message.
    (401, "REPLAYED"): "replay",
    (401, "STALE_ATTEMPT"): "stale",
    (421, "MISDIRECTED"): "wrong_shard",
    (429, "RATE_LIMITED"): "rate_limited",
    (413, "TOO_LARGE"): "too_large",
    (503, "RESTARTED"): "restarted",
    (503, "NOT_READY"): "not_ready",
}


def refusal_reason(status: int, reason: str, message: str) -> str | None:
    """Why the hook refused a job's request, as a bounded label value (None: not a
    refusal of the caller, e.g. 409 for a finished action or 503 for the API server)."""
    if (status, reason) in REFUSALS:
        return REFUSALS[(status, reason)]
    if status == 404 and message == UNKNOWN_ID:
        return "unknown_id"  # other 404s name a missing object of a known action
    if status == 401:
        if "too old" in message or "in the future" in message:
            return "stale"
        if "bad signature" in message:
            return "bad_signature"
        return "bad_headers"
    return None


M = TypeVar("M", bound=MetricWrapperBase)


class HookMetrics:
    """The hook's Prometheus metrics (names in docs/observability.md).

    What every request and report counts (requests, durations, reports) is
    ``RequestStats``'s plain numbers. The other series are prometheus_client's; their
    ``labels()`` checks, stringifies and looks its values up under a lock each time, so
    the children are kept here once made (``child``). Made on first use, as ``labels()``
    would: a series appears in the exposition only once it has counted something.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        p = "asyncaction_hook_"
        # requests, their durations and reports: counted on every request (``RequestStats``)
        self.stats = RequestStats(REQUEST_BUCKETS)
        r.register(self.stats)
        self.refusals = Counter(
            f"{p}refusals", "Requests refused, by reason (bad_signature, stale, replay, "
            "unknown_id, wrong_shard, rate_limited, ...).", ["reason"], registry=r,
        )  # fmt: skip
        self.presigned = Counter(
            f"{p}presigned_urls", "Presigned S3 URLs handed out, by method.", ["method"],
            registry=r,
        )  # fmt: skip
        self.api_requests = rest_client_requests(p, r)
        self.events = events_posted(p, r)
        self._live: list[Callable[[], Iterable[Metric]]] = []
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r.register(_Live(self))

    def child(self, metric: M, *values: str) -> M:
        """``metric.labels(*values)``, made once (label values are bounded: routes,
        codes, reasons, kinds, methods)."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def report(self, kind: str) -> None:
        self.stats.report(kind)

    def presigned_url(self, method: str) -> None:
        self.child(self.presigned, method).inc()

    def bind(self, families: Callable[[], Iterable[Metric]]) -> None:
        self._live.append(families)

    def count_request(self, method: str, code: int) -> None:
        self.child(self.api_requests, method.upper(), str(code)).inc()

    def served(self, route: str, code: int, seconds: float) -> None:
        """Counts and times one answered request (``server.serving`` calls this for every
        request, refusals included; ``route`` is its template, or "other")."""
        self.stats.served(route, code, seconds)

    def refused(self, status: int, reason: str, message: str) -> None:
        why = refusal_reason(status, reason, message)
        if why is not None:
            self.child(self.refusals, why).inc()


REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Durations:
    """One route's request durations: a histogram's buckets (not cumulative), sum and
    creation time."""

    __slots__ = ("buckets", "created", "sum")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.sum = 0.0
        self.created = time.time()


class RequestStats(Collector):
    """``asyncaction_hook_requests_total`` (route, code), ``..._request_duration_seconds``
    (route) and ``..._reports_total`` (kind), counted in plain numbers and exposed exactly
    as prometheus_client's ``Counter`` and ``Histogram`` expose them, ``_created`` series
    included.

    Every request counts in two of these and every report in a third: through
    prometheus_client's children that is three Python layers and a lock each, 4 µs of the
    hook's ~65 µs of its own code a report on the project's machine. The hook counts on its
    event loop's thread alone (the server, the routes and the scrape all run there), so it
    needs no lock. A series appears once it has counted something, as a child would.
    """

    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(float(b) for b in buckets)  # ascending
        # the buckets' le labels as prometheus_client writes them (untyped there)
        self._les = [*(floatToGoString(b) for b in self.bounds), "+Inf"]  # type: ignore[no-untyped-call]
        self.requests: dict[tuple[str, int], list[float]] = {}  # -> [count, created]
        self.durations: dict[str, _Durations] = {}
        self.reports: dict[str, list[float]] = {}  # kind -> [count, created]
        # (route, code) -> its two series: one lookup a request
        self._served: dict[tuple[str, int], tuple[list[float], _Durations]] = {}

    def served(self, route: str, code: int, seconds: float) -> None:
        series = self._served.get((route, code))
        if series is None:
            durations = self.durations.get(route)
            if durations is None:
                durations = self.durations[route] = _Durations(len(self.bounds) + 1)
            count = self.requests[route, code] = [0, time.time()]
            series = self._served[route, code] = (count, durations)
        series[0][0] += 1
        durations = series[1]
        durations.buckets[bisect.bisect_left(self.bounds, seconds)] += 1  # le: bound >= s
        durations.sum += seconds

    def report(self, kind: str) -> None:
        count = self.reports.get(kind)
        if count is None:
            count = self.reports[kind] = [0, time.time()]
        count[0] += 1

    def collect(self) -> Iterable[Metric]:
        # ``_created`` series only while prometheus_client writes its own: its switch
        # (``disable_created_metrics``, PROMETHEUS_DISABLE_CREATED_SERIES) is this flag
        with_created = bool(getattr(prometheus_client.metrics, "_use_created", True))
        requests = CounterMetricFamily(
            "asyncaction_hook_requests",
            "Requests by route and HTTP code.",
            labels=["route", "code"],
        )
        for (route, code), (count, created) in self.requests.items():
            when = created if with_created else None
            requests.add_metric([route, str(code)], count, created=when)
        name = "asyncaction_hook_request_duration_seconds"
        durations = HistogramMetricFamily(
            name, "Time to answer a request, by route.", labels=["route"]
        )
        for route, series in self.durations.items():
            cumulative = itertools.accumulate(series.buckets)
            durations.add_metric([route], list(zip(self._les, cumulative, strict=True)), series.sum)
            if with_created:
                durations.add_sample(f"{name}_created", {"route": route}, series.created)
        reports = CounterMetricFamily(
            "asyncaction_hook_reports",
            "Status reports accepted, by kind (progress: coalesced; "
            "running, terminal: written before the answer).",
            labels=["kind"],
        )
        for kind, (count, created) in self.reports.items():
            reports.add_metric([kind], count, created=created if with_created else None)
        return [requests, durations, reports]

    def describe(self) -> Iterable[Metric]:
        # the names, for the registry's check of duplicates (no values at registration)
        return [
            CounterMetricFamily("asyncaction_hook_requests", ""),
            HistogramMetricFamily("asyncaction_hook_request_duration_seconds", ""),
            CounterMetricFamily("asyncaction_hook_reports", ""),
        ]


class _Live(Collector):
    def __init__(self, owner: HookMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterable[Metric]:
        for families in self.owner._live:
            yield from families()


def live_families(
    *, status_writes: int, backlog: int, synced: bool, pacer: WritePacer
) -> list[Metric]:
    """The hook's state read at scrape time."""
    writes = CounterMetricFamily(
        "asyncaction_hook_status_writes",
        "Status patches the API server accepted (compare with reports: coalescing).",
        value=status_writes,
    )
    pending = GaugeMetricFamily(
        "asyncaction_hook_coalescer_backlog",
        "Actions with a progress report waiting for its window.",
        value=backlog,
    )
    ready = GaugeMetricFamily(
        "asyncaction_hook_cache_synced", "1 when the action cache is synced.", value=int(synced)
    )
    paced = CounterMetricFamily(
        "asyncaction_hook_status_writes_paced",
        "Coalesced writes that waited for their turn (--status-writes-per-second).",
        value=pacer.delayed,
    )
    paced_seconds = CounterMetricFamily(
        "asyncaction_hook_status_writes_paced_seconds",
        "Seconds coalesced writes waited for their turn, together.",
        value=pacer.waited_seconds,
    )
    lag = GaugeMetricFamily(
        "asyncaction_hook_status_write_lag_seconds",
        "How long a coalesced write asked for now would wait for its turn.",
        value=pacer.lag(),
    )
    return [writes, pending, ready, paced, paced_seconds, lag]
