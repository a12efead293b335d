"""A queue's limit holds with two operator processes at once and across a restart.

Both processes start together and compete for the Lease; only the leader admits. The
leader is then killed (SIGKILL, no chance to release the Lease) while actions wait, the
other takes over once the Lease expires and, its caches synced first, finds the
running ones holding their slots.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NO_HOOK, OPERATOR_ENV
from tests.support.kube import Kube, action_manifest, wait_for
from tests.support.procs import start_process, stop_process
from tests.support.sampling import MostActive, phases

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
LIMIT = 2


def start_operator(kubeconfig: Path, namespace: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **OPERATOR_ENV,
        "ASYNCACTION_KUBECONFIG": str(kubeconfig),
        "ASYNCACTION_HOOK_URL": NO_HOOK,
        "ASYNCACTION_LEASE_SECONDS": "4",
        "ASYNCACTION_LEASE_RENEW_SECONDS": "1",
    }
    return start_process(
        [sys.executable, "-m", "asyncaction.main", "--namespace", namespace, "--liveness", ""],
        log,
        env=env,
    )


@pytest.mark.usefixtures("crds", "node_agent")
def test_limit_holds_with_two_operators_and_across_a_kill(
    kube: Kube, namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    kube.create_object(namespace, "actionqueues", "ActionQueue", "pair", {"maxConcurrent": LIMIT})
    for i in range(10):
        kube.create_action(
            namespace, action_manifest(f"q-{i}", ["sh", "-c", "sleep 2"], queue="pair")
        )
    sampled = MostActive(kube, namespace)
    sampled.start()
    first = start_operator(admin_kubeconfig, namespace, tmp_path / "first.log")
    second = start_operator(admin_kubeconfig, namespace, tmp_path / "second.log")
    try:

        def some_done() -> bool:
            return phases(kube, namespace)["SUCCEEDED"] >= 2

        wait_for(some_done, 120, "the first actions to finish")
        leading = ["leading as" in (tmp_path / n).read_text() for n in ("first.log", "second.log")]
        assert sum(leading) == 1, "exactly one of the two operators leads"
        leader = first if leading[0] else second
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait(10)

        def all_done() -> bool:
            return phases(kube, namespace)["SUCCEEDED"] == 10

        wait_for(all_done, 180, "every action to succeed under the survivor", interval=0.5)
    finally:
        sampled.stop()
        for proc in (first, second):
            if proc.poll() is None:
                stop_process(proc)
    logs = [(tmp_path / name).read_text() for name in ("first.log", "second.log")]
    assert sum("leading as" in log for log in logs) == 2, "the survivor took over the Lease"
    assert sampled.most <= LIMIT, sampled.most
    assert sampled.most == LIMIT  # the queue was used to its limit, not serialized
