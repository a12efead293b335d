"""kopf runs the process; the controllers in ``asyncaction.controllers`` do the work.

kopf gives the operator its start-up and clean-up, its liveness endpoint and its CLI.
It registers no resource handler here: kopf's on.create/on.update/daemons would add a
finalizer and annotations to every action and kopf cannot filter Jobs, Pods or Secrets
on the server, so the watches are the runtime's own informers (label selectors,
paginated lists) and the action writes nothing but its status. The manager waits for
the Lease, syncs its caches and then runs the work queues (see ``controllers.manager``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from asyncaction.controllers.manager import Manager
from asyncaction.kube import KubeClient, load_connection
from asyncaction.runtime.metrics import process_metrics
from asyncaction.runtime.metrics_server import serve_metrics
from asyncaction.settings import OperatorSettings

log = logging.getLogger(__name__)


async def _lead_forever(kube: KubeClient, settings: OperatorSettings, memo: kopf.Memo) -> None:
    """Run a manager; when it loses the Lease, start over with fresh caches."""
    while True:
        manager = Manager(kube, settings)
        memo["manager"] = manager
        await manager.run()
        log.warning("restarting the controllers after losing the lease")


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.WARNING
    # kopf serves no resource here (the controllers do), so its scans of CRDs and
    # namespaces would only need cluster-wide reads the least-privilege roles do not
    # grant, and log a 403 nine times on every start.
    settings.scanning.disabled = True
    op = OperatorSettings.from_env()
    kube = await KubeClient.from_kubeconfig(os.environ.get("ASYNCACTION_KUBECONFIG"))
    memo["kube"] = kube
    memo["metrics_server"] = await serve_metrics(
        process_metrics().registry,
        op.metrics_bind_address,
        op.metrics_path,
        setting="ASYNCACTION_METRICS_BIND_ADDRESS",
    )
    memo["task"] = asyncio.create_task(_lead_forever(kube, op, memo), name="asyncaction")


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
async def stop(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[None] = memo["task"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kube: KubeClient = memo["kube"]
    await kube.close()
    if memo.get("metrics_server") is not None:
        await memo["metrics_server"].cleanup()


@kopf.on.probe(id="api")
async def api_reachable(memo: kopf.Memo, **_: Any) -> bool:
    kube: KubeClient = memo["kube"]
    await kube.get("/version")
    return True


@kopf.on.probe(id="synced")
async def caches_synced(memo: kopf.Memo, **_: Any) -> bool:
    manager: Manager | None = memo.get("manager")
    return manager is not None and manager.synced.is_set()


@kopf.on.probe(id="metrics")
async def metrics(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    """Reconciles, API writes by resource, cache and work queue sizes (see runtime.metrics)."""
    manager: Manager | None = memo.get("manager")
    return manager.figures() if manager is not None else {}
