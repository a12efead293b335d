"""A warm standby (``ASYNCACTION_WARM_STANDBY``) keeps its caches while it waits, writes
and counts nothing, and takes over without a sync.

Two operator processes serve one namespace with a ``maxConcurrent: 1`` queue of actions.
The standby starts once the first leads: it is ready only once its caches hold every
action, makes no write and counts no transition while the leader runs them, and after
the leader is killed (SIGKILL: the Lease must expire) finishes the queue with the caches
it kept: its log shows one sync, before it led. A sampler reads the actions through the
API throughout: never two active at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import NO_HOOK, OPERATOR_ENV
from tests.support.kube import Kube, action_manifest, wait_for
from tests.support.procs import free_port, start_process, stop_process, wait_http
from tests.support.sampling import MostActive, phases

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
ACTIONS = 4


class Operator:
    def __init__(self, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.log = log
        self.probes = f"http://127.0.0.1:{free_port()}"
        self.metrics = f"http://127.0.0.1:{free_port()}"
        env = {
            **OPERATOR_ENV,
            "ASYNCACTION_KUBECONFIG": str(kubeconfig),
            "ASYNCACTION_HOOK_URL": NO_HOOK,
            "ASYNCACTION_LEASE_SECONDS": "4",
            "ASYNCACTION_LEASE_RENEW_SECONDS": "1",
            "ASYNCACTION_WARM_STANDBY": "true",
            "ASYNCACTION_METRICS_BIND_ADDRESS": self.metrics.removeprefix("http://"),
        }
        argv = [sys.executable, "-m", "asyncaction.main", "-n", namespace]
        self.proc: subprocess.Popen[bytes] = start_process(
            [*argv, "--liveness", f"{self.probes}/healthz"], log, env=env
        )
        wait_http(f"{self.probes}/healthz", 60, self.proc, log)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        answer = requests.get(f"{self.probes}/readyz", timeout=5)
        return answer.status_code, answer.json()

    def figures(self) -> dict[str, float]:
        figures: dict[str, float] = requests.get(f"{self.probes}/metrics", timeout=5).json()
        return figures

    def samples(self, name: str) -> dict[str, float]:
        """The Prometheus samples called ``name`` as {'a="x",b="y"': value} (prometheus_client's
        parser; an unlabelled sample's key is "")."""
        text = requests.get(f"{self.metrics}/metrics", timeout=5).text
        return {
            ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        }


@pytest.mark.usefixtures("crds", "node_agent")
def test_a_warm_standby_takes_over_with_the_caches_it_kept(
    kube: Kube, namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    kube.create_object(namespace, "actionqueues", "ActionQueue", "one", {"maxConcurrent": 1})
    for i in range(ACTIONS):
        kube.create_action(
            namespace, action_manifest(f"w-{i}", ["sh", "-c", "sleep 2"], queue="one")
        )
    sampled = MostActive(kube, namespace)
    sampled.start()
    leader = Operator(admin_kubeconfig, namespace, tmp_path / "leader.log")
    standby: Operator | None = None
    try:
        wait_for(lambda: leader.readiness() == (200, {"ready": True, "role": "leader"}), 60,
                 "the first operator to lead")  # fmt: skip
        standby = Operator(admin_kubeconfig, namespace, tmp_path / "standby.log")
        wait_for(lambda: standby is not None and standby.readiness()[0] == 200, 60,
                 "the standby to be ready")  # fmt: skip
        assert standby.readiness() == (200, {"ready": True, "role": "standby"})
        # ready means synced: it holds every action already
        assert standby.figures()["asyncaction_cached_actions"] == ACTIONS
        assert standby.figures()["asyncaction_leader"] == 0
        assert standby.samples("asyncaction_caches_synced") == {"": 1.0}

        wait_for(lambda: phases(kube, namespace)["SUCCEEDED"] >= 2, 120,
                 "the leader to finish two actions")  # fmt: skip
        # It saw those transitions (its cache follows) but wrote and counted nothing.
        assert standby.samples("asyncaction_api_writes_total") == {}
        assert standby.samples("asyncaction_phase_transitions_total") == {}
        assert standby.samples("asyncaction_actions") == {}  # the leader reports them
        assert leader.samples("asyncaction_phase_transitions_total")
        assert leader.samples("asyncaction_actions")

        os.killpg(leader.proc.pid, signal.SIGKILL)  # no release: the Lease must expire
        leader.proc.wait(10)
        wait_for(lambda: phases(kube, namespace)["SUCCEEDED"] == ACTIONS, 180,
                 "the standby to finish the queue", interval=0.5)  # fmt: skip
        assert standby.readiness() == (200, {"ready": True, "role": "leader"})
        assert standby.samples("asyncaction_phase_transitions_total")  # counts once leading
        writes = standby.samples("asyncaction_api_writes_total")
        assert any('resource="asyncactions' in labels for labels in writes), writes
    finally:
        sampled.stop()
        for operator in (leader, standby):
            if operator is not None and operator.proc.poll() is None:
                stop_process(operator.proc)
    log = (tmp_path / "standby.log").read_text()
    synced = log.index("caches synced")
    assert log.count("caches synced") == 1, "no second sync on taking over"
    assert synced < log.index("leading as") < log.index("leading with warm caches")
    assert "waiting for the Lease" in log[synced : log.index("leading as")]
    assert sampled.most == 1, sampled.most
