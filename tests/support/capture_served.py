"""Capture AsyncActions, Jobs and Pods exactly as the test bed's API server serves them.

Not collected by the test run (no ``test_`` file name); run it on purpose, under the
cluster lock, to refresh tests/unit/lifecycle/served/testbed/:

    flock /tmp/asyncaction-cluster.lock .venv/bin/python -m pytest \\
        tests/support/capture_served.py -q -p no:cacheprovider

Each object is the API server's own JSON (``_preload_content=False``): the AsyncAction
and the Job as kube-apiserver and the Job controller (1.20) write them, the Pod with the
status the node (the node agent here) reported. managedFields are dropped (noise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asyncaction.api.names import GROUP, LABEL_ACTION_UID, VERSION
from tests.support.kube import Kube, action_manifest, wait_for

OUT = Path(__file__).parents[1] / "unit" / "lifecycle" / "served" / "testbed"


def raw(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    data.get("metadata", {}).pop("managedFields", None)
    for item in data.get("items", []):
        item.get("metadata", {}).pop("managedFields", None)
    return data


def save(name: str, obj: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def snapshot(kube: Kube, namespace: str, action: str, prefix: str) -> dict[str, Any]:
    """Save the action, its newest Job and that Job's Pods as served now."""
    obj = raw(
        kube.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "asyncactions", action, _preload_content=False
        )
    )
    save(f"{prefix}-action", obj)
    uid = obj["metadata"]["uid"]
    jobs = raw(
        kube.batch.list_namespaced_job(
            namespace, label_selector=f"{LABEL_ACTION_UID}={uid}", _preload_content=False
        )
    )["items"]
    if jobs:
        job = max(jobs, key=lambda j: j["metadata"]["creationTimestamp"] + j["metadata"]["name"])
        job.setdefault("apiVersion", "batch/v1")
        job.setdefault("kind", "Job")
        save(f"{prefix}-job", job)
        pods = raw(
            kube.core.list_namespaced_pod(
                namespace,
                label_selector=f"job-name={job['metadata']['name']}",
                _preload_content=False,
            )
        )["items"]
        for n, pod in enumerate(pods):
            pod.setdefault("apiVersion", "v1")
            pod.setdefault("kind", "Pod")
            save(f"{prefix}-pod{n}", pod)
    return obj


def job_of(kube: Kube, namespace: str, uid: str, predicate: Any) -> bool:
    jobs = kube.batch.list_namespaced_job(namespace, label_selector=f"{LABEL_ACTION_UID}={uid}")
    return any(predicate(j) for j in jobs.items)


@pytest.mark.usefixtures("operator")
def test_capture(kube: Kube, namespace: str) -> None:
    kube.create_action(namespace, action_manifest("ok", ["sh", "-c", "echo hello"]))
    kube.create_action(namespace, action_manifest("bad", ["sh", "-c", "exit 3"], backoffLimit=0))
    running = kube.create_action(namespace, action_manifest("long", ["sleep", "120"]))
    kube.wait_phase(namespace, "ok", "SUCCEEDED")
    snapshot(kube, namespace, "ok", "succeeded")
    kube.wait_phase(namespace, "bad", "FAILED")
    snapshot(kube, namespace, "bad", "failed")
    kube.wait_phase(namespace, "long", "RUNNING")
    uid = running["metadata"]["uid"]
    wait_for(
        lambda: job_of(kube, namespace, uid, lambda j: (j.status.active or 0) > 0),
        30,
        "the long job to be active",
    )
    snapshot(kube, namespace, "long", "running")
    kube.patch_action(namespace, "long", {"spec": {"abort": True}})
    kube.wait_phase(namespace, "long", "ABORTED")
    snapshot(kube, namespace, "long", "aborted")
