"""URL paths of the resources the operator and the hook touch.

``ns=None`` gives the cluster-wide collection (for lists and watches).
"""

from __future__ import annotations

from asyncaction.api.names import (
    ACTION_PLURAL,
    API_VERSION,
    QUEUE_PLURAL,
    SCHEDULE_PLURAL,
    TEMPLATE_PLURAL,
)


def _path(prefix: str, plural: str, ns: str | None, name: str | None, sub: str | None) -> str:
    path = prefix
    if ns is not None:
        path += f"/namespaces/{ns}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{name}"
        if sub is not None:
            path += f"/{sub}"
    return path


def _custom(plural: str, ns: str | None, name: str | None, status: bool) -> str:
    return _path(f"/apis/{API_VERSION}", plural, ns, name, "status" if status else None)


def action_path(ns: str | None = None, name: str | None = None, *, status: bool = False) -> str:
    return _custom(ACTION_PLURAL, ns, name, status)


def queue_path(ns: str | None = None, name: str | None = None, *, status: bool = False) -> str:
    return _custom(QUEUE_PLURAL, ns, name, status)


def schedule_path(ns: str | None = None, name: str | None = None, *, status: bool = False) -> str:
    return _custom(SCHEDULE_PLURAL, ns, name, status)


def template_path(ns: str | None = None, name: str | None = None) -> str:
    return _custom(TEMPLATE_PLURAL, ns, name, False)


def secret_path(ns: str | None = None, name: str | None = None) -> str:
    return _path("/api/v1", "secrets", ns, name, None)


def pod_path(ns: str | None = None, name: str | None = None) -> str:
    return _path("/api/v1", "pods", ns, name, None)


def event_path(ns: str) -> str:
    return _path("/api/v1", "events", ns, None, None)


def job_path(ns: str | None = None, name: str | None = None) -> str:
    return _path("/apis/batch/v1", "jobs", ns, name, None)


def configmap_path(ns: str | None = None, name: str | None = None) -> str:
    return _path("/api/v1", "configmaps", ns, name, None)
