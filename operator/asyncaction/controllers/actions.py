"""The AsyncAction controller: one reconcile per queued key, from caches only.

``reconcile(key)`` reads the action, its template, its Job, the Job's Pods and its
Secret from the informers' caches (``controllers.caches``), asks admission for a slot
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
from collections.abc import Callable, Mapping
from typing import Any

from asyncaction.api.names import DEFAULT_QUEUE
from asyncaction.api.phases import ACTIVE_PHASES, Phase
from asyncaction.controllers.action_metrics import ActionMetrics
from asyncaction.controllers.admission import Admissions, Member, QueueKey
from asyncaction.controllers.api_writes import ApiWrites, KubeApi
from asyncaction.controllers.caches import (
    BY_ACTION_UID,
    BY_JOB,
    BY_TEMPLATE,
    BY_UID,
    Caches,
    LiveUids,
    action_uid_label,
    owned_by,
    pod_is_live,
    summarize_action,
    summarize_job,
    summarize_pod,
    summarize_secret,
)
from asyncaction.controllers.executor import EffectExecutor, JobSettings, Target
from asyncaction.controllers.status_writes import StatusWriter
from asyncaction.keys import MASTER_KEYS_ENV, MasterKeyError, MasterKeysFile
from asyncaction.lifecycle import (
    ActionView,
    CreateJob,
    Decision,
    JobView,
    LifecycleSettings,
    action_view_from,
    admission_view_from,
    failure_decision,
    is_eligible,
    job_view_from,
    reconcile,
    refused_attempt,
)
from asyncaction.lifecycle.waiting import Waiting, explain_waiting, queue_block
from asyncaction.logfields import about
from asyncaction.manifests import (
    attempt_defaults,
    pod_template_for,
    recorded_defaults,
    resolve_spec_shared,
    secret_name_for,
)
from asyncaction.manifests.templates import ATTEMPT_FIELDS
from asyncaction.runtime import Metrics, WorkQueue, object_key
from asyncaction.runtime.events import EventSender
from asyncaction.runtime.result import Result, TerminalError
from asyncaction.settings import OperatorSettings
from asyncaction.stores import Store
from asyncaction.tenancy import REFUSED_REASON, StoreScope, refusal_message, refused_uris
from asyncaction.timeutil import utcnow

log = logging.getLogger(__name__)
Obj = dict[str, Any]
ACTIVE_VALUES = {phase.value for phase in ACTIVE_PHASES}
REPAIR_SLICE = 1000  # admission members checked by a resync's repair between two turns
FILL_BATCH = 1000  # grants made (and their actions queued) between two turns of the loop


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
        member = self.member(action)
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
        for key in self.caches.actions.index_keys(BY_TEMPLATE, object_key(new or old or {})):
            self.queue.add(key)

    # -- reading the caches --------------------------------------------------------------

    def template_spec_of(self, action: Mapping[str, Any]) -> dict[str, Any] | None:
        """The live spec of the action's ActionTemplate, when it uses one."""
        spec = action.get("spec") or {}
        ref = spec.get("templateRef")
        if spec.get("template") or not ref:
            return None
        template = self.caches.templates.get(f"{action['metadata']['namespace']}/{ref}")
        return (template or {}).get("spec") if template else None

    def resolved_spec(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """The action's spec with its template's defaults: those its current attempt
        recorded on its Job while one runs (a template edit waits for the next attempt),
        the live template's otherwise; ``retention`` defaults to its ActionQueue's, then the
        operator's. For
        reading only: it shares the cached values."""
        template_spec = self.template_spec_of(action)
        status = action.get("status") or {}
        if status.get("phase") in ACTIVE_VALUES and status.get("jobName"):
            job = self.caches.jobs.get(f"{action['metadata']['namespace']}/{status['jobName']}")
            recorded = recorded_defaults(job) if job is not None else None
            if recorded is not None and owned_by(job or {}, action["metadata"]["uid"]):
                rest = {k: v for k, v in (template_spec or {}).items() if k not in ATTEMPT_FIELDS}
                template_spec = {**rest, **recorded}
        spec = resolve_spec_shared(action.get("spec") or {}, template_spec)
        if spec.get("retention") is None:
            queue = self.caches.queues.get(
                f"{action['metadata']['namespace']}/{spec.get('queue') or DEFAULT_QUEUE}"
            )
            retention = ((queue or {}).get("spec") or {}).get("retention")
            # the queue's default, else the operator's (ASYNCACTION_DEFAULT_RETENTION)
            spec["retention"] = retention or self.settings.default_retention
        return spec

    def pods_live(self, uid: str) -> bool:
        """Some Pod of the action still runs, may start, or terminates."""
        return any(pod_is_live(pod) for pod in self.caches.pods.by_index(BY_ACTION_UID, uid))

    def member(self, action: Mapping[str, Any]) -> Member:
        spec = self.resolved_spec(action)
        meta = action["metadata"]
        view = admission_view_from(
            {**action, "spec": spec}, has_handler=pod_template_for(spec) is not None
        )
        # While its attempt holds a slot, an action counts in the queue it was admitted
        # to (status.queue), not the one spec.queue names now.
        holding = view.phase in ACTIVE_PHASES
        lingering = not holding and self.pods_live(meta["uid"])
        queue = (meta["namespace"], (view.status_queue if holding else None) or view.queue)
        if lingering:  # Pods of an ended attempt: still the queue that admitted it
            queue = self.admissions.queue_of(meta["uid"]) or queue
        return Member(
            uid=meta["uid"],
            queue=queue,
            priority=int(spec.get("priority") or 0),
            created_at=view.created_at or utcnow(),
            phase=view.phase,
            eligible=is_eligible(view, utcnow()),
            lingering=lingering,
        )

    def job_of(self, action: Mapping[str, Any]) -> JobView | None:
        """The current attempt's Job, only when this action owns it, with its Pods."""
        job_name = (action.get("status") or {}).get("jobName")
        if not job_name:
            return None
        key = f"{action['metadata']['namespace']}/{job_name}"
        job = self.caches.jobs.get(key)
        if job is None or not owned_by(job, action["metadata"]["uid"]):
            return None
        return job_view_from(job, self.caches.pods.by_index(BY_JOB, key))

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
            self.admissions.withdraw(uid)
            queue = self.admissions.queue_of(uid)
            if queue is not None:
                self.wake_granted(queue)  # a grant it held goes to the next in line
        return False

    async def reconcile(self, key: str) -> Result:
        action = self.caches.actions.get(key)
        if action is None or action["metadata"].get("deletionTimestamp"):
            return Result()
        self.metrics.inc("asyncaction_reconciles_total")
        uid = action["metadata"]["uid"]
        spec = self.resolved_spec(action)
        pod_template = pod_template_for(spec)
        view = action_view_from({**action, "spec": spec}, has_handler=pod_template is not None)
        now = utcnow()
        admitted = self._admit(uid, view)
        if action.get("status", {}).get("phase") in ACTIVE_VALUES:
            await self.executor.label_hook_shard(action)  # the hook shard count changed
        job = self.job_of(action)
        decision = reconcile(view, job, now=now, admitted=admitted, settings=self.lifecycle)
        blocked = None if admitted or not is_eligible(view, now) else self._why_held(uid)
        decision = explain_waiting(view, job, decision, now=now, blocked=blocked)
        refusal = self._store_refusal(decision, spec, action["metadata"]["namespace"])
        if refusal is not None:
            decision = failure_decision(view, REFUSED_REASON, refusal, now=now)
        log.debug("%s: %s", key, decision_summary(decision), extra=about(action))
        target = Target(action, spec, pod_template, attempt_defaults(self.template_spec_of(action)))
        if decision.status and not await self.status_writer.write(action, decision.status):
            self.admissions.release(uid)
            return Result(self.settings.poll_seconds)
        try:
            for effect in decision.effects:
                await self.executor.run(effect, target)
        except TerminalError as exc:
            await self._refused(view, exc, target)
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


__all__ = [
    "ActionController",
    "Caches",
    "secret_name_for",
    "summarize_action",
    "summarize_job",
    "summarize_pod",
    "summarize_secret",
]
