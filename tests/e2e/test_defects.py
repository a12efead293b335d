"""The correctness defects of issue 7 that need the API server, each shown end to end."""

from __future__ import annotations

import base64
import sys
from typing import Any

import pytest
from kubernetes import client

from asyncaction.api.names import LABEL_MANAGED_BY, MANAGED_BY
from asyncaction.lifecycle import job_name_for
from asyncaction.manifests import secret_name_for
from tests.support.kube import Kube, action_manifest, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def action(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return action_manifest(name, ["sh", "-c", script], **spec)


@pytest.mark.usefixtures("operator")
def test_a_job_of_our_name_owned_by_someone_else_is_never_adopted(
    kube: Kube, namespace: str
) -> None:
    created = kube.create_action(namespace, action("victim", "exit 0", suspend=True))
    kube.wait_phase(namespace, "victim", "PAUSED")
    name = job_name_for("victim", created["metadata"]["uid"], 1)
    foreign = client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="x", image="x", command=["true"])],
                )
            ),
        ),
    )
    kube.batch.create_namespaced_job(namespace, foreign)
    kube.patch_action(namespace, "victim", {"spec": {"suspend": False}})
    done = kube.wait_phase(namespace, "victim", {"SUCCEEDED", "FAILED"})
    assert done["status"]["phase"] == "FAILED", done["status"]
    assert done["status"]["error"]["reason"] == "JobNameTaken"


@pytest.mark.usefixtures("operator")
def test_a_secret_left_by_an_earlier_action_of_the_same_name_is_not_adopted(
    kube: Kube, namespace: str
) -> None:
    owner = kube.core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="earlier"))
    )
    planted = base64.b64encode(b"the-old-key-" + b"x" * 40).decode()
    kube.core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=secret_name_for("reborn"),
                labels={LABEL_MANAGED_BY: MANAGED_BY},
                owner_references=[
                    client.V1OwnerReference(
                        api_version="v1", kind="ConfigMap", name="earlier", uid=owner.metadata.uid
                    )
                ],
            ),
            data={"secretKey": planted},
        ),
    )
    created = kube.create_action(namespace, action("reborn", 'test -n "$JOB_SECRET_KEY"'))
    done = kube.wait_phase(namespace, "reborn", {"SUCCEEDED", "FAILED"})
    assert done["status"]["phase"] == "SUCCEEDED", done["status"]
    secret = kube.core.read_namespaced_secret(secret_name_for("reborn"), namespace)
    assert [ref.uid for ref in secret.metadata.owner_references] == [created["metadata"]["uid"]]
    assert secret.data["secretKey"] != planted


@pytest.mark.usefixtures("operator")
def test_a_job_the_api_refuses_fails_the_action_and_frees_its_slot(
    kube: Kube, namespace: str
) -> None:
    kube.create_object(namespace, "actionqueues", "ActionQueue", "one", {"maxConcurrent": 1})
    bad = action("refused", "true", queue="one")
    bad["spec"]["template"]["spec"]["containers"][0]["name"] = "Not_A_DNS_Label"
    kube.create_action(namespace, bad)
    failed = kube.wait_phase(namespace, "refused", {"FAILED", "SUCCEEDED"})
    assert failed["status"]["error"]["reason"] == "InvalidSpec"
    assert "refused" in failed["status"]["error"]["message"]
    kube.create_action(namespace, action("next", "true", queue="one"))
    assert kube.wait_phase(namespace, "next", {"SUCCEEDED", "FAILED"})["status"]["phase"] == (
        "SUCCEEDED"
    )
    wait_for(
        lambda: "Failed" in kube.event_reasons(namespace, "refused"),
        30,
        "the Failed Event",
        lambda: kube.event_reasons(namespace, "refused"),
    )


@pytest.mark.usefixtures("operator")
def test_a_finished_action_still_follows_spec_edits(kube: Kube, namespace: str) -> None:
    kube.create_action(namespace, action("edited", "true"))
    done = kube.wait_phase(namespace, "edited", "SUCCEEDED")
    kube.patch_action(namespace, "edited", {"spec": {"ttlSecondsAfterFinished": 1}})

    def cleaned() -> dict[str, Any] | None:
        current = kube.get_action(namespace, "edited")
        status = current["status"]
        ok = (
            status.get("childrenRemovedAt")
            and status.get("observedGeneration") == (current["metadata"]["generation"])
        )
        return current if ok else None

    after = wait_for(cleaned, 60, "the TTL added later, and observedGeneration")
    assert after["metadata"]["generation"] > done["metadata"]["generation"]
    assert not kube.jobs_of(namespace, after["metadata"]["uid"])


@pytest.mark.usefixtures("hooked_operator")
def test_a_failure_reported_through_the_hook_is_retried_like_an_exit_code(
    kube: Kube, namespace: str
) -> None:
    code = (
        "import os, sys\n"
        "from asyncaction_job import client\n"
        "if os.environ['ASYNCACTION_ATTEMPT'] == '1':\n"
        "    client.fail('first try fails')\n"
        "    sys.exit(0)\n"
        "client.succeed({'attempt': 2})\n"
    )
    kube.create_action(
        namespace, action_manifest("flaky", [sys.executable, "-c", code], backoffLimit=1)
    )
    done = kube.wait_phase(namespace, "flaky", {"SUCCEEDED", "FAILED"}, timeout=90)
    assert done["status"]["phase"] == "SUCCEEDED", done["status"]
    assert done["status"]["attempts"] == 2
    assert done["status"]["failures"] == 1
    assert done["status"]["result"] == {"attempt": 2}


@pytest.mark.usefixtures("operator")
def test_a_template_edit_does_not_change_the_running_attempt(kube: Kube, namespace: str) -> None:
    pod = {"spec": {"containers": [{"name": "main", "image": "x", "command": ["sleep", "4"]}]}}
    kube.create_object(
        namespace,
        "actiontemplates",
        "ActionTemplate",
        "slowish",
        {"activeDeadlineSeconds": 3600, "template": pod},
    )
    kube.create_action(
        namespace, {"metadata": {"name": "steady"}, "spec": {"templateRef": "slowish"}}
    )
    kube.wait_phase(namespace, "steady", "RUNNING")
    kube.custom.patch_namespaced_custom_object(
        "asyncaction.dev",
        "v1alpha1",
        namespace,
        "actiontemplates",
        "slowish",
        {"spec": {"activeDeadlineSeconds": 1}},
    )
    done = kube.wait_phase(namespace, "steady", {"SUCCEEDED", "TIMEOUT", "FAILED"}, timeout=60)
    assert done["status"]["phase"] == "SUCCEEDED", done["status"]


@pytest.mark.usefixtures("operator")
def test_the_operator_writes_no_finalizer_or_annotation(kube: Kube, namespace: str) -> None:
    created = kube.create_action(namespace, action("plain", "true", ttlSecondsAfterFinished=1))
    kube.wait_phase(namespace, "plain", "SUCCEEDED")
    done = wait_for(
        lambda: (a := kube.get_action(namespace, "plain"))["status"].get("childrenRemovedAt") and a,
        30,
        "the TTL cleanup",
    )
    assert not done["metadata"].get("finalizers")
    assert not done["metadata"].get("annotations")
    assert done["metadata"]["generation"] == created["metadata"]["generation"]  # spec untouched


CLEAN_RETRY = """
import os, sys
from asyncaction_job import client
if os.environ["ASYNCACTION_ATTEMPT"] == "1":
    client.default().call("POST", "/status", {
        "progress": 40, "statusDetails": {"from": "attempt 1"},
        "result": {"stale": True}, "logs": ["attempt 1 was here"],
    })
    sys.exit(3)
"""


@pytest.mark.usefixtures("hooked_operator")
def test_a_retry_that_succeeds_without_reporting_returns_no_result_of_the_failed_attempt(
    kube: Kube, namespace: str
) -> None:
    """Issue 13: a new attempt starts clean (result, details, progress, log tail)."""
    kube.create_action(
        namespace,
        action_manifest("retried", [sys.executable, "-c", CLEAN_RETRY], backoffLimit=1),
    )
    done = kube.wait_phase(namespace, "retried", {"SUCCEEDED", "FAILED"}, timeout=120)
    status = done["status"]
    assert (status["phase"], status["attempts"], status["failures"]) == ("SUCCEEDED", 2, 1)
    for stale in ("result", "statusDetails", "logTail", "lastReportAt"):
        assert stale not in status, status
    assert status["progress"] == 100  # the second attempt's own end


@pytest.mark.usefixtures("operator")
def test_a_job_create_refused_with_400_fails_the_attempt_and_frees_the_slot(
    kube: Kube, namespace: str
) -> None:
    """Issue 13: a 400 (a body the API server cannot decode, a webhook's denial without
    a code) used to be retried forever in STARTING, holding the queue's slot."""
    kube.create_object(namespace, "actionqueues", "ActionQueue", "one", {"maxConcurrent": 1})
    bad = action("undecodable", "true", queue="one")
    bad["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]
    kube.create_action(namespace, bad)
    failed = kube.wait_phase(namespace, "undecodable", {"FAILED", "SUCCEEDED"}, timeout=60)
    error = failed["status"]["error"]
    assert error["reason"] == "BadRequest", failed["status"]
    assert "(400 BadRequest)" in error["message"]
    assert failed["status"]["attempts"] == 1
    assert not kube.jobs_of(namespace, failed["metadata"]["uid"])
    kube.create_action(namespace, action("after", "true", queue="one"))
    assert kube.wait_phase(namespace, "after", {"SUCCEEDED", "FAILED"})["status"]["phase"] == (
        "SUCCEEDED"
    )
