"""The effect executor: carries out what the pure lifecycle decided, idempotently.

One ``match`` over the ``Effect`` union (``assert_never`` makes a new effect without its
executor a type error), and the status writes, each through a narrow ``KubeApi``
(four verbs) so that it runs the same against the API server and an in-memory fake.

Every API answer enters the caches through ``Caches.accept``, so the next reconcile
sees it before the watch echoes it, and an answer that raced with a deletion never
brings the deleted object back.

Refusals: an API answer that no retry of the same request can change (the Job's spec
is invalid or too large, the namespace is gone or terminating, a policy denies it a
bounded number of times in a row) raises ``TerminalError`` with the API server's reason
and message; the reconcile fails the attempt with it and so frees its slot.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, assert_never

from asyncaction.api.names import LABEL_HOOK_SHARD
from asyncaction.archive import archive_document, archive_key
from asyncaction.controllers.caches import (
    BY_ACTION_UID,
    BY_OWNER_UID,
    Caches,
    key_attempt_of,
    owned_by,
)
from asyncaction.keys import MasterKeysFile
from asyncaction.kube import AlreadyExists, ApiError, Conflict, NotFound, paths
from asyncaction.lifecycle import (
    CreateJob,
    DeleteAction,
    DeleteJob,
    Effect,
    Emit,
    EnsureSecret,
    RemoveChildren,
)
from asyncaction.logfields import about
from asyncaction.manifests import ManifestError, build_event, build_job, build_secret
from asyncaction.runtime import Informers, Metrics
from asyncaction.runtime.events import EventSender
from asyncaction.runtime.result import TerminalError
from asyncaction.sharding import hook_url_for, shard_of
from asyncaction.stores import Store
from asyncaction.timeutil import utcnow

log = logging.getLogger(__name__)
Obj = dict[str, Any]

# Status fields that identify a transition: when they all read back as written, the
# write landed (a timed-out or retried request is checked, never assumed lost).
_LANDMARKS = ("phase", "attempts", "jobName", "failures")


class KubeApi(Protocol):
    """The part of ``asyncaction.kube.KubeClient`` the executor uses."""

    async def get(self, path: str) -> dict[str, Any]: ...

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch(
        self, path: str, body: Mapping[str, Any] | builtins.list[Any], *, patch_type: str = ...
    ) -> dict[str, Any]: ...

    async def delete(
        self, path: str, *, propagation: str = ..., missing_ok: bool = ...
    ) -> None: ...


@dataclass(frozen=True)
class JobSettings:
    """What a Job is built with (from ``OperatorSettings``)."""

    hook_url: str
    hook_shards: int = 1
    entrypoint: tuple[str, ...] = ("asyncaction-job", "run", "--")
    job_create_retries: int = 5


@dataclass(frozen=True)
class Target:
    """The action effects are for: its cached summary, its spec resolved with its
    template's defaults, the pod template built from it, and the defaults an attempt
    records on its Job."""

    action: Mapping[str, Any]
    spec: Mapping[str, Any]
    pod_template: Mapping[str, Any] | None
    template_defaults: Mapping[str, Any] | None = None


def job_refusal(exc: ApiError, refusals: int, retries: int) -> TerminalError | None:
    """What a refused Job create means (None: transient, let the work queue retry).

    ``refusals`` counts this action's 403s in a row, this one included.
    """
    detail = f"the job was refused ({exc.status} {exc.reason}): {exc.message}"
    if exc.status == 422:
        return TerminalError("InvalidSpec", detail)
    if exc.status == 413:
        return TerminalError(exc.reason or "RequestEntityTooLarge", detail)
    if exc.status == 404:  # the namespace is gone (or going)
        return TerminalError(exc.reason or "NotFound", detail)
    if exc.status == 400:  # a webhook's denial without a code: a later attempt may pass
        return TerminalError(exc.reason or "BadRequest", detail, counts_as_attempt=True)
    if exc.status == 403:
        if "being terminated" in exc.message:
            return TerminalError("NamespaceTerminating", detail)
        if refusals > retries:
            return TerminalError(
                exc.reason or "Forbidden",
                f"the job was refused {refusals} times in a row ({exc.status} "
                f"{exc.reason}): {exc.message}",
                counts_as_attempt=True,
            )
    return None


class EffectExecutor:
    def __init__(
        self,
        kube: KubeApi,
        caches: Caches,
        metrics: Metrics,
        events: EventSender,
        settings: JobSettings,
        master_keys: MasterKeysFile,
        archive: Store | None = None,
    ) -> None:
        self.kube = kube
        self.caches = caches
        self.metrics = metrics
        self.events = events
        self.settings = settings
        self.master_keys = master_keys
        self.archive = archive
        self._refusals: dict[str, int] = {}  # action uid -> 403s of its Job create in a row

    def forget(self, uid: str) -> None:
        """The action is gone: drop what was kept for it."""
        self._refusals.pop(uid, None)

    async def run(self, effect: Effect, target: Target) -> None:
        match effect:
            case EnsureSecret(attempt=attempt):
                await self.ensure_secret(target.action, attempt)
            case CreateJob():
                await self.create_job(effect, target)
            case DeleteJob(job_name=job_name):
                # Foreground: the Job stays (deleting) until its Pods are gone, so "the
                # Job is gone" means the attempt no longer runs.
                path = paths.job_path(target.action["metadata"]["namespace"], job_name)
                await self._delete(path, propagation="Foreground")
            case RemoveChildren():
                await self.remove_children(target.action)
            case DeleteAction():
                meta = target.action["metadata"]
                await self._delete(paths.action_path(meta["namespace"], meta["name"]))
            case Emit():
                self.emit(target.action, effect)
            case _:
                assert_never(effect)

    # -- the action's status -------------------------------------------------------------

    async def write_status(
        self, action: Mapping[str, Any], status: Mapping[str, Any], *, fresh: bool = False
    ) -> bool:
        """Patch ``.status``; with ``fresh`` unset, only over the cached resourceVersion.

        False when it did not land (the cache was stale: the watch brings the newer
        version, or the action is gone). A Conflict or a failure after which the write
        may have landed anyway (a timeout, a retried request) is checked by reading
        the action back: a landed write counts as written, so a grant it used is not
        given to a second action.
        """
        meta = action["metadata"]
        path = paths.action_path(meta["namespace"], meta["name"], status=True)
        body: dict[str, Any] = {"status": dict(status)}
        if not fresh:
            body["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        try:
            updated = await self.kube.patch(path, body)
        except NotFound:
            return False
        except Conflict:
            landed = await self._read_back(action, status)
            if landed is None:
                log.debug(
                    "status of %s/%s changed meanwhile",
                    meta["namespace"],
                    meta["name"],
                    extra=about(action),
                )
                return False
            updated = landed
        except ApiError as exc:
            if not exc.transient:
                log.error(
                    "status patch of %s/%s refused: %s",
                    meta["namespace"],
                    meta["name"],
                    exc,
                    extra=about(action),
                )
                raise
            landed = await self._read_back(action, status)
            if landed is None:
                raise
            updated = landed
        self._count("asyncactions/status")
        self.caches.accept(self.caches.actions, updated, update=True)
        return True

    async def _read_back(self, action: Mapping[str, Any], status: Mapping[str, Any]) -> Obj | None:
        """The action as it is now, when it shows ``status``'s transition; else None
        (the fresher object goes to the cache either way)."""
        marks = [key for key in _LANDMARKS if key in status]
        if not marks:
            return None  # no transition to recognise: the next reconcile decides again
        meta = action["metadata"]
        try:
            current = await self.kube.get(paths.action_path(meta["namespace"], meta["name"]))
        except NotFound:
            return None
        if (current.get("metadata") or {}).get("uid") != meta["uid"]:
            return None
        self.caches.accept(self.caches.actions, current, update=True)
        now = current.get("status") or {}
        if all(now.get(key) == status[key] for key in marks):
            return current
        return None

    # -- children ------------------------------------------------------------------------

    def _count(self, resource: str) -> None:
        self.metrics.inc("asyncaction_api_writes_total", {"resource": resource})

    def _wrote(self, cache: Informers, resource: str, obj: Obj) -> Obj:
        """Count a created object and put it in the cache (unless deleted meanwhile)."""
        self._count(resource)
        self.caches.accept(cache, obj, update=False)
        return obj

    async def _delete(self, path: str, *, propagation: str = "Background") -> None:
        await self.kube.delete(path, propagation=propagation)
        self._count(path.rsplit("/", 2)[-2])

    def secret_of(self, action: Mapping[str, Any]) -> Obj | None:
        uid = action["metadata"]["uid"]
        live = [
            s
            for s in self.caches.secrets.by_index(BY_OWNER_UID, uid)
            if not s["metadata"].get("deletionTimestamp")
        ]
        return live[0] if live else None

    async def ensure_secret(self, action: Mapping[str, Any], attempt: int) -> Obj:
        """The action's Secret (found by OWNER UID) holds the key of ``attempt`` before
        that attempt's Job is created: the one place that writes key material.

        The key is derived from the master keys (``asyncaction.keys``); the Secret's
        annotation says which attempt's key it holds, since the cache keeps no data. A
        Secret of the same name owned by someone else (an earlier action of the same
        name, not yet garbage-collected) is deleted, never adopted.
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
                        self.caches.accept(self.caches.secrets, existing, update=False)
                        return existing
                    found = existing
                    continue
                log.info(
                    "secret %s/%s belongs to an earlier action: replaced",
                    ns,
                    name,
                    extra=about(action),
                )
                await self._delete(path)
                continue
            return self._wrote(self.caches.secrets, "secrets", created)
        raise ApiError(409, "Conflict", f"secret {ns}/{name} could not be written")

    async def _replace_secret(self, path: str, existing: Obj, wanted: Obj) -> Obj | None:
        """Write ``wanted``'s key and annotation over ``existing``; None when the Secret
        was immutable (written before keys were derived per attempt) and was deleted."""
        body = {
            "metadata": {
                "resourceVersion": existing["metadata"].get("resourceVersion"),
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
        self._count("secrets")
        self.caches.accept(self.caches.secrets, updated, update=False)
        return updated

    async def label_hook_shard(self, action: Mapping[str, Any]) -> None:
        """With several hook replicas, each watches only its shard's actions (a label
        selector on the server): the label is written before the Job that reports, and
        again on a running action after the number of shards changed."""
        if self.settings.hook_shards <= 1:
            return
        meta = action["metadata"]
        shard = str(shard_of(meta["uid"], self.settings.hook_shards))
        if (meta.get("labels") or {}).get(LABEL_HOOK_SHARD) == shard:
            return
        path = paths.action_path(meta["namespace"], meta["name"])
        updated = await self.kube.patch(path, {"metadata": {"labels": {LABEL_HOOK_SHARD: shard}}})
        self._count("asyncactions")
        self.caches.accept(self.caches.actions, updated, update=True)

    async def create_job(self, effect: CreateJob, target: Target) -> None:
        """Create the attempt's Job; adopt it when this action owns it already."""
        if target.pod_template is None:
            raise TerminalError("InvalidSpec", "the action has no pod template")
        action = target.action
        meta = action["metadata"]
        ns = meta["namespace"]
        await self.label_hook_shard(action)
        secret = self.secret_of(action) or await self.ensure_secret(action, effect.attempt)
        hook_url = hook_url_for(self.settings.hook_url, meta["uid"], self.settings.hook_shards)
        try:
            job = build_job(
                {**action, "spec": target.spec},
                target.pod_template,
                attempt=effect.attempt,
                job_name=effect.job_name,
                secret_name=secret["metadata"]["name"],
                hook_url=hook_url,
                entrypoint=self.settings.entrypoint,
                template_defaults=target.template_defaults,
            )
        except ManifestError as exc:
            raise TerminalError("InvalidSpec", str(exc)) from exc
        try:
            created = await self.kube.create(paths.job_path(ns), job)
        except AlreadyExists:
            existing = await self.kube.get(paths.job_path(ns, effect.job_name))
            if not owned_by(existing, meta["uid"]):
                raise TerminalError(
                    "JobNameTaken", f"job {effect.job_name} exists and belongs to another object"
                ) from None
            log.info("job %s/%s exists already: adopted", ns, effect.job_name, extra=about(action))
            self.caches.accept(self.caches.jobs, existing, update=False)
            return
        except ApiError as exc:
            refusals = self._refusals[meta["uid"]] = self._refusals.get(meta["uid"], 0) + 1
            refusal = job_refusal(exc, refusals, self.settings.job_create_retries)
            if refusal is not None:
                self._refusals.pop(meta["uid"], None)
                raise refusal from exc
            if exc.status != 403:
                self._refusals.pop(meta["uid"], None)  # only 403s in a row are counted
            raise
        self._refusals.pop(meta["uid"], None)
        self._wrote(self.caches.jobs, "jobs", created)

    async def remove_children(self, action: Mapping[str, Any]) -> None:
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
            self.emit(action, Emit("Normal", "Archived", f"record archived to {uri}"))
        for job in self.caches.jobs.by_index(BY_ACTION_UID, meta["uid"]):
            if owned_by(job, meta["uid"]):
                await self._delete(paths.job_path(ns, job["metadata"]["name"]))
        for secret in self.caches.secrets.by_index(BY_OWNER_UID, meta["uid"]):
            await self._delete(paths.secret_path(ns, secret["metadata"]["name"]))

    def emit(self, action: Mapping[str, Any], effect: Emit) -> None:
        """Queue the Event (``asyncaction.runtime.events``): the reconcile goes on at once."""
        event = build_event(
            action, type=effect.type, reason=effect.reason, message=effect.message, now=utcnow()
        )
        path = paths.event_path(action["metadata"]["namespace"])
        self.events.post(path, event, about(action))
