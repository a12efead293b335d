"""The AsyncAction controller: one reconcile per queued key, from caches only.

``reconcile(key)`` reads the action, its template, its Job, the Job's Pods and its
Secret from the informers' caches (``controllers.caches``, through
``controllers.action_reads``), asks admission for a slot
when the action is eligible, calls the pure ``asyncaction.lifecycle.reconcile`` and
hands what it decided to the status writer (``controllers.status_writes``) and the
executor (``controllers.executor``) in the crash-safe order:

1. the status patch, with the action's resourceVersion as a precondition (a Conflict
   means the cache was stale: the watch brings the newer version and enqueues the key);
2. the effects, each idempotent (a Job of this attempt that exists and is owned by this
   action is adopted; a Secret is found by its owner's uid, never by name);
3. the ``after`` patch (markers that the effects were done).

A ``TerminalError`` from an effect (the API server refused the Job for good) becomes a
decision too: the attempt fails with the API server's reason, which frees its slot.
Nothing here polls: the work queue's delay heap brings the key back when the
``Result`` asks for it (a deadline, a TTL, ``startAt``), and a periodic jittered resync
is the only safety net.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.controllers.action_metrics import ActionMetrics
from asyncaction.controllers.action_reads import ACTIVE_VALUES, ActionReads
from asyncaction.controllers.admission import Admissions, QueueKey
from asyncaction.controllers.api_writes import ApiWrites, KubeApi
from asyncaction.controllers.caches import BY_TEMPLATE, BY_UID, Caches, LiveUids, action_uid_label
from asyncaction.controllers.executor import EffectExecutor, JobSettings, Target
from asyncaction.controllers.status_writes import StatusWriter
from asyncaction.controllers.template_absences import TEMPLATE_GRACE_SECONDS, TemplateAbsences
from asyncaction.keys import MASTER_KEYS_ENV, MasterKeyError, MasterKeysFile
from asyncaction.kube import NotFound, paths
from asyncaction.lifecycle import (
    ActionView,
    CreateJob,
    Decision,
    Emit,
    LifecycleSettings,
    action_view_from,
    failure_decision,
    is_eligible,
    reconcile,
    refused_attempt,
)
from asyncaction.lifecycle.waiting import (
    Waiting,
    explain_waiting,
    queue_block,
    template_not_found,
)
from asyncaction.logfields import about
from asyncaction.manifests import attempt_defaults, pod_template_for
from asyncaction.runtime import Metrics, WorkQueue, object_key
from asyncaction.runtime.events import EventSender
from asyncaction.runtime.result import Result, TerminalError
from asyncaction.settings import OperatorSettings
from asyncaction.stores import Store
from asyncaction.tenancy import REFUSED_REASON, StoreScope, refusal_message, refused_uris
from asyncaction.timeutil import utcnow

log = logging.getLogger(__name__)
Obj = dict[str, Any]
REPAIR_SLICE = 1000  # admission members checked by a resync's repair between two turns
FILL_BATCH = 1000  # grants made (and their actions queued) between two turns of the loop
TEMPLATE_RECHECK_SECONDS = 1.0  # a template the API server has and the cache not yet
NO_HANDLER_FAILS = ("SCHEDULED", "QUEUED", "PAUSED")  # phases "no handler" ends


class ActionController:
    def __init__(
        self,
        kube: KubeApi,
        settings: OperatorSettings,
        caches: Caches,
        admissions: Admissions,
        queue: WorkQueue,
        metrics: Metrics,
        archive: Store | None = None,
        on_queue_changed: Callable[[QueueKey], None] | None = None,
        scopes: list[StoreScope] | None = None,
    ) -> None:
        self.settings = settings
        self.caches = caches
        self.admissions = admissions
        self.queue = queue
        self.metrics = metrics
        self.action_metrics = ActionMetrics.of(metrics)
        self.absent_templates = TemplateAbsences()
        self.clock: Callable[[], float] = time.monotonic
        admissions.on_released = lambda key: self.action_metrics.forget_queue(*key)
        self.reads = ActionReads(caches, admissions, settings)
        # None: no stores configured here, the hook alone checks S3 keys.
        self.scopes = scopes
        if not settings.master_keys_file:
            raise MasterKeyError(f"{MASTER_KEYS_ENV} is not set: the operator cannot issue keys")
        self.events = EventSender(
            kube,
            metrics,
            capacity=settings.event_queue_size,
            rate=settings.events_per_second,
            burst=settings.event_burst,
        )
        writes = ApiWrites(kube, caches, metrics)
        self.status_writer = StatusWriter(writes)
        self.executor = EffectExecutor(
            writes,
            self.events,
            JobSettings(
                hook_url=settings.hook_url,
                hook_shards=settings.hook_shards,
                entrypoint=settings.entrypoint,
                job_create_retries=settings.job_create_retries,
            ),
            MasterKeysFile(settings.master_keys_file),
            archive,
        )
        self.on_queue_changed = on_queue_changed or (lambda key: None)
        self.lifecycle = LifecycleSettings(
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
            poll_seconds=settings.poll_seconds,
        )
        caches.add_indexes()
        caches.actions.add_handler(self._on_action)
        caches.jobs.add_handler(self._on_child)
        caches.pods.add_handler(self._on_pod)
        caches.templates.add_handler(self._on_template)

    # -- events → keys -------------------------------------------------------------------

    def _on_action(self, event: str, new: Obj | None, old: Obj | None) -> None:
        self.action_metrics.observe_transition(old, new)
        if old is not None and (new is None or new["metadata"]["uid"] != old["metadata"]["uid"]):
            # Deleted, or deleted and re-created under the same name while the watch was
            # away (the relist shows a new uid at the old key): the old uid's slot goes.
            self.executor.forget(old["metadata"]["uid"])
            queue = self.admissions.forget(old["metadata"]["uid"])
            if queue is not None:
                self._queue_changed(queue)
        if new is None:
            return
        self._observe(new)
        self.queue.add(object_key(new))

    def _observe(self, action: Mapping[str, Any]) -> None:
        member = self.reads.member(action)
        changed = self.admissions.observe(member)
        for queue in changed:
            self._queue_changed(queue)
        if member.eligible and member.queue not in changed:
            self.wake_granted(member.queue)

    def _queue_changed(self, key: QueueKey) -> None:
        """A queue's counts changed: admit into free slots, tell the queue controller."""
        self.wake_granted(key)
        self.on_queue_changed(key)

    def wake_granted(self, key: QueueKey) -> None:
        """Grant ``key``'s free slots and queue the actions granted, ``FILL_BATCH`` at a
        time: the next batch on the loop's next turn, so that resuming a queue with
        100,000 waiting holds the loop for a batch, not for all (bench/bench_loop.py)."""
        granted = self.admissions.fill(key, FILL_BATCH)
        for uid in granted:
            for action_key in self.caches.actions.index_keys(BY_UID, uid):
                self.queue.add(action_key)
        if len(granted) == FILL_BATCH:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called outside the loop (a test): the next batch now
                self.wake_granted(key)
                return
            loop.call_soon(self.wake_granted, key)

    def _on_child(self, event: str, new: Obj | None, old: Obj | None) -> None:
        for uid in action_uid_label(new or old or {}):
            for key in self.caches.actions.index_keys(BY_UID, uid):
                self.queue.add(key)

    def _on_pod(self, event: str, new: Obj | None, old: Obj | None) -> None:
        """A Pod changed: its action may hold (or free) a slot for it, and reconciles."""
        for uid in action_uid_label(new or old or {}):
            for key in self.caches.actions.index_keys(BY_UID, uid):
                action = self.caches.actions.get(key)
                if action is not None:
                    self._observe(action)
                self.queue.add(key)

    def _on_template(self, event: str, new: Obj | None, old: Obj | None) -> None:
        """A template changed: what its actions resolve to (a priority, a queue) may
        have changed, so admission reads each again (it kept the old priority: a
        waiting action raised to 100 through its template waited behind a 0)."""
        if new is not None:  # there: a later absence is a new one, with its own grace
            self.absent_templates.found(object_key(new))
        for key in self.caches.actions.index_keys(BY_TEMPLATE, object_key(new or old or {})):
            action = self.caches.actions.get(key)
            if action is not None:
                self._observe(action)
            self.queue.add(key)

    # -- one reconcile -------------------------------------------------------------------

    def _admit(self, uid: str, view: ActionView) -> bool:
        """Ask admission for a slot when eligible; give a grant back when not."""
        now = utcnow()
        if is_eligible(view, now):
            admitted = self.admissions.request(uid)
            if not admitted:
                queue = self.admissions.queue_of(uid)
                if queue is not None:
                    self.wake_granted(queue)  # maybe a slot is free: the heap decides who
                admitted = self.admissions.request(uid)
            self.action_metrics.admission(admitted)
            return admitted
        if view.phase is Phase.QUEUED:
            self._give_back(uid)
        return False

    async def _template_on_its_way(self, action: Mapping[str, Any]) -> tuple[float, bool] | None:
        """Seconds to wait before deciding, when the ActionTemplate the action names is
        missing from the cache, and whether the API server lacks it too: "no handler" is
        terminal, and a template re-created (``kubectl replace --force``) or created just
        before the action is briefly absent: every waiting action of a re-created
        template failed for good (found by a review). The API server is asked (one read,
        only then); a template it lacks too fails the action after
        ``TEMPLATE_GRACE_SECONDS``. None: decide now."""
        spec = action.get("spec") or {}
        ref = spec.get("templateRef")
        phase = (action.get("status") or {}).get("phase")
        if spec.get("template") or not ref or phase not in (None, *NO_HANDLER_FAILS):
            return None  # a running attempt goes on with what its Job holds
        key = f"{action['metadata']['namespace']}/{ref}"
        if self.caches.templates.get(key) is not None:
            self.absent_templates.found(key)
            return None  # there, and it gives no pod template: no handler indeed
        try:
            await self.executor.kube.get(paths.template_path(*key.split("/", 1)))
        except NotFound:
            left = self.absent_templates.grace_left(key, self.clock())
            return (left, True) if left > 0 else None
        self.absent_templates.found(key)
        return TEMPLATE_RECHECK_SECONDS, False

    async def _explain_missing_template(self, action: Obj, spec: Mapping[str, Any]) -> None:
        """While the template of a new action is missing, say so where people look: the
        action waits as QUEUED, its Ready condition ``TemplateNotFound`` naming the
        template. Judged as if it had a handler, never admitted: the lifecycle decides
        the waiting phase and its Event, ``explain_waiting`` the reason, written once.

        New actions only: one already waiting keeps what it says (its queue is full, it
        is paused, it retries at a time) while the template is briefly gone, or a
        ``kubectl replace --force`` of a template would write every waiting action twice.
        A new action that would not be QUEUED (a ``startAt`` ahead, ``suspend``) is left
        undecided until the template comes or the grace ends, as before."""
        if (action.get("status") or {}).get("phase") is not None:
            return
        view = action_view_from({**action, "spec": spec}, has_handler=True)
        now = utcnow()
        decision = reconcile(view, None, now=now, admitted=False, settings=self.lifecycle)
        if decision.status.get("phase") != Phase.QUEUED.value:
            return
        meta = action["metadata"]
        why = template_not_found(meta["namespace"], spec["templateRef"], TEMPLATE_GRACE_SECONDS)
        decision = explain_waiting(view, None, decision, now=now, blocked=why)
        if not await self.status_writer.write(action, decision.status):
            return
        target = Target(action, spec, None)
        for effect in decision.effects:
            if isinstance(effect, Emit):  # never admitted: nothing else to run
                await self.executor.run(effect, target)

    def _give_back(self, uid: str) -> None:
        """The action leaves the heap: a grant it held goes to the next in line (a slot
        it holds, with an attempt running, stays until its Pods are gone)."""
        self.admissions.withdraw(uid)
        queue = self.admissions.queue_of(uid)
        if queue is not None:
            self.wake_granted(queue)

    async def reconcile(self, key: str) -> Result:
        action = self.caches.actions.get(key)
        if action is None:
            return Result()
        if action["metadata"].get("deletionTimestamp"):
            self._give_back(action["metadata"]["uid"])  # being deleted: it starts nothing
            return Result()
        self.metrics.inc("asyncaction_reconciles_total")
        uid = action["metadata"]["uid"]
        spec = self.reads.resolved_spec(action)
        pod_template = pod_template_for(spec)
        if pod_template is None:
            on_its_way = await self._template_on_its_way(action)
            if on_its_way is not None:
                wait, missing = on_its_way
                if missing:
                    await self._explain_missing_template(action, spec)
                return Result(wait)
        view = action_view_from({**action, "spec": spec}, has_handler=pod_template is not None)
        now = utcnow()
        admitted = self._admit(uid, view)
        if action.get("status", {}).get("phase") in ACTIVE_VALUES:
            await self.executor.label_hook_shard(action)  # the hook shard count changed
        job = self.reads.job_of(action)
        decision = reconcile(view, job, now=now, admitted=admitted, settings=self.lifecycle)
        blocked = None if admitted or not is_eligible(view, now) else self._why_held(uid)
        decision = explain_waiting(view, job, decision, now=now, blocked=blocked)
        refusal = self._store_refusal(decision, spec, action["metadata"]["namespace"])
        if refusal is not None:
            decision = failure_decision(view, REFUSED_REASON, refusal, now=now)
        log.debug("%s: %s", key, decision_summary(decision), extra=about(action))
        target = Target(
            action, spec, pod_template, attempt_defaults(self.reads.template_spec_of(action))
        )
        if decision.status and not await self.status_writer.write(action, decision.status):
            self.admissions.release(uid)
            return Result(self.settings.poll_seconds)
        try:
            for effect in decision.effects:
                await self.executor.run(effect, target)
        except TerminalError as exc:
            # Judged from the action as written (STARTING, its attempt counted), not
            # from the view before the write: from QUEUED a retry is QUEUED again, no
            # transition, and the refusal was dropped with the slot held.
            written = self.caches.actions.get(key) or action
            now_view = action_view_from(
                {**written, "spec": spec}, has_handler=pod_template is not None
            )
            await self._refused(now_view, exc, target)
            return Result()
        if decision.after:
            await self.status_writer.write(action, decision.after, fresh=True)
        return Result(decision.requeue_after)

    async def _refused(self, view: ActionView, exc: TerminalError, target: Target) -> None:
        """An effect can never succeed as asked: fail the attempt (``counts_as_attempt``:
        another attempt within ``backoffLimit`` may pass) or the action, which frees the
        slot the attempt held."""
        log.warning("%s/%s: %s", view.namespace, view.name, exc, extra=about(target.action))
        now = utcnow()
        if exc.counts_as_attempt:
            failed = refused_attempt(
                view, exc.reason, exc.message, now=now, settings=self.lifecycle
            )
        else:
            failed = failure_decision(view, exc.reason, exc.message, now=now)
        if failed.status:
            await self.status_writer.write(target.action, failed.status, fresh=True)
        for effect in failed.effects:
            await self.executor.run(effect, target)
        if failed.requeue_after is not None:
            self.queue.add_after(object_key(target.action), failed.requeue_after)

    def _why_held(self, uid: str) -> Waiting | None:
        """Why admission holds an eligible action (see ``lifecycle.waiting``)."""
        key = self.admissions.queue_of(uid)
        if key is None:
            return None
        limits = self.admissions.limits_of(key)
        return queue_block(
            key[0],
            key[1],
            suspended=limits.suspended,
            limit=limits.max_concurrent,
            active=self.admissions.active_count(key),
        )

    def _store_refusal(
        self, decision: Decision, spec: Mapping[str, Any], namespace: str
    ) -> str | None:
        """Why a Job about to be created may not run: S3 keys outside its grants."""
        if self.scopes is None or not any(isinstance(e, CreateJob) for e in decision.effects):
            return None
        refused = refused_uris(spec, namespace, self.scopes)
        return refusal_message(refused) if refused else None

    async def repair(self) -> None:
        """Drop admission records of actions the cache no longer has (a resync's net
        under a missed deletion), and re-admit into the slots that frees.

        ``REPAIR_SLICE`` members at a time with a turn of the loop between slices (all
        100,000 at once held it 135 ms); each is judged against the cache as it is then."""
        present = LiveUids(self.caches.actions)
        members = self.admissions.member_uids()
        for start in range(0, len(members), REPAIR_SLICE):
            for queue in self.admissions.retain(present, members[start : start + REPAIR_SLICE]):
                self._queue_changed(queue)
            await asyncio.sleep(0)


def decision_summary(decision: Decision) -> str:
    """A log line for a decision, never including secret material."""
    phase = decision.status.get("phase")
    kinds = ",".join(type(e).__name__ for e in decision.effects)
    return f"phase={phase or '-'} effects=[{kinds}] requeue={decision.requeue_after}"
