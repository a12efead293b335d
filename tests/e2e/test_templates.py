"""An ActionTemplate supplies the pod template and defaults; an unknown one is NoHandler."""

from __future__ import annotations

import pytest

from tests.support.kube import Kube

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.mark.usefixtures("operator")
def test_template_ref_and_defaults(kube: Kube, namespace: str) -> None:
    kube.create_object(
        namespace,
        "actiontemplates",
        "ActionTemplate",
        "flaky",
        {
            "backoffLimit": 1,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "main", "image": "x", "command": ["sh", "-c", "exit 4"]}
                    ]
                }
            },
        },
    )
    kube.create_action(
        namespace, {"metadata": {"name": "from-template"}, "spec": {"templateRef": "flaky"}}
    )
    failed = kube.wait_phase(namespace, "from-template", {"FAILED", "SUCCEEDED"}, timeout=60)
    assert failed["status"]["phase"] == "FAILED"
    assert failed["status"]["attempts"] == 2  # backoffLimit 1 came from the template
    assert "exit code 4" in failed["status"]["error"]["message"]


@pytest.mark.usefixtures("operator")
def test_unknown_template_is_no_handler(kube: Kube, namespace: str) -> None:
    kube.create_action(
        namespace, {"metadata": {"name": "orphan"}, "spec": {"templateRef": "does-not-exist"}}
    )
    # at once, where `kubectl get` shows it: it waits, and for what
    waiting = kube.wait_phase(namespace, "orphan", {"QUEUED"}, timeout=15)
    assert waiting["status"]["message"].startswith(
        f"ActionTemplate {namespace}/does-not-exist does not exist"
    )
    ready = next(c for c in waiting["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "TemplateNotFound"
    # after TEMPLATE_GRACE_SECONDS (30 s): a template re-created meanwhile would have won
    failed = kube.wait_phase(namespace, "orphan", {"FAILED", "SUCCEEDED"}, timeout=120)
    assert failed["status"]["error"]["reason"] == "NoHandler"
    assert not kube.jobs_of(namespace, failed["metadata"]["uid"])


@pytest.mark.usefixtures("operator")
def test_unbuildable_pod_template_is_invalid_spec(kube: Kube, namespace: str) -> None:
    # typed arguments need the command to wrap; images are never inspected
    kube.create_action(
        namespace,
        {
            "metadata": {"name": "no-command"},
            "spec": {
                "arguments": [{"type": "parameter", "value": "1"}],
                "template": {"spec": {"containers": [{"name": "main", "image": "x"}]}},
            },
        },
    )
    failed = kube.wait_phase(namespace, "no-command", {"FAILED", "SUCCEEDED"}, timeout=30)
    assert failed["status"]["error"]["reason"] == "InvalidSpec"
    assert "command" in failed["status"]["error"]["message"]
    assert not kube.jobs_of(namespace, failed["metadata"]["uid"])
