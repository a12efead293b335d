"""The kopf handlers: thin glue from watch events to the reconcile loop.

Each AsyncAction gets one daemon that runs reconcile passes until the action is final
(terminal, with its TTL cleanup done) or deleted. Events on the action, its Job, its
Pods and its queue only wake that loop; the decisions live in
``asyncaction.lifecycle`` (pure) and their execution in ``asyncaction.reconciler``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from asyncaction.api.names import (
    ACTION_PLURAL,
    GROUP,
    LABEL_ACTION_UID,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    QUEUE_PLURAL,
    VERSION,
)
from asyncaction.api.phases import ACTIVE_PHASES
from asyncaction.kube import ApiError, KubeClient, load_connection, paths
from asyncaction.runtime import Runtime
from asyncaction.settings import OperatorSettings

log = logging.getLogger(__name__)
OWNED = {LABEL_MANAGED_BY: MANAGED_BY}


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo["runtime"]
    return runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    op = OperatorSettings.from_env()
    settings.persistence.finalizer = op.finalizer
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=op.storage_prefix
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=op.storage_prefix, key="last-handled-configuration"
    )
    settings.watching.server_timeout = op.watch_server_timeout
    settings.watching.client_timeout = op.watch_client_timeout
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.WARNING
    kube = await KubeClient.from_kubeconfig(os.environ.get("ASYNCACTION_KUBECONFIG"))
    memo["runtime"] = Runtime.create(op, kube)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    info = load_connection(os.environ.get("ASYNCACTION_KUBECONFIG"))
    return kopf.ConnectionInfo(
        server=info.server,
        ca_path=info.ca_file,
        insecure=info.insecure,
        token=info.bearer_token(),
        certificate_path=info.cert_file,
        private_key_path=info.key_file,
        default_namespace=info.default_namespace,
    )


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await _runtime(memo).kube.close()


@kopf.on.probe(id="api")
async def api_reachable(memo: kopf.Memo, **_: Any) -> bool:
    await _runtime(memo).kube.get("/version")
    return True


def _wake_queue_waiters(runtime: Runtime, body: kopf.Body) -> None:
    summary = runtime.admissions.observe_action(body)
    if summary.phase is not None and summary.phase not in ACTIVE_PHASES:
        for uid in runtime.admissions.waiting_in(summary.key):
            runtime.wakeups.wake(uid)


@kopf.on.event(GROUP, VERSION, ACTION_PLURAL)
async def action_changed(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    uid = body["metadata"]["uid"]
    if type == "DELETED":
        summary = runtime.admissions.observe_action(body, deleted=True)
        runtime.wakeups.forget(uid)
        for waiting in runtime.admissions.waiting_in(summary.key):
            runtime.wakeups.wake(waiting)
        return
    _wake_queue_waiters(runtime, body)
    runtime.wakeups.wake(uid)


@kopf.on.event(GROUP, VERSION, QUEUE_PLURAL)
async def queue_changed(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    runtime.admissions.observe_queue(body, deleted=type == "DELETED")
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    for uid in runtime.admissions.waiting_in(key):
        runtime.wakeups.wake(uid)


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def job_changed(labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
    if uid := labels.get(LABEL_ACTION_UID):
        _runtime(memo).wakeups.wake(uid)


@kopf.on.event("", "v1", "pods", labels=OWNED)
async def pod_changed(labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
    if uid := labels.get(LABEL_ACTION_UID):
        _runtime(memo).wakeups.wake(uid)


@kopf.daemon(GROUP, VERSION, ACTION_PLURAL, cancellation_timeout=10.0)
async def run_action(
    name: str,
    namespace: str | None,
    uid: str,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    assert namespace is not None  # AsyncAction is namespaced
    runtime = _runtime(memo)
    failures = 0
    while not stopped:
        try:
            result = await runtime.reconciler.run_pass(namespace, name)
            failures = 0
        except ApiError as exc:
            # Transient errors were already retried by the client; keep the loop alive and
            # try again later rather than dropping the action.
            failures += 1
            delay = min(runtime.settings.poll_seconds, 0.5 * 2**failures)
            log.warning(
                "reconcile of %s/%s failed (%s); again in %.1fs", namespace, name, exc, delay
            )
            await asyncio.sleep(delay)
            continue
        if result.gone or result.finished:
            return
        if result.retry_now:
            continue
        timeout = runtime.settings.poll_seconds
        if result.requeue_after is not None:
            timeout = min(timeout, result.requeue_after)
        await runtime.wakeups.sleep(uid, timeout)


@kopf.timer(GROUP, VERSION, QUEUE_PLURAL, interval=5.0, idle=0, initial_delay=1.0)
async def publish_queue_status(
    name: str, namespace: str | None, status: kopf.Status, memo: kopf.Memo, **_: Any
) -> None:
    """Keep ``status.phaseCounts`` and ``status.active`` of an ActionQueue current."""
    assert namespace is not None
    runtime = _runtime(memo)
    key = (namespace, name)
    counts = runtime.admissions.phase_counts(key)
    active = runtime.admissions.active_count(key)
    if status.get("phaseCounts") == counts and status.get("active") == active:
        return
    # Merge patch: phases no longer present must be removed explicitly.
    removed = {phase: None for phase in status.get("phaseCounts") or {} if phase not in counts}
    await runtime.kube.patch(
        paths.queue_path(namespace, name, status=True),
        {"status": {"phaseCounts": {**removed, **counts}, "active": active}},
    )
