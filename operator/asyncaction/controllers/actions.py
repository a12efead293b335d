"""The AsyncAction controller: one reconcile per queued key, from caches only.

``reconcile(key)`` reads the action, its template, its Job, the Job's Pods and its
Secret from the informers' caches, asks admission for a slot when the action is
eligible, calls the pure ``asyncaction.lifecycle.reconcile`` and then applies what it
decided, in the crash-safe order:

1. the status patch, with the action's resourceVersion as a precondition (a Conflict
   means the cache was stale: the watch brings the newer version and enqueues the key);
2. the effects, each idempotent (a Job of this attempt that exists and is owned by this
   action is adopted; a Secret is found by its owner's uid, never by name);
3. the ``after`` patch (markers that the effects were done).

Every answer of the API server to a write goes into the cache at once, so the next
reconcile, triggered by that very change, sees it. Nothing here polls: the work queue's
delay heap brings the key back when ``reconcile`` asked for a requeue (a deadline, a
TTL, ``startAt``), and a periodic jittered resync is the only safety net.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from asyncaction.api.names import ANNOTATION_KEY_ATTEMPT, DEFAULT_QUEUE, LABEL_ACTION_UID
from asyncaction.api.phases import ACTIVE_PHASES, Phase
from asyncaction.archive import archive_document, archive_key
from asyncaction.controllers.admission import Admissions, Member
from asyncaction.keys import MASTER_KEYS_ENV, MasterKeyError, MasterKeysFile
from asyncaction.kube import AlreadyExists, ApiError, Conflict, KubeClient, NotFound, paths
from asyncaction.lifecycle import (
    CreateJob,
    Decision,
    DeleteJob,
    Emit,
    EnsureSecret,
    JobView,
    LifecycleSettings,
    RemoveChildren,
    action_view_from,
    failure_decision,
    is_eligible,
    job_view_from,
    reconcile,
)
from asyncaction.lifecycle.waiting import Waiting, explain_waiting, queue_block
from asyncaction.manifests import (
    ANNOTATION_TEMPLATE_DEFAULTS,
    ManifestError,
    attempt_defaults,
    build_event,
    build_job,
    build_secret,
    pod_template_for,
    recorded_defaults,
    resolve_spec,
    secret_name_for,
)
from asyncaction.manifests.templates import ATTEMPT_FIELDS
from asyncaction.runtime import Informers, Metrics, WorkQueue, object_key
from asyncaction.settings import OperatorSettings
from asyncaction.sharding import hook_url_for
from asyncaction.stores import Store
from asyncaction.tenancy import REFUSED_REASON, StoreScope, refusal_message, refused_uris
from asyncaction.timeutil import utcnow

log = logging.getLogger(__name__)
Obj = dict[str, Any]
ACTIVE_VALUES = {phase.value for phase in ACTIVE_PHASES}


class JobRefused(Exception):
    """The API server will not create this attempt's Job: the action fails with ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# Index names of the caches.
BY_UID = "uid"
BY_TEMPLATE = "templateRef"
BY_ACTION_UID = "action-uid"
BY_OWNER_UID = "owner-uid"
BY_JOB = "job-name"


def _uid(obj: Mapping[str, Any]) -> Iterable[str]:
    uid = (obj.get("metadata") or {}).get("uid")
    return [uid] if uid else []


def _template_ref(obj: Mapping[str, Any]) -> Iterable[str]:
    ref = (obj.get("spec") or {}).get("templateRef")
    return [f"{obj['metadata']['namespace']}/{ref}"] if ref else []


def _action_uid_label(obj: Mapping[str, Any]) -> Iterable[str]:
    uid = ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_ACTION_UID)
    return [uid] if uid else []


def _owner_uids(obj: Mapping[str, Any]) -> Iterable[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [ref["uid"] for ref in refs if ref.get("controller") and ref.get("uid")]


def _job_name_label(obj: Mapping[str, Any]) -> Iterable[str]:
    meta = obj.get("metadata") or {}
    job = (meta.get("labels") or {}).get("job-name")
    return [f"{meta.get('namespace')}/{job}"] if job else []


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return uid in _owner_uids(obj)


# What the controller never reads of an action: reports are the hook's business.
_REPORT_FIELDS = ("result", "logTail", "statusDetails", "outputs", "pendingUploads")
# What a finished action no longer needs: no Job will be built from it again.
_BUILD_FIELDS = ("template", "request", "arguments", "inputs", "outputs")
_STREAMS = ("stdin", "stdout", "stderr")
_ACTION_META = (
    "name",
    "namespace",
    "uid",
    "generation",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
)
TERMINAL_VALUES = {"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"}


def summarize_action(action: Obj) -> Obj:
    """The part of an action a reconcile reads; a finished one keeps no pod template.

    The archive, which wants the whole record, reads the action fresh once.
    """
    meta = action.get("metadata") or {}
    spec = dict(action.get("spec") or {})
    status = {k: v for k, v in (action.get("status") or {}).items() if k not in _REPORT_FIELDS}
    if status.get("phase") in TERMINAL_VALUES:
        for field in (*_BUILD_FIELDS, *_STREAMS):
            spec.pop(field, None)
    return {
        "metadata": {key: meta[key] for key in _ACTION_META if key in meta},
        "spec": spec,
        "status": status,
    }


def summarize_pod(pod: Obj) -> Obj:
    """What the lifecycle reads of a Pod: its phase, container states and conditions."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    return {
        "metadata": {
            key: meta[key]
            for key in (
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "labels",
                "deletionTimestamp",
            )
            if key in meta
        },
        "status": {
            key: status[key]
            for key in ("phase", "reason", "message", "containerStatuses", "conditions")
            if key in status
        },
    }


def summarize_job(job: Obj) -> Obj:
    meta = job.get("metadata") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "labels", "ownerReferences")
    summary: Obj = {
        "metadata": {
            key: meta[key]
            for key in (*keep, "deletionTimestamp", "creationTimestamp")
            if key in meta
        },
        "status": job.get("status") or {},
    }
    recorded = (meta.get("annotations") or {}).get(ANNOTATION_TEMPLATE_DEFAULTS)
    if recorded is not None:
        summary["metadata"]["annotations"] = {ANNOTATION_TEMPLATE_DEFAULTS: recorded}
    return summary


def key_attempt_of(secret: Mapping[str, Any]) -> int | None:
    """The attempt whose key a Secret holds (None: unknown, e.g. a random key of old)."""
    value = ((secret.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_KEY_ATTEMPT)
    return int(value) if value is not None and str(value).isdigit() else None


def summarize_secret(secret: Obj) -> Obj:
    """Metadata only: key material is never kept in the operator's memory."""
    meta = secret.get("metadata") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "labels", "annotations")
    return {
        "metadata": {
            key: meta[key] for key in (*keep, "ownerReferences", "deletionTimestamp") if key in meta
        }
    }


@dataclass
class Caches:
    """The informers one operator process runs (see ``controllers.manager``)."""

    actions: Informers
    jobs: Informers
    pods: Informers
    secrets: Informers
    templates: Informers
    queues: Informers

    def all(self) -> list[Informers]:
        return [self.actions, self.jobs, self.pods, self.secrets, self.templates, self.queues]


class ActionController:
    def __init__(
        self,
        kube: KubeClient,
        settings: OperatorSettings,
        caches: Caches,
        admissions: Admissions,
        queue: WorkQueue,
        metrics: Metrics,
        archive: Store | None = None,
        on_queue_changed: Any = None,
        scopes: list[StoreScope] | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.caches = caches
        self.admissions = admissions
        self.queue = queue
        self.metrics = metrics
        self.archive = archive
        # None: no stores configured here, the hook alone checks S3 keys.
        self.scopes = scopes
        if not settings.master_keys_file:
            raise MasterKeyError(f"{MASTER_KEYS_ENV} is not set: the operator cannot issue keys")
        self.master_keys = MasterKeysFile(settings.master_keys_file)
        self.on_queue_changed = on_queue_changed or (lambda key: None)
        self._refusals: dict[str, int] = {}  # uid -> refused Job creations (403) in a row
        self.lifecycle = LifecycleSettings(
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
            poll_seconds=settings.poll_seconds,
        )
        caches.actions.add_index(BY_UID, _uid)
        caches.actions.add_index(BY_TEMPLATE, _template_ref)
        caches.jobs.add_index(BY_ACTION_UID, _action_uid_label)
        caches.pods.add_index(BY_JOB, _job_name_label)
        caches.secrets.add_index(BY_OWNER_UID, _owner_uids)
        caches.actions.add_handler(self._on_action)
        caches.jobs.add_handler(self._on_child)
        caches.pods.add_handler(self._on_child)
        caches.templates.add_handler(self._on_template)

    # -- events → keys -------------------------------------------------------------------

    def _on_action(self, event: str, new: Obj | None, old: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        self.metrics.observe_transition(old, new)
        uid = obj["metadata"]["uid"]
        if new is None:
            queue = self.admissions.forget(uid)
            if queue is not None:
                self._queue_changed(queue)
            return
        member = self.member(new)
        changed = self.admissions.observe(member)
        for queue in changed:
            self._queue_changed(queue)
        if member.eligible and member.queue not in changed:
            self.wake_granted(member.queue)
        self.queue.add(object_key(new))

    def _queue_changed(self, key: tuple[str, str]) -> None:
        """A queue's counts changed: admit into free slots, tell the queue controller."""
        self.wake_granted(key)
        self.on_queue_changed(key)

    def wake_granted(self, key: tuple[str, str]) -> None:
        for uid in self.admissions.fill(key):
            for action_key in self.caches.actions.index_keys(BY_UID, uid):
                self.queue.add(action_key)

    def _on_child(self, event: str, new: Obj | None, old: Obj | None) -> None:
        for uid in _action_uid_label(new or old or {}):
            for key in self.caches.actions.index_keys(BY_UID, uid):
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
        the live template's otherwise."""
        template_spec = self.template_spec_of(action)
        status = action.get("status") or {}
        if status.get("phase") in ACTIVE_VALUES and status.get("jobName"):
            job = self.caches.jobs.get(f"{action['metadata']['namespace']}/{status['jobName']}")
            recorded = recorded_defaults(job) if job is not None else None
            if recorded is not None and owned_by(job or {}, action["metadata"]["uid"]):
                rest = {k: v for k, v in (template_spec or {}).items() if k not in ATTEMPT_FIELDS}
                template_spec = {**rest, **recorded}
        return resolve_spec(action.get("spec") or {}, template_spec)

    def member(self, action: Mapping[str, Any]) -> Member:
        spec = self.resolved_spec(action)
        meta = action["metadata"]
        view = action_view_from(
            {**action, "spec": spec}, has_handler=pod_template_for(spec) is not None
        )
        return Member(
            uid=meta["uid"],
            queue=(meta["namespace"], spec.get("queue") or DEFAULT_QUEUE),
            priority=int(spec.get("priority") or 0),
            created_at=view.created_at or utcnow(),
            phase=view.phase,
            eligible=is_eligible(view, utcnow()),
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

    def secret_of(self, action: Mapping[str, Any]) -> Obj | None:
        uid = action["metadata"]["uid"]
        live = [
            s
            for s in self.caches.secrets.by_index(BY_OWNER_UID, uid)
            if not s["metadata"].get("deletionTimestamp")
        ]
        return live[0] if live else None

    # -- one reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        action = self.caches.actions.get(key)
        if action is None or action["metadata"].get("deletionTimestamp"):
            return None
        self.metrics.inc("asyncaction_reconciles_total")
        uid = action["metadata"]["uid"]
        spec = self.resolved_spec(action)
        template = pod_template_for(spec)
        view = action_view_from({**action, "spec": spec}, has_handler=template is not None)
        job = self.job_of(action)
        now = utcnow()
        admitted = False
        if is_eligible(view, now):
            admitted = self.admissions.request(uid)
            if not admitted:
                queue = self.admissions.queue_of(uid)
                if queue is not None:
                    self.wake_granted(queue)  # maybe a slot is free: the heap decides who
                admitted = self.admissions.request(uid)
            self.metrics.admission(admitted)
        elif view.phase is Phase.QUEUED:
            self.admissions.withdraw(uid)
            queue = self.admissions.queue_of(uid)
            if queue is not None:
                self.wake_granted(queue)  # a grant it held goes to the next in line
        decision = reconcile(view, job, now=now, admitted=admitted, settings=self.lifecycle)
        blocked = None if admitted or not is_eligible(view, now) else self._why_held(uid)
        decision = explain_waiting(view, job, decision, now=now, blocked=blocked)
        refusal = self._store_refusal(decision, spec, action["metadata"]["namespace"])
        if refusal is not None:
            decision = failure_decision(view, REFUSED_REASON, refusal, now=now)
        log.debug("%s: %s", key, decision_summary(decision))
        if decision.status and not await self._write_status(action, decision.status):
            self.admissions.release(uid)
            return self.settings.poll_seconds
        try:
            for effect in decision.effects:
                await self._apply(effect, action, spec, template)
        except ManifestError as exc:
            await self._fail(action, view, "InvalidSpec", str(exc), spec, template)
            return None
        except JobRefused as exc:
            await self._fail(action, view, exc.reason, exc.message, spec, template)
            return None
        if decision.after:
            await self._write_status(action, decision.after, fresh=True)
        return decision.requeue_after

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

    async def _fail(
        self,
        action: Obj,
        view: Any,
        reason: str,
        message: str,
        spec: Mapping[str, Any],
        template: Mapping[str, Any] | None,
    ) -> None:
        failed = failure_decision(view, reason, message, now=utcnow())
        await self._write_status(action, failed.status, fresh=True)
        for effect in failed.effects:
            await self._apply(effect, action, spec, template)

    async def _write_status(
        self, action: Mapping[str, Any], status: Mapping[str, Any], *, fresh: bool = False
    ) -> bool:
        meta = action["metadata"]
        path = paths.action_path(meta["namespace"], meta["name"], status=True)
        body: dict[str, Any] = {"status": dict(status)}
        if not fresh:
            body["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        try:
            updated = await self.kube.patch(path, body)
        except Conflict:
            log.debug("status of %s/%s changed meanwhile", meta["namespace"], meta["name"])
            return False
        except NotFound:
            return False
        except ApiError:
            log.error("status patch of %s/%s refused: %s", meta["namespace"], meta["name"], body)
            raise
        self._wrote(self.caches.actions, "asyncactions/status", updated)
        return True

    # -- effects -------------------------------------------------------------------------

    async def _apply(
        self,
        effect: object,
        action: Mapping[str, Any],
        spec: Mapping[str, Any],
        template: Mapping[str, Any] | None,
    ) -> None:
        if isinstance(effect, EnsureSecret):
            await self.ensure_secret(action, effect.attempt)
        elif isinstance(effect, CreateJob):
            await self._create_job(effect, action, spec, template)
        elif isinstance(effect, DeleteJob):
            # Foreground: the Job stays (deleting) until its Pods are gone, so "the Job is
            # gone" means the attempt no longer runs and the next one may start.
            path = paths.job_path(action["metadata"]["namespace"], effect.job_name)
            await self._delete(path, propagation="Foreground")
        elif isinstance(effect, RemoveChildren):
            await self._remove_children(action)
        elif isinstance(effect, Emit):
            await self._emit(action, effect)
        else:  # pragma: no cover - a new effect type without its executor
            raise TypeError(f"unknown effect {effect!r}")

    def _wrote(self, cache: Informers, resource: str, obj: Obj) -> Obj:
        """Count a write the API server accepted and put its answer in the cache, so the
        next reconcile sees it before the watch echoes it."""
        self.metrics.inc("asyncaction_api_writes_total", {"resource": resource})
        cache.put(obj)
        return obj

    async def _delete(self, path: str, *, propagation: str = "Background") -> None:
        await self.kube.delete(path, propagation=propagation)
        self.metrics.inc("asyncaction_api_writes_total", {"resource": path.rsplit("/", 2)[-2]})

    async def ensure_secret(self, action: Mapping[str, Any], attempt: int) -> Obj:
        """The action's Secret (found by OWNER UID) holds the key of ``attempt`` before
        that attempt's Job is created: the one place that writes key material.

        The key is derived from the master keys (``asyncaction.keys``); the Secret's
        annotation says which attempt's key it holds, since the cache keeps no data. A
        Secret of the same name owned by someone else (an earlier action of the same name,
        not yet garbage-collected) is deleted, never adopted.
        """
        meta = action["metadata"]
        ns = meta["namespace"]
        found = self.secret_of(action)
        if found is not None and key_attempt_of(found) == attempt:
            return found
        key = self.master_keys.current().issue(ns, meta["uid"], attempt)
        wanted = build_secret(action, key, attempt=attempt)
        name = wanted["metadata"]["name"]
        path = paths.secret_path(ns, name)
        for _ in range(3):
            if found is not None:
                replaced = await self._replace_secret(path, found, wanted)
                if replaced is not None:
                    return replaced
                found = None  # an immutable Secret of an earlier version: deleted
                continue
            try:
                created = await self.kube.create(paths.secret_path(ns), wanted)
            except AlreadyExists:
                try:
                    existing = await self.kube.get(path)
                except NotFound:
                    continue
                if owned_by(existing, meta["uid"]):
                    if key_attempt_of(existing) == attempt:
                        self.caches.secrets.put(existing)
                        return existing
                    found = existing
                    continue
                log.info("secret %s/%s belongs to an earlier action: replaced", ns, name)
                await self._delete(path)
                continue
            return self._wrote(self.caches.secrets, "secrets", created)
        raise ApiError(409, "Conflict", f"secret {ns}/{name} could not be written")

    async def _replace_secret(self, path: str, existing: Obj, wanted: Obj) -> Obj | None:
        """Write ``wanted``'s key and annotation over ``existing``; None when the Secret
        was immutable (written before keys were derived per attempt) and was deleted."""
        version = existing["metadata"].get("resourceVersion")
        body = {
            "metadata": {
                "resourceVersion": version,
                "annotations": wanted["metadata"]["annotations"],
            },
            "data": wanted["data"],
        }
        try:
            updated = await self.kube.patch(path, body)
        except ApiError as exc:
            if exc.status != 422:
                raise
            await self._delete(path)
            return None
        return self._wrote(self.caches.secrets, "secrets", updated)

    async def _create_job(
        self,
        effect: CreateJob,
        action: Mapping[str, Any],
        spec: Mapping[str, Any],
        template: Mapping[str, Any] | None,
    ) -> None:
        if template is None:
            raise ManifestError("the action has no pod template")
        meta = action["metadata"]
        ns = meta["namespace"]
        secret = self.secret_of(action) or await self.ensure_secret(action, effect.attempt)
        job = build_job(
            {**action, "spec": spec},
            template,
            attempt=effect.attempt,
            job_name=effect.job_name,
            secret_name=secret["metadata"]["name"],
            hook_url=hook_url_for(self.settings.hook_url, meta["uid"], self.settings.hook_shards),
            entrypoint=self.settings.entrypoint,
            template_defaults=attempt_defaults(self.template_spec_of(action)),
        )
        try:
            created = await self.kube.create(paths.job_path(ns), job)
        except AlreadyExists:
            existing = await self.kube.get(paths.job_path(ns, effect.job_name))
            if not owned_by(existing, meta["uid"]):
                raise JobRefused(
                    "JobNameTaken", f"job {effect.job_name} exists and belongs to another object"
                ) from None
            log.info("job %s/%s exists already: adopted", ns, effect.job_name)
            self.caches.jobs.put(existing)
            return
        except ApiError as exc:
            self._refused(meta["uid"], exc)
            raise
        self._refusals.pop(meta["uid"], None)
        self._wrote(self.caches.jobs, "jobs", created)

    def _refused(self, uid: str, exc: ApiError) -> None:
        """422 (an invalid pod template) is final; 403 (quota, a webhook) may clear up,
        so it is retried with the work queue's backoff a few times, then final too."""
        if exc.status == 422:
            raise JobRefused("InvalidSpec", f"the job was refused: {exc.message}") from exc
        if exc.status == 403:
            count = self._refusals[uid] = self._refusals.get(uid, 0) + 1
            if count > self.settings.job_create_retries:
                self._refusals.pop(uid, None)
                raise JobRefused(
                    "Forbidden", f"the job was refused {count} times: {exc.message}"
                ) from exc

    async def _remove_children(self, action: Mapping[str, Any]) -> None:
        meta = action["metadata"]
        ns = meta["namespace"]
        if self.archive is not None:
            # The cache holds a summary: the archive gets the whole record, read once.
            record = await self.kube.get(paths.action_path(ns, meta["name"]))
            uri = await self.archive.put(
                archive_key(self.archive.prefix, record),
                archive_document(record),
                "application/json",
            )
            await self._emit(action, Emit("Normal", "Archived", f"record archived to {uri}"))
        for job in self.caches.jobs.by_index(BY_ACTION_UID, meta["uid"]):
            if owned_by(job, meta["uid"]):
                await self._delete(paths.job_path(ns, job["metadata"]["name"]))
        for secret in self.caches.secrets.by_index(BY_OWNER_UID, meta["uid"]):
            await self._delete(paths.secret_path(ns, secret["metadata"]["name"]))

    async def _emit(self, action: Mapping[str, Any], effect: Emit) -> None:
        event = build_event(
            action, type=effect.type, reason=effect.reason, message=effect.message, now=utcnow()
        )
        try:
            await self.kube.create(paths.event_path(action["metadata"]["namespace"]), event)
            self.metrics.inc("asyncaction_api_writes_total", {"resource": "events"})
            self.metrics.event(effect.type, effect.reason)
        except ApiError as exc:  # events are best effort: never block the lifecycle on them
            log.warning("could not post event %s: %s", effect.reason, exc)


def decision_summary(decision: Decision) -> str:
    """A log line for a decision, never including secret material."""
    phase = decision.status.get("phase")
    kinds = ",".join(type(e).__name__ for e in decision.effects)
    return f"phase={phase or '-'} effects=[{kinds}] requeue={decision.requeue_after}"


__all__ = ["ActionController", "Caches", "secret_name_for"]
