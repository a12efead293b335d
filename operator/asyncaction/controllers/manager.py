"""The manager: builds the caches and controllers of one operator process and runs them.

Order of start, each step a guarantee the next relies on:

1. leader election: wait for the Lease (a second replica waits here, idle);
2. informers for actions, Jobs, Pods, Secrets (these three by the managed-by label,
   filtered on the server), templates and queues; wait until every cache synced
   (``ASYNCACTION_WARM_STANDBY``: this step comes first, so a standby keeps its caches
   current while it waits, and takes over without a sync, as controller-runtime's
   replicas do; it writes nothing and counts no transition until it leads);
3. open admission and fill every queue from the full view, then start the workers and
   a jittered periodic resync of all actions.

Losing the Lease stops everything (``run`` returns), so a replica that can no longer
prove it leads never admits another action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric

from asyncaction.api.names import LABEL_MANAGED_BY, MANAGED_BY
from asyncaction.controllers.action_metrics import oldest_wait_family, phase_family
from asyncaction.controllers.actions import ActionController
from asyncaction.controllers.admission import Admissions
from asyncaction.controllers.caches import (
    Caches,
    PhaseCounts,
    summarize_action,
    summarize_job,
    summarize_pod,
    summarize_secret,
)
from asyncaction.controllers.queues import QueueController
from asyncaction.controllers.schedules import ScheduleController
from asyncaction.kube import KubeClient, paths
from asyncaction.logfields import about
from asyncaction.runtime import Informers, LeaderElector, RateLimiter, WorkQueue, heap
from asyncaction.runtime.indexed_cache import Transform, strip_managed_fields
from asyncaction.runtime.metrics import (
    WorkQueueObserver,
    gauge,
    process_metrics,
    workqueue_families,
)
from asyncaction.settings import OperatorSettings
from asyncaction.stores import Store, Stores
from asyncaction.tenancy import StoreScope

log = logging.getLogger(__name__)
OWNED = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
RESYNC_BATCH = 1000  # keys queued by a resync between two turns of the event loop


def archive_store(settings: OperatorSettings) -> Store | None:
    if not settings.archive_config:
        return None
    stores = Stores.from_file(Path(settings.archive_config), expiry=0)
    store = stores.get(settings.archive_store)
    if store is None:
        raise ValueError(
            f"archive store {settings.archive_store!r} is not in {settings.archive_config}"
        )
    return store


def store_scopes(settings: OperatorSettings) -> list[StoreScope] | None:
    """What each namespace may name in S3 (``asyncaction.tenancy``); None without stores."""
    if not settings.stores_config:
        return None
    return Stores.from_file(Path(settings.stores_config), expiry=0).scopes


class TaskEnded(RuntimeError):
    """A task the controllers need ended while they led (the process must stop)."""

    def __init__(self, name: str, cause: BaseException | None) -> None:
        why = f": {cause}" if cause is not None else " (it returned)"
        super().__init__(f"{name} ended{why}")
        self.name = name
        self.cause = cause


class Manager:
    def __init__(self, kube: KubeClient, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.metrics = process_metrics()
        kube.on_response = self.metrics.count_request
        ns = settings.namespaces

        def informers(
            path_for: Callable[[str | None], str],
            name: str,
            label_selector: str | None = None,
            transform: Transform = strip_managed_fields,
        ) -> Informers:
            return Informers(
                kube,
                path_for,
                ns,
                name=name,
                label_selector=label_selector,
                transform=transform,
                watch_timeout=settings.watch_server_timeout,
            )

        self.caches = Caches(
            actions=informers(paths.action_path, "asyncactions", transform=summarize_action),
            jobs=informers(paths.job_path, "jobs", label_selector=OWNED, transform=summarize_job),
            pods=informers(paths.pod_path, "pods", label_selector=OWNED, transform=summarize_pod),
            secrets=informers(
                paths.secret_path, "secrets", label_selector=OWNED, transform=summarize_secret
            ),
            templates=informers(paths.template_path, "actiontemplates"),
            queues=informers(paths.queue_path, "actionqueues"),
        )
        self.phase_counts = PhaseCounts()  # the actions gauge, without a walk per scrape
        self.caches.actions.add_handler(self.phase_counts.on_change)
        self.admissions = Admissions(settings.default_max_concurrent)
        # Failed reconciles (API errors) retry after 0.5 s, doubling up to a minute.
        self.action_queue = WorkQueue(
            "actions",
            RateLimiter(base=0.5, cap=60.0),
            observer=WorkQueueObserver(self.metrics, "actions"),
            log_fields=self._about_key,
        )
        self.status_queue = WorkQueue(
            "queue-status", observer=WorkQueueObserver(self.metrics, "queue-status")
        )
        self.actions = ActionController(
            kube,
            settings,
            self.caches,
            self.admissions,
            self.action_queue,
            self.metrics,
            archive_store(settings),
            on_queue_changed=self._counts_changed,
            scopes=store_scopes(settings),
        )
        self.queues = QueueController(
            kube,
            self.caches.queues,
            self.admissions,
            self.status_queue,
            self.metrics,
            self.actions.wake_granted,
        )
        self.schedules = ScheduleController(
            kube,
            ns,
            self.metrics,
            self.caches.actions,
            lambda answer: self.caches.accept(self.caches.actions, answer, update=False),
            watch_timeout=settings.watch_server_timeout,
        )
        self.leader = LeaderElector(
            kube,
            settings.lease_home,
            settings.lease_name,
            lease_seconds=settings.lease_seconds,
            renew_seconds=settings.lease_renew_seconds,
            renew_deadline=settings.lease_renew_deadline_seconds,
            retry_seconds=settings.lease_renew_seconds,
        )
        # every cache listed (a warm standby: before it leads)
        self.caches_synced = asyncio.Event()
        # leading with every cache synced: admission is open
        self.synced = asyncio.Event()
        self.leading = False
        # a warm standby sees every transition the leader makes: only a leader counts them
        self.actions.action_metrics.counting = not settings.warm_standby
        # nor does it queue work: the keys its caches name wait in a set until it leads
        if settings.warm_standby:
            for work in self.work_queues():
                work.hold()
        self.metrics.bind("manager", self._live_metrics)

    def _about_key(self, key: str) -> dict[str, Any]:
        """Log fields of the action a work-queue key names (from the cache; the key's
        namespace and name alone once the action is gone)."""
        cached = self.caches.actions.get(key)
        if cached is None:
            namespace, _, name = key.partition("/")
            cached = {"metadata": {"namespace": namespace, "name": name}}
        return about(cached)

    def work_queues(self) -> tuple[WorkQueue, ...]:
        return (self.action_queue, self.status_queue, self.schedules.queue)

    def _live_metrics(self) -> list[Metric]:
        """Gauges read at scrape time: actions by phase, work queues, leadership."""
        return [
            # a warm standby's counts are the leader's: only the leader reports them
            self.phase_counts.family()
            if self.actions.action_metrics.counting
            else phase_family({}),
            *workqueue_families([self.action_queue, self.status_queue]),
            oldest_wait_family(
                self.admissions.oldest_waits() if self.actions.action_metrics.counting else {}
            ),
            gauge(
                "leader_election_master_status",
                "1 while this replica holds the Lease (client-go's metric of that name).",
                1 if self.leading else 0,
                name=self.settings.lease_name,
            ),
            gauge(
                "caches_synced",
                "1 once every informer listed its objects (a leader opens admission then; "
                "a warm standby waits for the Lease).",
                1 if self.caches_synced.is_set() else 0,
            ),
            gauge(
                "events_pending",
                "Events about actions queued, not yet written (they are paced).",
                len(self.actions.events),
            ),
        ]

    def figures(self) -> dict[str, float]:
        """The metrics, with the gauges read now (for the liveness endpoint)."""
        self.metrics.set("asyncaction_cached_actions", len(self.caches.actions))
        self.metrics.set("asyncaction_workqueue_ready", len(self.action_queue))
        self.metrics.set("asyncaction_workqueue_delayed", self.action_queue.delayed)
        self.metrics.set("asyncaction_workqueue_retries", self.action_queue.stats.failures)
        self.metrics.set("asyncaction_leader", 1 if self.leading else 0)
        return self.metrics.snapshot()

    def _counts_changed(self, key: tuple[str, str]) -> None:
        self.queues.counts_changed(key)

    async def _resync(self) -> None:
        while True:
            period = self.settings.resync_seconds
            await asyncio.sleep(period * (0.9 + random.random() / 5))  # noqa: S311 - jitter
            await self.resync_once()

    async def resync_once(self) -> None:
        """Repair admission from the cache, then queue every action once."""
        heap.settle()  # the last period's survivors, before this pass adds its own
        await self.actions.repair()
        for count, key in enumerate(self.caches.actions.all_keys(), 1):
            self.action_queue.add(key, bulk=True)  # behind the changes meanwhile
            if count % RESYNC_BATCH == 0:
                await asyncio.sleep(0)  # 100,000 keys must not hold the loop at once
        self.schedules.resync()
        for key in self.caches.queues.all_keys():  # a status no event corrected
            namespace, name = key.split("/", 1)
            self.queues.counts_changed((namespace, name))
        heap.settle()  # what a period of changes left in the heap: out of full collections

    def _start_caches(
        self, tasks: list[asyncio.Task[None]], essential: list[asyncio.Task[None]]
    ) -> asyncio.Future[object]:
        """Start every informer (its tasks join ``tasks`` and ``essential``); the future is
        done when every cache synced, and raises when the API server refuses one."""
        tasks.append(asyncio.create_task(heap.settle_until(self.caches_synced)))
        caches = [*self.caches.all(), *self.schedules.caches()]
        for cache in caches:
            started = cache.tasks()
            tasks += started
            essential += started
        return asyncio.ensure_future(asyncio.gather(*(cache.wait_synced() for cache in caches)))

    def _informer_failure(self, name: str) -> Exception | None:
        """The refusal that ended the informer called ``name``, if one did."""
        for cache in [*self.caches.all(), *self.schedules.caches()]:
            for informer in cache.members.values():
                if informer.name == name and informer.failure is not None:
                    return informer.failure
        return None

    async def _lost(self) -> None:
        await self.leader.lost.wait()

    async def _until_lost(self, essential: list[asyncio.Task[None]]) -> None:
        """Return when the Lease is lost; raise when a task the controllers need ended
        (an informer whose watch the API server refused after its LIST: its cache would
        never change again, with the operator leading, ready and alive)."""
        losing: asyncio.Task[None] = asyncio.create_task(self._lost())
        try:
            done, _ = await asyncio.wait([losing, *essential], return_when=asyncio.FIRST_COMPLETED)
        finally:
            losing.cancel()
        if self.leader.lost.is_set():
            return  # the Lease first: its loss says why everything else stops
        for task in done:
            if task is losing:
                continue
            if not task.cancelled() and task.exception() is not None:
                raise TaskEnded(task.get_name(), task.exception())
            raise TaskEnded(task.get_name(), self._informer_failure(task.get_name()))

    async def run(self) -> None:
        """(Sync, if a warm standby,) lead, sync, work; returns when the Lease is lost,
        raises when cancelled, when the API server refuses a cache, or when a task the
        controllers need ends (``TaskEnded``)."""
        tasks: list[asyncio.Task[None]] = []
        essential: list[asyncio.Task[None]] = []  # tasks that end only when cancelled
        acquired = False
        try:
            heap.settle()  # the modules and settings loaded so far stay for good
            warm = self.settings.warm_standby
            if warm:
                # Listed and watched before leading: a takeover then needs no sync. The
                # keys their events name are held until this replica leads (__init__).
                await self._start_caches(tasks, essential)
                self.caches_synced.set()
                log.info(
                    "caches synced: %d actions; waiting for the Lease", len(self.caches.actions)
                )
            await self.leader.acquire()
            acquired = True
            self.leading = True
            self.actions.action_metrics.counting = True
            tasks.append(asyncio.create_task(self.leader.keep(), name="lease renewal"))
            if not warm:
                # A cache the API server refuses raises; a Lease lost while syncing returns.
                syncing = self._start_caches(tasks, essential)
                losing: asyncio.Future[object] = asyncio.ensure_future(self.leader.lost.wait())
                await asyncio.wait([syncing, losing], return_when=asyncio.FIRST_COMPLETED)
                losing.cancel()
                if not syncing.done():
                    syncing.cancel()
                    log.error("leadership lost while syncing: stopping the controllers")
                    self.leading = False
                    return
                syncing.result()
                self.caches_synced.set()
            self.admissions.open = True
            for queue in self.admissions.queues():
                self.actions.wake_granted(queue)
            self.synced.set()
            if warm:
                log.info(
                    "leading with warm caches: %d actions, admission open", len(self.caches.actions)
                )
            else:
                log.info("caches synced: %d actions", len(self.caches.actions))
            workers = self.settings.workers
            running = [
                asyncio.create_task(
                    self.action_queue.run(
                        self.metrics.instrument("asyncaction", workers, self.actions.reconcile),
                        workers,
                    ),
                    name="actions work queue",
                ),
                asyncio.create_task(
                    self.status_queue.run(
                        self.metrics.instrument("actionqueue", 1, self.queues.reconcile), 1
                    ),
                    name="queue status work queue",
                ),
                asyncio.create_task(self._resync(), name="resync"),
                asyncio.create_task(self.schedules.run(), name="schedules"),
                asyncio.create_task(self.actions.events.run(), name="event sender"),
            ]
            tasks += running
            essential += running
            # A warm standby's held keys (none otherwise), as bulk behind the changes
            # that arrive now: admission is already open, the workers already run.
            tasks += [asyncio.create_task(work.release()) for work in self.work_queues()]
            await self._until_lost(essential)
            log.error("leadership lost: stopping the controllers")
            self.leading = False
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if acquired and not self.leader.lost.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.leader.release())
