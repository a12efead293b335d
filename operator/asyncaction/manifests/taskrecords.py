"""The ConfigMaps that hold an action's per-task records (see ``asyncaction_client.taskbook``).

Named ``<action>-tasks-<chunk>``, owned by the action (garbage-collected with it) and
labelled like its other children, so ``asyncaction tasks`` lists them by the action's uid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncaction.manifests.naming import bounded_name
from asyncaction.manifests.ownership import action_labels, owner_reference

LABEL_TASK_CHUNK = "asyncaction.dev/task-chunk"


def task_chunk_name(action_name: str, chunk: int) -> str:
    return bounded_name(action_name, f"-tasks-{chunk}")


def build_task_chunk(
    action: Mapping[str, Any], chunk: int, data: Mapping[str, str], annotations: Mapping[str, str]
) -> dict[str, Any]:
    meta = action["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": task_chunk_name(meta["name"], chunk),
            "namespace": meta["namespace"],
            "labels": {**action_labels(action), LABEL_TASK_CHUNK: str(chunk)},
            "annotations": dict(annotations),
            "ownerReferences": [owner_reference(action)],
        },
        "data": dict(data),
    }
