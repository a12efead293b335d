"""The effect executor: carries out what the pure lifecycle decided, idempotently.

One ``match`` over the ``Effect`` union (``assert_never`` makes a new effect without its
executor a type error). The Job (adopted only when this action owns it), the shard
label the hook selects by, the children removed (and the record archived) at the end,
and the Events are written here; the Secret that holds the attempt's key is
``controllers.job_secrets``, the status patch ``controllers.status_writes``, and every
write goes through ``controllers.api_writes`` (counted, its answer put in the caches).

Refusals: an API answer that no retry of the same request can change (the Job's spec
is invalid or too large, the namespace is gone or terminating, a policy denies it a
bounded number of times in a row) raises ``TerminalError`` with the API server's reason
and message; the reconcile fails the attempt with it and so frees its slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from asyncaction.api.names import LABEL_HOOK_SHARD
from asyncaction.archive import archive_document, archive_key
from asyncaction.controllers.api_writes import ApiWrites
from asyncaction.controllers.archive_gate import ArchiveGate
from asyncaction.controllers.caches import BY_ACTION_UID, BY_OWNER_UID, owned_by
from asyncaction.controllers.job_secrets import JobSecrets
from asyncaction.keys import MasterKeysFile
from asyncaction.kube import AlreadyExists, ApiError, Conflict, paths
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
from asyncaction.manifests import ManifestError, build_event, build_job
from asyncaction.runtime.events import EventSender
from asyncaction.runtime.result import TerminalError
from asyncaction.sharding import hook_url_for, shard_of
from asyncaction.stores import Store
from asyncaction.timeutil import utcnow

log = logging.getLogger(__name__)


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


# A 403 ends the attempt only once the creates were refused for this long as well as
# more than ``job_create_retries`` times: an API server that has just started refuses
# every user RBAC grants for a moment, until it has read the roles (measured 0.07 to
# 0.12 s on the test bed, longer with many roles), and the work queue's backoff makes
# the retries within 1.6 s. A quota or a policy refuses for as long as it stands.
REFUSED_AT_LEAST_SECONDS = 10.0


def creation_refusal(
    kind: str, exc: ApiError, refusals: int, retries: int, refused_for: float = 0.0
) -> TerminalError | None:
    """What a refused create of the attempt's ``kind`` ("job", "secret") means (None:
    transient, let the work queue retry). ``refusals`` counts this action's 403s in a
    row, this one included, over ``refused_for`` seconds since the first."""
    detail = f"the {kind} was refused ({exc.status} {exc.reason}): {exc.message}"
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
        if refusals > retries and refused_for >= REFUSED_AT_LEAST_SECONDS:
            # a quota or a policy: a later attempt may pass
            return TerminalError(
                exc.reason or "Forbidden",
                f"the {kind} was refused {refusals} times in a row over {refused_for:.0f} s"
                f" ({exc.status} {exc.reason}): {exc.message}",
                counts_as_attempt=True,
            )
    return None


def job_refusal(
    exc: ApiError, refusals: int, retries: int, refused_for: float = 0.0
) -> TerminalError | None:
    """``creation_refusal`` of the attempt's Job."""
    return creation_refusal("job", exc, refusals, retries, refused_for)


class EffectExecutor:
    """Runs the effects of one reconcile's decision, one at a time, for one action."""

    def __init__(
        self,
        writes: ApiWrites,
        events: EventSender,
        settings: JobSettings,
        master_keys: MasterKeysFile,
        archive: Store | None = None,
    ) -> None:
        self.writes = writes
        self.kube = writes.kube
        self.caches = writes.caches
        self.secrets = JobSecrets(writes, master_keys)
        self.events = events
        self.settings = settings
        self.archive = archive
        self.archive_gate = ArchiveGate()  # a store that hangs holds no worker for long
        # action uid -> 403s in a row of the creates of its attempt's Secret and Job, and
        # when the first of them came (``clock``)
        self._refusals: dict[str, tuple[int, float]] = {}
        self.clock: Callable[[], float] = time.monotonic

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
                await self.writes.delete(path, propagation="Foreground")
            case RemoveChildren():
                await self.remove_children(target.action)
            case DeleteAction():
                # Only the action decided on, as it was decided on: a stale cache (a
                # watch behind, a relist) took a deletion of a re-created action, or one
                # the user had just set to ``retention: Keep``. A 409 decides again.
                meta = target.action["metadata"]
                try:
                    await self.writes.delete(
                        paths.action_path(meta["namespace"], meta["name"]),
                        preconditions={
                            "uid": meta["uid"],
                            "resourceVersion": meta["resourceVersion"],
                        },
                    )
                except Conflict:  # its watch event is on the way, and enqueues it again
                    log.info(
                        "%s/%s changed since retention decided to delete it: deciding again",
                        meta["namespace"],
                        meta["name"],
                        extra=about(target.action),
                    )
            case Emit():
                self.emit(target.action, effect)
            case _:
                assert_never(effect)

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
        self.writes.count("asyncactions")
        self.caches.accept(self.caches.actions, updated, update=True)

    async def create_job(self, effect: CreateJob, target: Target) -> None:
        """Create the attempt's Job; adopt it when this action owns it already."""
        if target.pod_template is None:
            raise TerminalError("InvalidSpec", "the action has no pod template")
        action = target.action
        meta = action["metadata"]
        ns = meta["namespace"]
        await self.label_hook_shard(action)
        secret = self.secrets.find(action) or await self.ensure_secret(action, effect.attempt)
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
            self._judge_refusal("job", meta["uid"], exc)
            raise
        self._refusals.pop(meta["uid"], None)
        self.writes.created(self.caches.jobs, "jobs", created)

    async def ensure_secret(self, action: Mapping[str, Any], attempt: int) -> dict[str, Any]:
        """The attempt's Secret (``JobSecrets.ensure``); a refusal that retrying cannot
        fix ends the attempt as a refused Job does, instead of being retried for ever
        with the slot held (a ``count/secrets`` quota, a webhook's denial)."""
        try:
            return await self.secrets.ensure(action, attempt)
        except ApiError as exc:
            self._judge_refusal("secret", action["metadata"]["uid"], exc)
            raise

    def _judge_refusal(self, kind: str, uid: str, exc: ApiError) -> None:
        """Raise the ``TerminalError`` a refused create means, if any; count 403s in a row
        (only those: any other answer starts the count again)."""
        now = self.clock()
        before, first = self._refusals.get(uid, (0, now))
        refusals = before + 1
        self._refusals[uid] = (refusals, first)
        retries = self.settings.job_create_retries
        refusal = creation_refusal(kind, exc, refusals, retries, now - first)
        if refusal is not None or exc.status != 403:
            self._refusals.pop(uid, None)
        if refusal is not None:
            raise refusal from exc

    async def remove_children(self, action: Mapping[str, Any]) -> None:
        meta = action["metadata"]
        ns = meta["namespace"]
        if self.archive is not None:
            # The cache holds a summary: the archive gets the whole record, read once.
            record = await self.kube.get(paths.action_path(ns, meta["name"]))
            uri = await self.archive_gate.put(
                self.archive,
                archive_key(self.archive.prefix, record),
                archive_document(record),
                "application/json",
            )
            self.emit(action, Emit("Normal", "Archived", f"record archived to {uri}"))
        for job in self.caches.jobs.by_index(BY_ACTION_UID, meta["uid"]):
            if owned_by(job, meta["uid"]):
                await self.writes.delete(paths.job_path(ns, job["metadata"]["name"]))
        for secret in self.caches.secrets.by_index(BY_OWNER_UID, meta["uid"]):
            await self.writes.delete(paths.secret_path(ns, secret["metadata"]["name"]))

    def emit(self, action: Mapping[str, Any], effect: Emit) -> None:
        """Queue the Event (``asyncaction.runtime.events``): the reconcile goes on at once."""
        event = build_event(
            action, type=effect.type, reason=effect.reason, message=effect.message, now=utcnow()
        )
        path = paths.event_path(action["metadata"]["namespace"])
        self.events.post(path, event, about(action))
