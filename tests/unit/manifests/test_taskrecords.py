"""The ConfigMaps that hold an action's task records: name, owner, labels, data."""

from __future__ import annotations

import hashlib
import json

from asyncaction.manifests.taskrecords import LABEL_TASK_CHUNK, build_task_chunk, task_chunk_name
from asyncaction_client.taskbook import (
    ROUND_KEY,
    TaskRecord,
    TaskState,
    decode_chunk,
    encode_chunk,
)
from tests.unit.manifests.samples import ACTION_UID, make_action


def test_a_chunk_is_named_by_its_action_and_number_and_holds_only_its_records() -> None:
    action = make_action(spec={"tasks": [{"name": f"t{i}"} for i in range(501)]})
    records = {
        0: TaskRecord(TaskState.DONE, 1, 0, "", {"rows": 3}),
        499: TaskRecord(TaskState.FAILED, 3, 0, "boom", None),
        500: TaskRecord(TaskState.EXECUTING, 1, 1_767_225_600_000, "", None),
    }
    first = build_task_chunk(action, 0, encode_chunk(records, 0), {ROUND_KEY: "2"})
    second = build_task_chunk(action, 1, encode_chunk(records, 1), {})
    assert LABEL_TASK_CHUNK == "asyncaction.dev/task-chunk"
    assert first == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "resize-tasks-0",
            "namespace": "team-a",
            "labels": {
                "asyncaction.dev/action-name": "resize",
                "asyncaction.dev/action-uid": ACTION_UID,
                "app.kubernetes.io/managed-by": "asyncaction-operator",
                "asyncaction.dev/task-chunk": "0",
            },
            "annotations": {"retryRound": "2"},
            "ownerReferences": [
                {
                    "apiVersion": "asyncaction.dev/v1alpha1",
                    "kind": "AsyncAction",
                    "name": "resize",
                    "uid": ACTION_UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {
            "tasks": json.dumps(
                {"0": ["done", 1, 0, "", {"rows": 3}], "499": ["failed", 3, 0, "boom", None]},
                separators=(",", ":"),
            )
        },
    }
    assert second["metadata"]["name"] == "resize-tasks-1"
    assert second["metadata"]["labels"]["asyncaction.dev/task-chunk"] == "1"
    assert second["metadata"]["annotations"] == {}
    assert decode_chunk(second["data"]) == {500: records[500]}
    assert decode_chunk(first["data"]) == {0: records[0], 499: records[499]}


def test_the_chunk_is_a_copy_the_caller_may_change() -> None:
    """The hook sets resourceVersion on the body it PUTs; the inputs must not change."""
    action = make_action()
    data = {"tasks": "{}"}
    annotations = {ROUND_KEY: "0"}
    body = build_task_chunk(action, 0, data, annotations)
    body["data"]["tasks"] = "changed"
    body["metadata"]["annotations"]["x"] = "y"
    assert data == {"tasks": "{}"}
    assert annotations == {ROUND_KEY: "0"}


def test_a_long_action_name_is_cut_and_hashed_to_a_valid_name() -> None:
    name = "a" * 253
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    chunk = task_chunk_name(name, 12)
    assert chunk == "a" * (253 - len("-tasks-12") - 9) + f"-{digest}-tasks-12"
    assert len(chunk) == 253
    body = build_task_chunk(make_action(name), 12, {}, {})
    assert body["metadata"]["name"] == chunk
    assert body["metadata"]["labels"]["asyncaction.dev/action-name"] != name  # hashed to fit
    assert len(body["metadata"]["labels"]["asyncaction.dev/action-name"]) == 63
