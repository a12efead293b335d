"""The operator drives real actions to terminal phases on the local test bed.

The operator runs in-process (kopf's KopfRunner), Jobs are driven by the real Job
controller, and the node agent runs the Pods' commands as local processes.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from asyncaction.api.names import LABEL_ACTION_UID
from tests.support.kube import Kube, action_manifest, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def action(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return action_manifest(name, ["sh", "-c", script], **spec)


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}


def events_for(kube: Kube, namespace: str, name: str) -> list[Any]:
    events = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return list(events.items)


@pytest.mark.usefixtures("operator")
def test_success_without_report(kube: Kube, namespace: str) -> None:
    kube.create_action(namespace, action("ok", "echo hello"))
    done = kube.wait_phase(namespace, "ok", "SUCCEEDED")
    status = done["status"]
    assert status["attempts"] == 1
    assert status["progress"] == 100
    assert status["jobName"]
    assert status["startedAt"] <= status["finishedAt"]
    assert conditions(done) == {"Ready": "True", "Succeeded": "True"}
    assert len(kube.jobs_of(namespace, done["metadata"]["uid"])) == 1
    # Events are written off the reconcile path: the last one may follow the status.
    wait_for(lambda: "Succeeded" in kube.event_reasons(namespace, "ok"), 30, "the Succeeded Event")
    reasons = kube.event_reasons(namespace, "ok")
    assert "Started" in reasons  # one Event per transition people ask about
    assert "Running" not in reasons  # the job's own progress: status only


@pytest.mark.usefixtures("operator")
def test_failure_retries_then_fails(kube: Kube, namespace: str) -> None:
    kube.create_action(namespace, action("bad", "exit 3", backoffLimit=1))
    failed = kube.wait_phase(namespace, "bad", {"FAILED", "SUCCEEDED"})
    status = failed["status"]
    assert status["phase"] == "FAILED"
    assert status["attempts"] == 2
    assert status["error"]["reason"] == "BackoffLimitExceeded"
    assert "exit code 3" in status["error"]["message"]
    assert conditions(failed)["Stalled"] == "True"
    assert conditions(failed)["Ready"] == "False"
    jobs = kube.jobs_of(namespace, failed["metadata"]["uid"])
    assert len(jobs) == 2
    assert len({j.metadata.name for j in jobs}) == 2


@pytest.mark.usefixtures("operator")
def test_abort_running_action(kube: Kube, namespace: str, node_agent: Path | None) -> None:
    created = kube.create_action(namespace, action("long", "sleep 120"))
    uid = created["metadata"]["uid"]
    kube.wait_phase(namespace, "long", "RUNNING")
    kube.patch_action(namespace, "long", {"spec": {"abort": True}})
    aborted = kube.wait_phase(namespace, "long", "ABORTED")
    assert aborted["status"]["error"]["reason"] == "Aborted"
    assert conditions(aborted)["Stalled"] == "True"
    wait_for(lambda: not kube.jobs_of(namespace, uid), 30, "the job to be deleted")
    wait_for(
        lambda: (
            not kube.core.list_namespaced_pod(
                namespace, label_selector=f"{LABEL_ACTION_UID}={uid}"
            ).items
        ),
        30,
        "the pods to be gone",
    )
    # Terminal is final: un-aborting changes nothing.
    kube.patch_action(namespace, "long", {"spec": {"abort": False}})
    assert kube.get_action(namespace, "long")["status"]["phase"] == "ABORTED"


@pytest.mark.usefixtures("operator")
def test_suspend_then_resume_starts_a_new_attempt(kube: Kube, namespace: str) -> None:
    created = kube.create_action(namespace, action("pausable", "sleep 3"))
    uid = created["metadata"]["uid"]
    kube.wait_phase(namespace, "pausable", "RUNNING")
    kube.patch_action(namespace, "pausable", {"spec": {"suspend": True}})
    paused = kube.wait_phase(namespace, "pausable", "PAUSED")
    assert conditions(paused)["Ready"] == "False"
    wait_for(lambda: not kube.jobs_of(namespace, uid), 30, "the stopped attempt's job to go")
    kube.patch_action(namespace, "pausable", {"spec": {"suspend": False}})
    done = kube.wait_phase(namespace, "pausable", {"SUCCEEDED", "FAILED"}, timeout=60)
    assert done["status"]["phase"] == "SUCCEEDED"
    assert done["status"]["attempts"] == 2
    assert done["status"].get("failures", 0) == 0


@pytest.mark.usefixtures("operator")
def test_queued_suspended_action_is_not_admitted(kube: Kube, namespace: str) -> None:
    kube.create_action(namespace, action("held", "echo hi", suspend=True))
    paused = kube.wait_phase(namespace, "held", "PAUSED")
    assert paused["status"].get("attempts", 0) == 0
    assert not kube.jobs_of(namespace, paused["metadata"]["uid"])
    kube.patch_action(namespace, "held", {"spec": {"suspend": False}})
    assert kube.wait_phase(namespace, "held", "SUCCEEDED")["status"]["attempts"] == 1


@pytest.mark.usefixtures("operator")
def test_deadline_gives_timeout(kube: Kube, namespace: str) -> None:
    created = kube.create_action(namespace, action("slow", "sleep 120", activeDeadlineSeconds=3))
    timed_out = kube.wait_phase(namespace, "slow", {"TIMEOUT", "FAILED", "SUCCEEDED"}, timeout=60)
    assert timed_out["status"]["phase"] == "TIMEOUT"
    assert timed_out["status"]["error"]["reason"] == "DeadlineExceeded"
    uid = created["metadata"]["uid"]
    wait_for(lambda: not kube.jobs_of(namespace, uid), 30, "the job to be deleted")


@pytest.mark.usefixtures("operator")
def test_ttl_removes_children_keeps_action(kube: Kube, namespace: str) -> None:
    created = kube.create_action(namespace, action("short", "echo hi", ttlSecondsAfterFinished=1))
    uid = created["metadata"]["uid"]
    kube.wait_phase(namespace, "short", "SUCCEEDED")
    wait_for(lambda: not kube.jobs_of(namespace, uid), 30, "the job to be removed")
    wait_for(lambda: not _secrets_of(kube, namespace, uid), 30, "the secret to be removed")
    kept = wait_for(
        lambda: (a := kube.get_action(namespace, "short"))["status"].get("childrenRemovedAt") and a,
        30,
        "childrenRemovedAt",
    )
    assert kept["status"]["phase"] == "SUCCEEDED"


@pytest.mark.usefixtures("operator")
def test_deleting_the_action_removes_children(kube: Kube, namespace: str) -> None:
    created = kube.create_action(namespace, action("doomed", "sleep 120"))
    uid = created["metadata"]["uid"]
    kube.wait_phase(namespace, "doomed", "RUNNING")
    assert kube.jobs_of(namespace, uid)
    assert _secrets_of(kube, namespace, uid)
    kube.custom.delete_namespaced_custom_object(
        "asyncaction.dev", "v1alpha1", namespace, "asyncactions", "doomed"
    )
    wait_for(lambda: not _exists(kube, namespace, "doomed"), 30, "the action to be deleted")
    wait_for(lambda: not kube.jobs_of(namespace, uid), 60, "the job to be collected")
    wait_for(lambda: not _secrets_of(kube, namespace, uid), 60, "the secret to be collected")


@pytest.mark.usefixtures("operator")
def test_job_deleted_behind_our_back_fails_the_attempt(kube: Kube, namespace: str) -> None:
    created = kube.create_action(namespace, action("victim", "sleep 120"))
    running = kube.wait_phase(namespace, "victim", "RUNNING")
    kube.batch.delete_namespaced_job(
        running["status"]["jobName"], namespace, propagation_policy="Background"
    )
    failed = kube.wait_phase(namespace, "victim", {"FAILED", "SUCCEEDED"})
    assert failed["status"]["phase"] == "FAILED"
    assert failed["status"]["error"]["reason"] == "JobDeleted"
    assert created["metadata"]["uid"] == failed["metadata"]["uid"]


@pytest.mark.usefixtures("operator")
def test_secret_is_referenced_never_inlined(kube: Kube, namespace: str) -> None:
    created = kube.create_action(
        namespace, action("quiet", 'echo $JOB_ID; test -n "$JOB_SECRET_KEY"')
    )
    uid = created["metadata"]["uid"]
    done = kube.wait_phase(namespace, "quiet", {"SUCCEEDED", "FAILED"})
    assert done["status"]["phase"] == "SUCCEEDED", done["status"]
    (secret,) = _secrets_of(kube, namespace, uid)
    key = base64.b64decode(next(iter(secret.data.values()))).decode()
    assert len(key) >= 43  # 256 bits in url-safe base64
    assert secret.metadata.owner_references[0].uid == uid
    (job,) = kube.jobs_of(namespace, uid)
    env = {e.name: e for e in job.spec.template.spec.containers[0].env}
    assert env["JOB_ID"].value == uid
    assert env["JOB_SECRET_KEY"].value is None
    assert env["JOB_SECRET_KEY"].value_from.secret_key_ref.name == secret.metadata.name
    assert env["JOB_HOOK"].value.startswith("http")
    for text in (
        str(done),
        str(job.to_dict()),
        str([e.message for e in events_for(kube, namespace, "quiet")]),
    ):
        assert key not in text


@pytest.mark.usefixtures("operator")
def test_fifty_actions_at_once(kube: Kube, namespace: str) -> None:
    names = [f"burst-{i:02d}" for i in range(50)]
    for name in names:
        kube.create_action(namespace, action(name, "echo $JOB_ID"))

    def all_done() -> list[dict[str, Any]] | None:
        actions = kube.list_actions(namespace)
        done = [a for a in actions if a.get("status", {}).get("phase") in {"SUCCEEDED", "FAILED"}]
        return actions if len(done) == len(names) else None

    actions = wait_for(all_done, 240, "50 actions to finish", interval=1)
    assert {a["status"]["phase"] for a in actions} == {"SUCCEEDED"}
    jobs = kube.batch.list_namespaced_job(namespace).items
    assert len(jobs) == 50
    assert sorted(j.metadata.labels[LABEL_ACTION_UID] for j in jobs) == sorted(
        a["metadata"]["uid"] for a in actions
    )


def _secrets_of(kube: Kube, namespace: str, uid: str) -> list[Any]:
    return list(
        kube.core.list_namespaced_secret(
            namespace, label_selector=f"{LABEL_ACTION_UID}={uid}"
        ).items
    )


def _exists(kube: Kube, namespace: str, name: str) -> bool:
    try:
        kube.get_action(namespace, name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


@pytest.mark.usefixtures("operator")
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_wait_understands_the_conditions(
    kube: Kube, namespace: str, admin_kubeconfig: Path
) -> None:
    kube.create_action(namespace, action("waited", "sleep 1"))
    kube.create_action(namespace, action("stalls", "exit 1"))
    for name, condition in (("waited", "Ready"), ("stalls", "Stalled")):
        done = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(admin_kubeconfig),
                "-n",
                namespace,
                "wait",
                f"asyncaction/{name}",
                f"--for=condition={condition}",
                "--timeout=60s",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "condition met" in done.stdout


@pytest.mark.usefixtures("operator")
def test_retention_delete_removes_the_action_after_its_ttl_work(kube: Kube, namespace: str) -> None:
    """Issue 13: a finished action asked to be deleted goes once its Job and Secret are
    removed; one without retention (Keep) stays."""
    kube.create_action(
        namespace, action("gone", "true", ttlSecondsAfterFinished=1, retention="Delete")
    )
    kept = kube.create_action(namespace, action("kept", "true", ttlSecondsAfterFinished=1))

    def deleted() -> bool:
        return "gone" not in {a["metadata"]["name"] for a in kube.list_actions(namespace)}

    wait_for(deleted, 60, "the action with retention Delete to be deleted")
    removed = wait_for(
        lambda: (kube.get_action(namespace, "kept").get("status") or {}).get("childrenRemovedAt"),
        60,
        "the kept action's children to be removed",
    )
    assert removed
    assert kube.get_action(namespace, "kept")["status"]["phase"] == "SUCCEEDED"
    assert not kube.jobs_of(namespace, kept["metadata"]["uid"])
