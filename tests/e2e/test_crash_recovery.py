"""Killing the operator at any instant loses nothing and duplicates nothing.

The operator runs as a separate process here (not in-process) so that it can be killed
with SIGKILL in the middle of a burst, exactly as a node failure or OOM kill would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asyncaction.api.names import LABEL_ACTION_UID, LABEL_ATTEMPT
from tests.conftest import NO_HOOK, OPERATOR_ENV
from tests.support.kube import Kube, wait_for
from tests.support.procs import start_process, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"}


def start_operator(kubeconfig: Path, namespace: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **OPERATOR_ENV,
        "ASYNCACTION_KUBECONFIG": str(kubeconfig),
        "ASYNCACTION_HOOK_URL": NO_HOOK,
    }
    return start_process(
        [sys.executable, "-m", "asyncaction.main", "--namespace", namespace, "--liveness", ""],
        log,
        env=env,
    )


@pytest.mark.usefixtures("crds", "node_agent")
def test_kill_during_burst_then_restart(
    kube: Kube, namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    log = tmp_path / "operator.log"
    first = start_operator(admin_kubeconfig, namespace, log)
    try:
        for i in range(50):
            kube.create_action(
                namespace,
                {
                    "metadata": {"name": f"crash-{i:02d}"},
                    "spec": {
                        "backoffLimit": 1,
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "busybox",
                                        # every 10th fails once, so retries straddle the crash too
                                        "command": ["sh", "-c", "sleep 1; exit 0"]
                                        if i % 10
                                        else ["sh", "-c", "sleep 1; exit 7"],
                                    }
                                ]
                            }
                        },
                    },
                },
            )

        def some_started() -> bool:
            phases = Counter(a.get("status", {}).get("phase") for a in kube.list_actions(namespace))
            return phases["STARTING"] + phases["RUNNING"] + phases["SUCCEEDED"] >= 10

        wait_for(some_started, 90, "the burst to be under way")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    phases_at_kill = Counter(a.get("status", {}).get("phase") for a in kube.list_actions(namespace))
    assert sum(phases_at_kill[p] for p in TERMINAL) < 50, "killed too late to prove anything"
    time.sleep(2)  # jobs finish while no operator runs

    second = start_operator(admin_kubeconfig, namespace, log)
    try:

        def all_terminal() -> list[dict[str, Any]] | None:
            actions = kube.list_actions(namespace)
            return (
                actions
                if all(a.get("status", {}).get("phase") in TERMINAL for a in actions)
                else None
            )

        actions = wait_for(
            all_terminal,
            300,
            "every action to be terminal",
            interval=1,
            describe=lambda: Counter(
                a.get("status", {}).get("phase") for a in kube.list_actions(namespace)
            ),
        )
    finally:
        stop_process(second)

    assert len(actions) == 50
    jobs = kube.batch.list_namespaced_job(namespace).items
    per_action: dict[str, list[str]] = {}
    for job in jobs:
        per_action.setdefault(job.metadata.labels[LABEL_ACTION_UID], []).append(
            job.metadata.labels[LABEL_ATTEMPT]
        )
    for act in actions:
        uid = act["metadata"]["uid"]
        attempts = per_action.get(uid, [])
        assert len(attempts) == len(set(attempts)), f"duplicate job for an attempt of {uid}"
        assert len(attempts) == act["status"]["attempts"], (act["metadata"]["name"], act["status"])
    by_phase = Counter(a["status"]["phase"] for a in actions)
    assert by_phase == {"SUCCEEDED": 45, "FAILED": 5}, (by_phase, log.read_text()[-3000:])
