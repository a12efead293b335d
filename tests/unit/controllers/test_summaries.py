import json
from typing import Any, cast

from asyncaction.api.names import ANNOTATION_TEMPLATE_DEFAULTS
from asyncaction.controllers.caches import (
    summarize_action,
    summarize_job,
    summarize_pod,
    summarize_secret,
)
from asyncaction.controllers.compact import SharedValues

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


def decoded(name: str, phase: str, ready_message: str) -> dict[str, Any]:
    """An action as the client decodes it from the API server: its own objects."""
    return cast(
        dict[str, Any],
        json.loads(
            json.dumps(
                {
                    "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
                    "spec": {"template": POD, "request": {"n": name}, "queue": "held"},
                    "status": {
                        "phase": phase,
                        "message": ready_message,
                        "queuedAt": "2026-11-30T04:00:00Z",
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "Unknown",
                                "reason": "QueueSuspended",
                                "message": ready_message,
                                "lastTransitionTime": "2026-11-30T04:00:00Z",
                                "observedGeneration": 1,
                            },
                            {
                                "type": "Reconciling",
                                "status": "True",
                                "reason": "QueueSuspended",
                                "message": ready_message,
                                "lastTransitionTime": "2026-11-30T04:00:00Z",
                                "observedGeneration": 1,
                            },
                        ],
                    },
                }
            )
        ),
    )


def test_waiting_actions_share_equal_templates_conditions_and_strings() -> None:
    """Memory at 100,000 actions: equal values decoded for each action are kept once."""
    message = "queue ns/held is suspended: it admits nothing"
    first = summarize_action(decoded("a", "QUEUED", message))
    second = summarize_action(decoded("b", "QUEUED", message))
    assert first["spec"]["template"] == POD
    assert second["spec"]["template"] is first["spec"]["template"]
    assert second["spec"]["request"] == {"n": "b"}  # what differs stays apart
    assert second["status"]["conditions"] is first["status"]["conditions"]
    assert first["status"]["conditions"] == [
        {
            "type": "Ready",
            "status": "Unknown",
            "reason": "QueueSuspended",
            "message": message,
            "lastTransitionTime": "2026-11-30T04:00:00Z",
        },
        {
            "type": "Reconciling",
            "status": "True",
            "reason": "QueueSuspended",
            "message": message,
            "lastTransitionTime": "2026-11-30T04:00:00Z",
        },
    ]
    for field in ("phase", "message", "queuedAt"):
        assert second["status"][field] is first["status"][field]
    assert second["spec"]["queue"] is first["spec"]["queue"]
    assert second["metadata"]["namespace"] is first["metadata"]["namespace"]
    # a condition that says something else is its own
    other = summarize_action(decoded("c", "QUEUED", "queue ns/held is full: 1 of 1"))
    assert other["status"]["conditions"][0]["message"] == "queue ns/held is full: 1 of 1"
    assert other["status"]["conditions"] is not first["status"]["conditions"]


def test_the_shared_values_table_stays_bounded() -> None:
    table = SharedValues(limit=3)
    templates = [{"spec": {"containers": [{"name": str(i)}]}} for i in range(5)]
    for template in templates:
        assert table.json(template) is template
    assert len(table) == 3
    assert table.json(json.loads(json.dumps(templates[4]))) is templates[4]  # remembered
    assert table.json(copy := json.loads(json.dumps(templates[0]))) is copy  # forgotten


def test_a_sharded_action_keeps_its_kueue_labels_for_its_job() -> None:
    """With hook shards the operator labels each action with its shard; the summary used
    to keep that one label alone, so the Job lost the action's Kueue labels."""
    from asyncaction.api.names import LABEL_HOOK_SHARD
    from asyncaction.manifests.job import kueue_labels

    running = action("RUNNING")
    running["metadata"]["labels"] = {
        LABEL_HOOK_SHARD: "1",
        "kueue.x-k8s.io/queue-name": "team-a",
        "team": "a",
    }
    summary = summarize_action(running)
    assert summary["metadata"]["labels"] == running["metadata"]["labels"]
    assert kueue_labels(summary) == {"kueue.x-k8s.io/queue-name": "team-a"}
