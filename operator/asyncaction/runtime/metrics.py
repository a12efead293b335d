"""The operator's Prometheus metrics (``prometheus_client``), defined in one place.

Names follow controller-runtime, client-go's work queue and Kueue where they already
name a meaning, with this project's single ``asyncaction_`` prefix in front
(``controller_runtime_reconcile_total`` is ``asyncaction_reconcile_total``,
``workqueue_depth`` is ``asyncaction_workqueue_depth``, ``kueue_admission_wait_time_seconds``
is ``asyncaction_admission_wait_time_seconds``; docs/observability.md has the table).
Units are base units (seconds), counters end in ``_total``, and no label ever carries an
action's name or uid: a label value is a namespace, a queue, a phase, a controller or a
reason, so the number of series stays bounded by configuration, not by traffic.

Three kinds of figures:

- counters and histograms updated where things happen (``instrument`` around a
  reconcile, ``WorkQueueObserver`` inside the queue, ``count_request`` from the
  Kubernetes client; the action controller's own, phase transitions and admission, are
  ``asyncaction.controllers.action_metrics``, built on this registry with ``extension``);
- gauges read at scrape time from the live objects (``bind``: the manager's caches and
  queues), so a gauge can never drift from the cache it describes;
- the small ``inc``/``set``/``snapshot`` API the controllers and the liveness probe used
  before, kept so their calls go on working.

One ``Metrics`` per process (``process_metrics``): a manager restarted after losing its
Lease binds the same registry again, so counters survive the restart.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib import metadata
from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "asyncaction_"
# controller-runtime's reconcile buckets (seconds).
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45,
                     0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0,
                     4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60)  # fmt: skip
# client-go's work queue buckets: 10 ns to 10 s, by powers of ten.
WORKQUEUE_BUCKETS = tuple(10.0**exp for exp in range(-8, 2))
# Waiting for a slot and running: from a second to a day.

Labels = Mapping[str, str]
R = TypeVar("R")
E = TypeVar("E")


class QueueState(Protocol):
    """What the work queue gauges read of a ``runtime.workqueue.WorkQueue``."""

    name: str

    def __len__(self) -> int: ...

    def running_seconds(self) -> list[float]: ...


def _version() -> str:
    try:
        return metadata.version("asyncaction")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        return "unknown"


class _Live(Collector):
    """Gauges read at scrape time from whatever ``Metrics.bind`` attached."""

    def __init__(self, owner: Metrics) -> None:
        self.owner = owner

    def collect(self) -> Iterable[Metric]:
        yield from self.owner.live_families()


def rest_client_requests(prefix: str, registry: CollectorRegistry) -> Counter:
    """Requests to the API server, defined once for the operator and the job hook (each
    with its own prefix and registry)."""
    return Counter(
        f"{prefix}rest_client_requests", "Requests to the API server by method and HTTP code "
        "(client-go's rest_client_requests_total; code 0: no answer).",
        ["method", "code"], registry=registry,
    )  # fmt: skip


def events_posted(prefix: str, registry: CollectorRegistry) -> Counter:
    """Events posted about actions, defined once for the operator and the job hook."""
    return Counter(
        f"{prefix}events", "Events posted about actions, by type and reason.",
        ["type", "reason"], registry=registry,
    )  # fmt: skip


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        p = PREFIX
        self.build_info = Gauge(
            f"{p}build_info", "The operator's version (always 1).", ["version", "python"],
            registry=r,
        )  # fmt: skip
        self.build_info.labels(_version(), sys.version.split()[0]).set(1)
        self.reconcile_total = Counter(
            f"{p}reconcile", "Reconciles by controller and result (success, error, "
            "requeue_after); controller-runtime's controller_runtime_reconcile_total.",
            ["controller", "result"], registry=r,
        )  # fmt: skip
        self.reconcile_errors = Counter(
            f"{p}reconcile_errors", "Reconciles that raised (retried with backoff).",
            ["controller"], registry=r,
        )  # fmt: skip
        self.reconcile_time = Histogram(
            f"{p}reconcile_time_seconds", "Time of one reconcile, by controller.",
            ["controller"], buckets=RECONCILE_BUCKETS, registry=r,
        )  # fmt: skip
        self.active_workers = Gauge(
            f"{p}active_workers", "Reconciles running now, by controller.", ["controller"],
            registry=r,
        )  # fmt: skip
        self.max_concurrent = Gauge(
            f"{p}max_concurrent_reconciles", "Workers of each controller.", ["controller"],
            registry=r,
        )  # fmt: skip
        self.workqueue_adds = Counter(
            f"{p}workqueue_adds", "Keys added to a work queue (client-go workqueue_adds_total).",
            ["name"], registry=r,
        )  # fmt: skip
        self.workqueue_retries = Counter(
            f"{p}workqueue_retries", "Keys re-added with backoff after a failed reconcile.",
            ["name"], registry=r,
        )  # fmt: skip
        self.workqueue_queue_duration = Histogram(
            f"{p}workqueue_queue_duration_seconds",
            "How long a key waited in the queue before a worker took it.",
            ["name"], buckets=WORKQUEUE_BUCKETS, registry=r,
        )  # fmt: skip
        self.workqueue_work_duration = Histogram(
            f"{p}workqueue_work_duration_seconds", "How long processing one key took.",
            ["name"], buckets=WORKQUEUE_BUCKETS, registry=r,
        )  # fmt: skip
        self.api_requests = rest_client_requests(p, r)
        self.api_writes = Counter(
            f"{p}api_writes", "Writes the API server accepted, by resource.", ["resource"],
            registry=r,
        )  # fmt: skip
        self.events = events_posted(p, r)
        self.events_dropped = Counter(
            f"{p}events_dropped", "Events about actions not posted: queue_full (posted "
            "faster than the API server took them) or refused (the API server said no).",
            ["reason"], registry=r,
        )  # fmt: skip
        self._legacy: dict[str, Counter] = {}
        self._gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._sources: dict[str, Callable[[], Iterable[Metric]]] = {}
        self._extensions: dict[str, Any] = {}
        self.registry.register(_Live(self))

    # -- the API the controllers used before (kept) --------------------------------------

    def inc(self, name: str, labels: Labels | None = None, value: float = 1) -> None:
        """Count ``value`` on ``name``: known names map to the metrics above."""
        labels = dict(labels or {})
        if name == f"{PREFIX}api_writes_total":
            self.api_writes.labels(labels.get("resource", "")).inc(value)
            return
        if name == f"{PREFIX}reconciles_total":
            return  # counted by ``instrument`` with its result
        counter = self._legacy.get(name)
        if counter is None:
            counter = Counter(
                name.removesuffix("_total"), name, sorted(labels), registry=self.registry
            )
            self._legacy[name] = counter
        (counter.labels(**labels) if labels else counter).inc(value)

    def set(self, name: str, value: float, labels: Labels | None = None) -> None:
        """A gauge without a definition (read with ``snapshot``; not exported)."""
        self._gauges[(name, tuple(sorted((labels or {}).items())))] = value

    def samples(self) -> dict[str, float]:
        figures: dict[str, float] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith(("_bucket", "_created")):
                    continue
                inner = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                figures[f"{sample.name}{{{inner}}}" if inner else sample.name] = sample.value
        return figures

    def total(self, name: str) -> float:
        """The sum of a metric over all its label values."""
        return sum(v for k, v in self.samples().items() if k.split("{", 1)[0] == name)

    def snapshot(self) -> dict[str, float]:
        figures = self.samples()
        for (name, labels), value in self._gauges.items():
            inner = ",".join(f'{k}="{v}"' for k, v in labels)
            figures[f"{name}{{{inner}}}" if inner else name] = value
        return dict(sorted(figures.items()))

    def render(self) -> bytes:
        """Prometheus text exposition format."""
        return generate_latest(self.registry)

    # -- gauges read at scrape time ------------------------------------------------------

    def bind(self, source: str, families: Callable[[], Iterable[Metric]]) -> None:
        """Read ``families`` on every scrape (one source per name: a new manager replaces
        the previous one's)."""
        self._sources[source] = families

    def live_families(self) -> Iterable[Metric]:
        for families in list(self._sources.values()):
            yield from families()

    def extension(self, name: str, build: Callable[[CollectorRegistry], E]) -> E:
        """Metrics defined outside the runtime (the controllers' own), built once on this
        registry: a manager restarted in the same process gets the same ones back."""
        if name not in self._extensions:
            self._extensions[name] = build(self.registry)
        found: E = self._extensions[name]
        return found

    # -- reconciles ----------------------------------------------------------------------

    def instrument(
        self, controller: str, workers: int, process: Callable[[str], Awaitable[R]]
    ) -> Callable[[str], Awaitable[R]]:
        """``process`` timed and counted as controller-runtime counts a reconcile."""
        self.max_concurrent.labels(controller).set(workers)
        active = self.active_workers.labels(controller)

        async def timed(key: str) -> R:
            start = time.perf_counter()
            active.inc()
            try:
                outcome = await process(key)
            except Exception:
                self.reconcile_total.labels(controller, "error").inc()
                self.reconcile_errors.labels(controller).inc()
                raise
            finally:
                active.dec()
                self.reconcile_time.labels(controller).observe(time.perf_counter() - start)
            requeue = getattr(outcome, "requeue_after", outcome)
            result = "success" if requeue is None else "requeue_after"
            self.reconcile_total.labels(controller, result).inc()
            return outcome

        return timed

    def count_request(self, method: str, code: int) -> None:
        self.api_requests.labels(method.upper(), str(code)).inc()

    def event(self, type: str, reason: str) -> None:
        self.events.labels(type, reason).inc()

    def event_dropped(self, reason: str) -> None:
        self.events_dropped.labels(reason).inc()


def workqueue_families(queues: Iterable[QueueState]) -> list[GaugeMetricFamily]:
    """client-go's work queue gauges, read from the queues now."""
    depth = GaugeMetricFamily(
        f"{PREFIX}workqueue_depth", "Keys ready for a worker.", labels=["name"]
    )
    unfinished = GaugeMetricFamily(
        f"{PREFIX}workqueue_unfinished_work_seconds",
        "Seconds of work in progress not yet done (large values: stuck workers).",
        labels=["name"],
    )
    longest = GaugeMetricFamily(
        f"{PREFIX}workqueue_longest_running_processor_seconds",
        "Seconds the longest-running worker has spent on its key.",
        labels=["name"],
    )
    for queue in queues:
        running = queue.running_seconds()
        depth.add_metric([queue.name], len(queue))
        unfinished.add_metric([queue.name], sum(running))
        longest.add_metric([queue.name], max(running, default=0.0))
    return [depth, unfinished, longest]


def gauge(metric: str, documentation: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}{metric}", documentation, labels=sorted(labels))
    family.add_metric([labels[k] for k in sorted(labels)], value)
    return family


class WorkQueueObserver:
    """What a work queue reports as it goes (client-go's MetricsProvider)."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        self.adds = metrics.workqueue_adds.labels(name)
        self.retries = metrics.workqueue_retries.labels(name)
        self.queue_duration = metrics.workqueue_queue_duration.labels(name)
        self.work_duration = metrics.workqueue_work_duration.labels(name)

    def added(self) -> None:
        self.adds.inc()

    def retried(self) -> None:
        self.retries.inc()

    def taken(self, waited: float) -> None:
        self.queue_duration.observe(waited)

    def done(self, worked: float) -> None:
        self.work_duration.observe(worked)


_PROCESS: Metrics | None = None


def process_metrics() -> Metrics:
    """The process's one ``Metrics`` (what the metrics endpoint serves)."""
    global _PROCESS  # one registry per process, as prometheus_client's own
    if _PROCESS is None:
        _PROCESS = Metrics()
    return _PROCESS
