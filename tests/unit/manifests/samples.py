"""Sample objects shaped like the API server returns them, shared by the builder tests."""

from typing import Any

ACTION_UID = "7f0c2b8e-1d5a-4c1e-9a63-3f1f1d2f4a10"


def make_action(name: str = "resize", spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "AsyncAction",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "uid": ACTION_UID,
            "generation": 3,
            "resourceVersion": "4711",
        },
        "spec": spec if spec is not None else {},
    }


def make_pod_template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "resizer", "asyncaction.dev/attempt": "99"}},
        "spec": {
            "restartPolicy": "OnFailure",
            "initContainers": [
                {
                    "name": "warmup",
                    "image": "busybox",
                    "command": ["true"],
                    "env": [{"name": "JOB_HOOK", "value": "http://user-chosen"}],
                }
            ],
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": ["python", "-m", "resize"],
                    "args": ["--quality", "80"],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "JOB_SECRET_KEY", "value": "user-inline-secret"},
                        {"name": "JOB_ID", "value": "spoofed"},
                    ],
                },
                {"name": "sidecar", "image": "busybox", "command": ["sleep", "inf"]},
            ],
        },
    }
