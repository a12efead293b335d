"""The real Job controller drives Pods that the node agent runs as local processes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.kube import Kube, wait_for

pytestmark = pytest.mark.cluster


def job(name: str, script: str, backoff_limit: int = 0, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "unused",
                            "command": ["sh", "-c", script],
                            **container,
                        }
                    ],
                }
            },
        },
    }


def job_condition(kube: Kube, namespace: str, name: str) -> str | None:
    status = kube.batch.read_namespaced_job_status(name, namespace).status
    for condition in status.conditions or []:
        if condition.status == "True":
            return str(condition.type)
    return None


def pods_of(kube: Kube, namespace: str, name: str) -> list[Any]:
    return list(kube.core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items)


def test_job_completes_and_output_is_kept(kube: Kube, namespace: str, node_agent: Path) -> None:
    kube.batch.create_namespaced_job(
        namespace,
        job(
            "hello",
            "echo hello from $(POD_NAME)",
            env=[{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        ),
    )
    wait_for(lambda: job_condition(kube, namespace, "hello") == "Complete", 60, "Complete")
    (pod,) = pods_of(kube, namespace, "hello")
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    log = node_agent / f"{namespace}_{pod.metadata.name}_main.log"
    assert log.read_text() == f"hello from {pod.metadata.name}\n"


def test_failing_command_is_retried_by_the_job_controller(
    kube: Kube, namespace: str, node_agent: Path
) -> None:
    kube.batch.create_namespaced_job(namespace, job("fails", "exit 3", backoff_limit=1))
    wait_for(lambda: job_condition(kube, namespace, "fails") == "Failed", 90, "Failed")
    pods = pods_of(kube, namespace, "fails")
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Failed"
        assert pod.status.container_statuses[0].state.terminated.exit_code == 3


def test_secret_and_configmap_references_reach_the_process(
    kube: Kube, namespace: str, node_agent: Path
) -> None:
    token = uuid.uuid4().hex
    kube.core.create_namespaced_secret(
        namespace, {"metadata": {"name": "s"}, "stringData": {"token": token}}
    )
    kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "c"}, "data": {"mode": "fast"}}
    )
    kube.batch.create_namespaced_job(
        namespace,
        job(
            "env",
            'test "$TOKEN" = "' + token + '" && test "$MODE" = fast && echo "$(MODE)-ok"',
            env=[
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "mode"}}},
            ],
        ),
    )
    wait_for(lambda: job_condition(kube, namespace, "env"), 60, "the job to finish")
    assert job_condition(kube, namespace, "env") == "Complete"
    (pod,) = pods_of(kube, namespace, "env")
    assert (node_agent / f"{namespace}_{pod.metadata.name}_main.log").read_text() == "fast-ok\n"


def test_deleting_a_pod_kills_its_process(kube: Kube, namespace: str, node_agent: Path) -> None:
    marker = node_agent / f"alive-{uuid.uuid4().hex}"
    kube.batch.create_namespaced_job(
        namespace,
        job("sleeper", f"trap 'rm -f {marker}; exit 143' TERM; touch {marker}; sleep 60 & wait"),
    )
    wait_for(marker.exists, 60, "the process to start")
    (pod,) = pods_of(kube, namespace, "sleeper")
    kube.batch.delete_namespaced_job("sleeper", namespace, propagation_policy="Foreground")
    wait_for(lambda: not marker.exists(), 20, "the process to be terminated")
    wait_for(
        lambda: not pods_of(kube, namespace, "sleeper"),
        30,
        "the pod object to go",
        describe=lambda: pod.metadata.name,
    )


def test_pods_run_in_their_own_scratch_directory(
    kube: Kube, namespace: str, node_agent: Path
) -> None:
    kube.batch.create_namespaced_job(namespace, job("scratch", "pwd; touch left-behind.txt"))
    wait_for(lambda: job_condition(kube, namespace, "scratch") == "Complete", 60, "Complete")
    (pod,) = pods_of(kube, namespace, "scratch")
    where = Path((node_agent / f"{namespace}_{pod.metadata.name}_main.log").read_text().strip())
    assert where != Path.cwd()
    assert namespace in where.name
    wait_for(lambda: not where.exists(), 10, "the scratch directory to be removed")
    assert not (Path.cwd() / "left-behind.txt").exists()
