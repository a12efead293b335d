"""The real `kubectl` (the binary users run) reaches each resource by every name users type.

Issue 9: all three CRDs declared the category ``asyncaction``, AsyncAction's singular
name, so `kubectl get asyncaction NAME` expanded to three resources and failed with
"you must specify only one resource". These tests type what users type.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asyncaction.api.names import ACTION_PLURAL, QUEUE_PLURAL, TEMPLATE_PLURAL
from tests.conftest import kubectl
from tests.support.kube import Kube, action_manifest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
KUBECTL = shutil.which("kubectl")
if KUBECTL is None:  # pragma: no cover - the README lists kubectl as a prerequisite
    pytest.skip("kubectl is not installed", allow_module_level=True)

TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "x", "command": ["true"]}]}}


@pytest.fixture
def objects(kube: Kube, namespace: str, crds: object) -> str:
    """One object of each kind, named ``hello``; the action's status as the operator writes it."""
    kube.create_action(namespace, action_manifest("hello", ["true"]))
    kube.custom.patch_namespaced_custom_object_status(
        "asyncaction.dev",
        "v1alpha1",
        namespace,
        ACTION_PLURAL,
        "hello",
        {
            "status": {
                "phase": "RUNNING",
                "progress": 42,
                "queue": "default",
                "attempts": 2,
                "jobName": "hello-abcde-2",
                "startedAt": "2026-11-23T12:00:00Z",
            }
        },
    )
    kube.create_object(namespace, QUEUE_PLURAL, "ActionQueue", "hello", {"maxConcurrent": 2})
    kube.create_object(
        namespace, TEMPLATE_PLURAL, "ActionTemplate", "hello", {"template": TEMPLATE}
    )
    return namespace


@pytest.mark.parametrize(
    "resource",
    ["asyncaction", "asyncactions", "aa", "asyncaction.asyncaction.dev", "AsyncAction"],
)
def test_an_action_by_every_name(admin_kubeconfig: Path, objects: str, resource: str) -> None:
    got = kubectl(admin_kubeconfig, "-n", objects, "get", resource, "hello", check=False)
    assert got.returncode == 0, got.stderr
    header, row = got.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "PROGRESS", "QUEUE", "ATTEMPTS", "AGE", "REASON"]
    assert row.split()[:5] == ["hello", "RUNNING", "42", "default", "2"]


@pytest.mark.parametrize(
    ("resource", "columns"),
    [
        ("actionqueue", ["NAME", "MAX", "ACTIVE", "SUSPENDED"]),
        ("actionqueues", ["NAME", "MAX", "ACTIVE", "SUSPENDED"]),
        ("actiontemplate", ["NAME", "AGE"]),
        ("actiontemplates", ["NAME", "AGE"]),
    ],
)
def test_queues_and_templates_by_name(
    admin_kubeconfig: Path, objects: str, resource: str, columns: list[str]
) -> None:
    got = kubectl(admin_kubeconfig, "-n", objects, "get", resource, "hello", check=False)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines()[0].split() == columns
    assert got.stdout.splitlines()[1].split()[0] == "hello"


def test_the_category_lists_every_kind(admin_kubeconfig: Path, objects: str) -> None:
    got = kubectl(admin_kubeconfig, "-n", objects, "get", "asyncaction-all", "-o", "name")
    assert sorted(got.stdout.split()) == [
        "actionqueue.asyncaction.dev/hello",
        "actiontemplate.asyncaction.dev/hello",
        "asyncaction.asyncaction.dev/hello",
    ]


def test_wide_output_adds_job_and_times(admin_kubeconfig: Path, objects: str) -> None:
    got = kubectl(admin_kubeconfig, "-n", objects, "get", "aa", "hello", "-o", "wide")
    header, row = got.stdout.splitlines()
    assert header.split()[-3:] == ["JOB", "STARTED", "FINISHED"]
    assert "hello-abcde-2" in row.split()


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("asyncaction.spec.arguments", "passed to the command in order"),
        ("asyncaction.spec.queue", "name of an ActionQueue"),
        ("asyncaction.status.queue", "once admitted, the queue its attempt counts against"),
        ("aa.status.error.reason", "CamelCase cause"),
        ("actionqueue.spec.maxConcurrent", "actions in STARTING or RUNNING at once"),
        ("actiontemplate", "A pod template and defaults"),
    ],
)
def test_explain_describes_fields(admin_kubeconfig: Path, field: str, expected: str) -> None:
    got = kubectl(admin_kubeconfig, "explain", field, check=False)
    assert got.returncode == 0, got.stderr
    assert expected in " ".join(got.stdout.split())


@pytest.mark.usefixtures("operator")
def test_the_effective_queue_shows_when_left_to_the_default(
    admin_kubeconfig: Path, kube: Kube, namespace: str
) -> None:
    kube.create_action(namespace, action_manifest("plain", ["true"]))
    kube.wait_phase(namespace, "plain", "SUCCEEDED")
    got = kubectl(admin_kubeconfig, "-n", namespace, "get", "asyncaction", "plain")
    row = got.stdout.splitlines()[1].split()
    assert row[:5] == ["plain", "SUCCEEDED", "100", "default", "1"]
