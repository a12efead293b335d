"""kopf runs the process; the controllers in ``asyncaction.controllers`` do the work.

kopf gives the operator its start-up and clean-up, signal handling and login. It
registers no resource handler here: kopf's on.create/on.update/daemons would add a
finalizer and annotations to every action and kopf cannot filter Jobs, Pods or Secrets
on the server, so the watches are the runtime's own informers (label selectors,
paginated lists) and the action writes nothing but its status. The manager waits for
the Lease, syncs its caches and then runs the work queues (see ``controllers.manager``).

Start-up is loud: settings, files and CRDs are checked before the manager starts (a
failure ends ``kopf.run`` with the message naming what to fix), and anything that ends
the manager afterwards (the Lease lost, a cache the API server refuses) stops the
process with a non-zero exit through the ``Lifeline`` (``asyncaction.main`` passes it
in the memo with kopf's stop flag). A replica never restarts its controllers in-process:
it exits and comes back as a standby, with nothing left of its old view.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from asyncaction.controllers.manager import Manager
from asyncaction.kube import KubeClient, load_connection
from asyncaction.leankopf import kopf  # kopf, without the client libraries (memory)
from asyncaction.preflight import StartupError, check_crds, check_files
from asyncaction.probes import Lifeline, Probes, Readiness
from asyncaction.runtime.listen import ListenError
from asyncaction.runtime.metrics import process_metrics
from asyncaction.runtime.metrics_server import serve_metrics
from asyncaction.settings import OperatorSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the start-up handler built, kept in kopf's memo for the other handlers."""

    settings: OperatorSettings
    lifeline: Lifeline
    kube: KubeClient | None = None
    manager: Manager | None = None
    probes: Probes | None = None
    metrics_server: web.AppRunner | None = None  # Prometheus metrics (runtime.metrics)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def readiness(self) -> Readiness:
        manager = self.manager
        if manager is None:
            return Readiness("starting", False)
        if manager.synced.is_set() and manager.leading:
            return Readiness("leader", True)
        if manager.leading:
            return Readiness("syncing", False)
        if manager.settings.warm_standby and not manager.caches_synced.is_set():
            # ready once it could take over at once: a rollout then waits for its caches
            return Readiness("syncing", False)
        return Readiness("standby", True)

    def figures(self) -> dict[str, float]:
        return self.manager.figures() if self.manager is not None else {}


async def _lead(runtime: Runtime) -> None:
    """Run the manager once; whatever ends it ends the process (non-zero)."""
    assert runtime.manager is not None
    try:
        await runtime.manager.run()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("the controllers stopped")
        runtime.lifeline.fail(f"the controllers stopped: {exc}")
        return
    reason = runtime.manager.leader.lost_reason or "the manager ended"
    runtime.lifeline.fail(f"leadership lost ({reason}); a restart rejoins as a standby")


@kopf.on.startup(errors=kopf.ErrorsMode.PERMANENT)
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.WARNING
    # kopf serves no resource here (the controllers do), so its scans of CRDs and
    # namespaces would only need cluster-wide reads the least-privilege roles do not
    # grant, and log a 403 nine times on every start.
    settings.scanning.disabled = True
    op: OperatorSettings = memo.get("settings") or OperatorSettings.from_env()
    runtime = Runtime(op, memo.get("lifeline") or Lifeline())
    memo["runtime"] = runtime
    probes_url: str | None = memo.get("probes")
    try:
        if probes_url:
            runtime.probes = Probes(runtime.lifeline, runtime.readiness, runtime.figures)
            await runtime.probes.start(probes_url)
        check_files(op)
        runtime.kube = await KubeClient.from_kubeconfig(os.environ.get("ASYNCACTION_KUBECONFIG"))
        await check_crds(runtime.kube)
        runtime.manager = Manager(runtime.kube, op)
        runtime.metrics_server = await serve_metrics(
            process_metrics().registry,
            op.metrics_bind_address,
            op.metrics_path,
            setting="ASYNCACTION_METRICS_BIND_ADDRESS",
        )
    except Exception as exc:
        named = isinstance(exc, (StartupError, ListenError))  # their words name the setting
        message = str(exc) if named else f"cannot start: {exc!r}"
        runtime.lifeline.fail(message)  # also releases kopf's wait on the stop flag
        await _shutdown(runtime)
        raise kopf.PermanentError(message) from exc
    runtime.tasks.append(asyncio.create_task(_lead(runtime), name="asyncaction"))
    memo["manager"] = runtime.manager


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
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        await _shutdown(runtime)


async def _shutdown(runtime: Runtime) -> None:
    for task in runtime.tasks:
        task.cancel()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    if runtime.kube is not None:
        await runtime.kube.close()
    if runtime.probes is not None:
        await runtime.probes.stop()
    if runtime.metrics_server is not None:
        await runtime.metrics_server.cleanup()


@kopf.on.probe(id="synced")
async def caches_synced(memo: kopf.Memo, **_: Any) -> bool:
    """For ``kopf run --liveness``; ``asyncaction-operator`` serves ``/readyz`` itself."""
    runtime: Runtime | None = memo.get("runtime")
    return runtime is not None and runtime.readiness().ready


@kopf.on.probe(id="metrics")
async def metrics(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    """Reconciles, API writes by resource, cache and work queue sizes (see runtime.metrics)."""
    runtime: Runtime | None = memo.get("runtime")
    return runtime.figures() if runtime is not None else {}
