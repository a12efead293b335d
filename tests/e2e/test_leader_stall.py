"""One leader, always: a leader whose API traffic stalls exits before anyone takes over.

Two operator processes serve one namespace; the leader (A) reaches the API server through
a proxy on loopback. With an action of a ``maxConcurrent: 1`` queue running, the proxy
stalls every byte of A's traffic, as a partition would: no error, no answer. A must
notice at its renew deadline, stop its controllers and exit non-zero; B takes the Lease
once it has seen it unchanged for a whole lease duration, and finishes the queue. A
sampler reads the actions through the API throughout: never two active at once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import NO_HOOK, OPERATOR_ENV
from tests.support.kube import Kube, action_manifest, wait_for
from tests.support.procs import start_process, stop_process
from tests.support.proxy import StallingProxy
from tests.support.sampling import MostActive, active, phases

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
LEASE = {
    "ASYNCACTION_LEASE_SECONDS": "6",
    "ASYNCACTION_LEASE_RENEW_SECONDS": "0.5",
    "ASYNCACTION_LEASE_RENEW_DEADLINE_SECONDS": "3",
}
ACTIONS = 5


def start_operator(kubeconfig: Path, namespace: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **OPERATOR_ENV,
        **LEASE,
        "ASYNCACTION_KUBECONFIG": str(kubeconfig),
        "ASYNCACTION_HOOK_URL": NO_HOOK,
    }
    argv = [sys.executable, "-m", "asyncaction.main", "-n", namespace, "--liveness", ""]
    return start_process(argv, log, env=env)


@pytest.mark.usefixtures("crds", "node_agent")
def test_a_stalled_leader_exits_before_the_standby_takes_over(
    kube: Kube, namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    server = yaml.safe_load(admin_kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    target = urlsplit(server)
    assert target.hostname is not None
    assert target.port is not None
    kube.create_object(namespace, "actionqueues", "ActionQueue", "one", {"maxConcurrent": 1})
    for i in range(ACTIONS):
        kube.create_action(
            namespace, action_manifest(f"s-{i}", ["sh", "-c", "sleep 3"], queue="one")
        )
    sampled = MostActive(kube, namespace)
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    with StallingProxy(target.hostname, target.port) as proxy:
        via_proxy = proxy.kubeconfig(admin_kubeconfig, tmp_path / "a.kubeconfig")
        a = start_operator(via_proxy, namespace, logs["a"])
        b: subprocess.Popen[bytes] | None = None
        try:
            wait_for(lambda: "leading as" in logs["a"].read_text(), 60, "A to lead")
            b = start_operator(admin_kubeconfig, namespace, logs["b"])
            sampled.start()
            wait_for(lambda: active(kube, namespace) == 1, 60, "A to start an action")
            stalled_at = time.monotonic()
            proxy.stall()
            code = a.wait(60)
            exited_at, exited_wall = time.monotonic(), time.time()
            wait_for(lambda: "leading as" in logs["b"].read_text(), 60, "B to lead")

            def all_done() -> bool:
                return phases(kube, namespace)["SUCCEEDED"] == ACTIONS

            wait_for(all_done, 180, "every action to succeed under B", interval=0.5)
        finally:
            sampled.stop()
            for proc in (a, b):
                if proc is not None and proc.poll() is None:
                    stop_process(proc)
    a_log = logs["a"].read_text()
    led_wall = logged_at(logs["b"].read_text(), "leading as")
    print(
        f"\nA exited {exited_at - stalled_at:.2f}s after the stall (code {code});"
        f" B led {led_wall - exited_wall:.2f}s after A exited (renew deadline"
        f" {LEASE['ASYNCACTION_LEASE_RENEW_DEADLINE_SECONDS']}s, lease"
        f" {LEASE['ASYNCACTION_LEASE_SECONDS']}s); most active at once: {sampled.most}"
    )
    assert code != 0, a_log[-3000:]
    assert "leadership lost" in a_log, a_log[-3000:]
    assert exited_wall < led_wall  # A was gone before B led (B waits a whole lease)
    assert sampled.most == 1, sampled.most  # never two, and the queue did run


def logged_at(log: str, text: str) -> float:
    """The wall time of the first line containing ``text`` (kopf's "full" log format)."""
    line = next(line for line in log.splitlines() if text in line)
    stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()
