"""One reconcile pass of one action: observe, decide (purely), write status, act.

Order matters for crash safety. The status patch (with the action's resourceVersion as a
precondition) is written before any effect runs, and every effect is idempotent: a Job
or Secret that already exists is adopted, a missing one being deleted is fine. So the
operator can die between any two steps and the next pass, seeing the same or a later
state, converges without a second Job for an attempt.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asyncaction.admission import Admissions
from asyncaction.api.names import LABEL_ACTION_UID
from asyncaction.api.phases import TERMINAL_PHASES
from asyncaction.archive import archive_document, archive_key
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
from asyncaction.manifests import (
    ManifestError,
    build_event,
    build_job,
    build_secret,
    pod_template_for,
    resolve_spec,
    secret_name_for,
)
from asyncaction.settings import OperatorSettings
from asyncaction.sharding import hook_url_for
from asyncaction.stores import Store
from asyncaction.tenancy import REFUSED_REASON, StoreScope, refusal_message, refused_uris
from asyncaction.timeutil import utcnow

log = logging.getLogger(__name__)
TERMINAL_VALUES = {phase.value for phase in TERMINAL_PHASES}


@dataclass(frozen=True)
class PassResult:
    """What the loop does next: stop (the action is gone) or sleep up to ``requeue_after``."""

    gone: bool = False
    finished: bool = False  # terminal with nothing left to do: the loop may end
    requeue_after: float | None = None
    retry_now: bool = False


class Reconciler:
    def __init__(
        self,
        kube: KubeClient,
        settings: OperatorSettings,
        admissions: Admissions,
        archive: Store | None = None,
        scopes: list[StoreScope] | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.admissions = admissions
        self.archive = archive
        self.scopes = scopes  # None: no stores configured, the hook alone checks keys
        if not settings.master_keys_file:
            raise MasterKeyError(f"{MASTER_KEYS_ENV} is not set: the operator cannot issue keys")
        self.master_keys = MasterKeysFile(settings.master_keys_file)
        self.lifecycle = LifecycleSettings(
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
            poll_seconds=settings.poll_seconds,
        )

    async def _resolved_spec(self, action: Mapping[str, Any]) -> dict[str, Any]:
        spec = action.get("spec") or {}
        ref = spec.get("templateRef")
        template_spec = None
        if not spec.get("template") and ref:
            ns = action["metadata"]["namespace"]
            try:
                template = await self.kube.get(paths.template_path(ns, ref))
                template_spec = template.get("spec") or {}
            except NotFound:
                template_spec = None
        return resolve_spec(spec, template_spec)

    async def _observe_job(self, action: Mapping[str, Any]) -> JobView | None:
        job_name = (action.get("status") or {}).get("jobName")
        if not job_name:
            return None
        ns = action["metadata"]["namespace"]
        try:
            job = await self.kube.get(paths.job_path(ns, job_name))
        except NotFound:
            return None
        pods = await self.kube.list(paths.pod_path(ns), label_selector=f"job-name={job_name}")
        return job_view_from(job, pods.get("items", []))

    async def run_pass(self, namespace: str, name: str) -> PassResult:
        try:
            action = await self.kube.get(paths.action_path(namespace, name))
        except NotFound:
            return PassResult(gone=True)
        if action["metadata"].get("deletionTimestamp"):
            return PassResult(gone=True)
        uid = action["metadata"]["uid"]
        self.admissions.observe_action(action)
        spec = await self._resolved_spec(action)
        template = pod_template_for(spec)
        view = action_view_from({**action, "spec": spec}, has_handler=template is not None)
        job = await self._observe_job(action)
        now = utcnow()
        admitted = is_eligible(view, now) and self.admissions.try_admit(uid, now)
        decision = reconcile(view, job, now=now, admitted=admitted, settings=self.lifecycle)
        log.debug("%s/%s: %s", namespace, name, decision_summary(decision))
        refusal = self._store_refusal(decision, spec, namespace)
        if refusal is not None:
            decision = failure_decision(view, REFUSED_REASON, refusal, now=now)
        if decision.status and not await self._write_status(action, decision.status):
            self.admissions.release(uid)
            return PassResult(retry_now=True)
        try:
            for effect in decision.effects:
                await self._apply(effect, action, spec, template)
        except ManifestError as exc:
            failed = failure_decision(view, "InvalidSpec", str(exc), now=utcnow())
            await self._write_status(action, failed.status, fresh=True)
            for effect in failed.effects:
                await self._apply(effect, action, spec, template)
            return PassResult(retry_now=True)
        if decision.after:
            await self._write_status(action, decision.after, fresh=True)
            return PassResult(retry_now=True)
        # Finished only when a pass that started terminal has nothing left (TTL included);
        # a pass that just entered a terminal phase is followed by one that plans the TTL.
        was_terminal = view.phase is not None and view.phase.is_terminal
        if not was_terminal and decision.status.get("phase") in TERMINAL_VALUES:
            return PassResult(retry_now=True)
        finished = was_terminal and decision.requeue_after is None
        return PassResult(finished=finished, requeue_after=decision.requeue_after)

    def _store_refusal(
        self, decision: Decision, spec: Mapping[str, Any], namespace: str
    ) -> str | None:
        """Why a Job about to be created may not run: S3 keys outside its grants."""
        if self.scopes is None or not any(isinstance(e, CreateJob) for e in decision.effects):
            return None
        refused = refused_uris(spec, namespace, self.scopes)
        return refusal_message(refused) if refused else None

    async def _write_status(
        self, action: Mapping[str, Any], status: Mapping[str, Any], *, fresh: bool = False
    ) -> bool:
        meta = action["metadata"]
        path = paths.action_path(meta["namespace"], meta["name"], status=True)
        body: dict[str, Any] = {"status": dict(status)}
        if not fresh:
            body["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        try:
            await self.kube.patch(path, body)
        except Conflict:
            log.debug(
                "status of %s/%s changed meanwhile; re-reading", meta["namespace"], meta["name"]
            )
            return False
        return True

    async def _apply(
        self,
        effect: object,
        action: Mapping[str, Any],
        spec: Mapping[str, Any],
        template: Mapping[str, Any] | None,
    ) -> None:
        meta = action["metadata"]
        ns = meta["namespace"]
        if isinstance(effect, EnsureSecret):
            await self._ensure_secret(action, effect.attempt)
        elif isinstance(effect, CreateJob):
            if template is None:
                raise ManifestError("the action has no pod template")
            job = build_job(
                {**action, "spec": spec},
                template,
                attempt=effect.attempt,
                job_name=effect.job_name,
                secret_name=secret_name_for(meta["name"]),
                hook_url=hook_url_for(
                    self.settings.hook_url, meta["uid"], self.settings.hook_shards
                ),
                entrypoint=self.settings.entrypoint,
            )
            try:
                await self.kube.create(paths.job_path(ns), job)
            except AlreadyExists:
                log.info("job %s/%s exists already: adopted", ns, effect.job_name)
        elif isinstance(effect, DeleteJob):
            await self.kube.delete(paths.job_path(ns, effect.job_name))
        elif isinstance(effect, RemoveChildren):
            await self._remove_children(action)
        elif isinstance(effect, Emit):
            await self._emit(action, effect)
        else:  # pragma: no cover - a new effect type without its executor
            raise TypeError(f"unknown effect {effect!r}")

    async def _ensure_secret(self, action: Mapping[str, Any], attempt: int) -> None:
        """The Secret holds the key of ``attempt``: created, or its key replaced."""
        meta = action["metadata"]
        ns = meta["namespace"]
        key = self.master_keys.current().issue(ns, meta["uid"], attempt)
        wanted = build_secret(action, key)
        path = paths.secret_path(ns, wanted["metadata"]["name"])
        try:
            existing = await self.kube.get(path)
        except NotFound:
            existing = None
        if existing is None:
            try:
                await self.kube.create(paths.secret_path(ns), wanted)
                return
            except AlreadyExists:
                existing = await self.kube.get(path)
        if existing.get("data") != wanted["data"] or existing.get("immutable"):
            await self._replace_secret(path, ns, existing, wanted)

    async def _replace_secret(
        self, path: str, ns: str, existing: Mapping[str, Any], wanted: dict[str, Any]
    ) -> None:
        """Put ``wanted`` in place of ``existing``: patched, or re-created when immutable
        (a Secret written before keys were derived per attempt)."""
        if existing.get("immutable"):
            await self.kube.delete(path)
            with contextlib.suppress(AlreadyExists):
                await self.kube.create(paths.secret_path(ns), wanted)
            return
        version = existing.get("metadata", {}).get("resourceVersion")
        await self.kube.patch(
            path, {"metadata": {"resourceVersion": version}, "data": wanted["data"]}
        )

    async def _remove_children(self, action: Mapping[str, Any]) -> None:
        meta = action["metadata"]
        ns = meta["namespace"]
        if self.archive is not None:
            uri = await self.archive.put(
                archive_key(self.archive.prefix, action),
                archive_document(action),
                "application/json",
            )
            await self._emit(action, Emit("Normal", "Archived", f"record archived to {uri}"))
        jobs = await self.kube.list(
            paths.job_path(ns), label_selector=f"{LABEL_ACTION_UID}={meta['uid']}"
        )
        for job in jobs.get("items", []):
            await self.kube.delete(paths.job_path(ns, job["metadata"]["name"]))
        await self.kube.delete(paths.secret_path(ns, secret_name_for(meta["name"])))

    async def _emit(self, action: Mapping[str, Any], effect: Emit) -> None:
        event = build_event(
            action, type=effect.type, reason=effect.reason, message=effect.message, now=utcnow()
        )
        try:
            await self.kube.create(paths.event_path(action["metadata"]["namespace"]), event)
        except ApiError as exc:  # events are best effort: never block the lifecycle on them
            log.warning("could not post event %s: %s", effect.reason, exc)


def decision_summary(decision: Decision) -> str:
    """A log line for a decision, never including secret material."""
    phase = decision.status.get("phase")
    kinds = ",".join(type(e).__name__ for e in decision.effects)
    return f"phase={phase or '-'} effects=[{kinds}] requeue={decision.requeue_after}"
