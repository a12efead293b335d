"""One operator serves 50 namespaces: every cache syncs and every write is served.

Each served namespace holds six watches for minutes. In one pool of 50 connections,
from 9 namespaces on, writes and lists waited until they failed and caches never
synced (12 of 50 namespaces got no Job at all). Watches now have a pool of their own.
The namespaces are given as the chart and users give them: ``-n`` repeated, some as
comma-separated pairs.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.conftest import NO_HOOK, OPERATOR_ENV
from tests.support.kube import Kube, action_manifest, wait_for
from tests.support.procs import start_process, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
COUNT = 50


@pytest.mark.usefixtures("crds")
def test_one_operator_serves_fifty_namespaces(
    kube: Kube, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    prefix = f"m{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:02d}" for i in range(COUNT)]
    for name in names:
        kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    flags: list[str] = []
    for i in range(0, COUNT, 2):  # "-n a,b" for half of them, "-n c -n d" for the others
        pair = names[i : i + 2]
        flags += ["-n", ",".join(pair)] if i % 4 == 0 else ["-n", pair[0], "-n", pair[1]]
    env = {
        **OPERATOR_ENV,
        "ASYNCACTION_KUBECONFIG": str(admin_kubeconfig),
        "ASYNCACTION_HOOK_URL": NO_HOOK,
    }
    log = tmp_path / "operator.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = start_process(
            [sys.executable, "-m", "asyncaction.main", *flags, "--liveness", ""], log, env=env
        )
        wait_for(lambda: "caches synced" in log.read_text(), 120, "every cache to sync")
        served = [names[0], *names[-6:]]  # the last ones were the starved ones
        for ns in served:
            kube.create_action(ns, action_manifest("a", ["sh", "-c", "true"]))

        def jobs_everywhere() -> bool:
            return all(kube.batch.list_namespaced_job(ns).items for ns in served)

        wait_for(jobs_everywhere, 120, "a Job in every namespace served", interval=1)
        assert proc.poll() is None, log.read_text()[-3000:]
        assert "503" not in log.read_text()  # no request waited for a connection
    finally:
        if proc is not None:
            stop_process(proc)
        for name in names:
            kube.core.delete_namespace(name)
