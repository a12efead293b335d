"""A task the controllers need that ends while they lead ends the process, naming why.

The informers set ``synced`` once their first LIST lands, then watch. A watch the API
server refused (RBAC granting ``list`` but not ``watch``, a CRD removed between the two)
ended that informer's task, which nobody awaited: the operator led on with a cache that
never changed again, ``/readyz`` and ``/healthz`` answered 200, and SIGTERM exited 0
(found by review). The manager now watches its tasks as it watches the Lease.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asyncaction.controllers.manager import Manager
from asyncaction.handlers import Runtime, _lead
from asyncaction.kube import ConnectionInfo, KubeClient
from asyncaction.probes import Lifeline
from asyncaction.settings import OperatorSettings
from tests.support.fakeapi import FakeApi


@pytest.mark.asyncio
async def test_a_watch_refused_after_the_list_stops_the_operator_naming_the_cache(
    master_keys_file: Path,
) -> None:
    api = FakeApi(watch_refused=("/pods",))
    kube = KubeClient(ConnectionInfo(server=await api.start()))
    settings = OperatorSettings(
        namespaces=("ns1",),
        master_keys_file=str(master_keys_file),
        lease_seconds=6,
        lease_renew_seconds=1.0,
        lease_renew_deadline_seconds=4.0,
        workers=2,
    )
    lifeline = Lifeline()
    runtime = Runtime(settings, lifeline, kube=kube, manager=Manager(kube, settings))
    leading = asyncio.create_task(_lead(runtime))
    try:
        await asyncio.wait_for(leading, 30)  # it returned: the process stops
    finally:
        leading.cancel()
        await kube.close()
        await api.stop()
    assert lifeline.failed
    assert "pods@ns1" in lifeline.reason
    assert "403" in lifeline.reason
