from typing import Any

from asyncaction.api.names import ANNOTATION_TEMPLATE_DEFAULTS
from asyncaction.controllers.actions import (
    summarize_action,
    summarize_job,
    summarize_pod,
    summarize_secret,
)

POD = {"spec": {"containers": [{"name": "a", "image": "b", "command": ["x" * 1000]}]}}


def action(phase: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "u",
            "generation": 2,
            "resourceVersion": "7",
            "managedFields": [{"big": 1}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
        },
        "spec": {"template": POD, "request": {"big": "y" * 1000}, "ttlSecondsAfterFinished": 5},
        "status": {"phase": phase, "logTail": ["z"] * 100, "result": {"r": 1}, "attempts": 1},
    }


def test_an_action_summary_keeps_what_reconcile_reads() -> None:
    running = summarize_action(action("RUNNING"))
    assert set(running["metadata"]) == {"name", "namespace", "uid", "generation", "resourceVersion"}
    assert running["spec"]["template"] == POD  # a retry may build a Job from it
    assert running["status"] == {"phase": "RUNNING", "attempts": 1}


def test_a_finished_action_keeps_no_pod_template_or_request() -> None:
    done = summarize_action(action("SUCCEEDED"))
    assert done["spec"] == {"ttlSecondsAfterFinished": 5}


def test_children_keep_small_summaries_and_secrets_no_key_material() -> None:
    secret = summarize_secret(
        {"metadata": {"name": "s", "ownerReferences": [{"uid": "u"}]}, "data": {"secretKey": "k"}}
    )
    assert "data" not in secret
    job = summarize_job(
        {
            "metadata": {
                "name": "j",
                "annotations": {ANNOTATION_TEMPLATE_DEFAULTS: "{}", "o": "x"},
            },
            "spec": {"template": POD},
            "status": {"active": 1},
        }
    )
    assert job == {
        "metadata": {"name": "j", "annotations": {ANNOTATION_TEMPLATE_DEFAULTS: "{}"}},
        "status": {"active": 1},
    }
    pod = summarize_pod(
        {"metadata": {"name": "p"}, "spec": POD["spec"], "status": {"phase": "Running"}}
    )
    assert pod == {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
