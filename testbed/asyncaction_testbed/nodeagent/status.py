"""Pod status documents the agent reports (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pod_log_path(log_dir: Path, namespace: str, pod: str, container: str) -> Path:
    return Path(log_dir) / f"{namespace}_{pod}_{container}.log"


def _condition(kind: str, status: bool, now: str) -> dict[str, Any]:
    return {"type": kind, "status": "True" if status else "False", "lastTransitionTime": now}


def running_status(containers: Sequence[Mapping[str, Any]], now: str) -> dict[str, Any]:
    return {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": now,
        "conditions": [
            _condition(c, True, now)
            for c in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }


def terminated_status(
    containers: Sequence[Mapping[str, Any]],
    exit_codes: Mapping[str, int],
    started: str,
    now: str,
    *,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Succeeded when every container exited 0; ``reason`` marks agent-side failures."""
    succeeded = reason is None and all(exit_codes.get(c["name"]) == 0 for c in containers)
    statuses = []
    for c in containers:
        code = exit_codes.get(c["name"], 137)
        statuses.append(
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "startedAt": started,
                        "finishedAt": now,
                    }
                },
            }
        )
    status: dict[str, Any] = {
        "phase": "Succeeded" if succeeded else "Failed",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": started,
        "conditions": [_condition("Ready", False, now), _condition("ContainersReady", False, now)],
        "containerStatuses": statuses,
    }
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return status
