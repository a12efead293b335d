"""An in-memory stand-in for the four verbs of ``KubeApi`` the action controller uses.

It keeps objects by their item path, gives each write a new integer resourceVersion
and uid as the API server does, applies JSON merge patches (RFC 7386) with the
``metadata.resourceVersion`` precondition, and answers errors as ``ApiError``s built
from real Status bodies (``error_from_status``). ``fail`` queues an error for the next
matching request; ``land_then_fail`` applies a write and then answers an error, as a
request that timed out after the API server stored it.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncaction.kube.errors import ApiError, error_from_status
from tests.support.fed import FedDirectly


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def status_error(code: int, reason: str, message: str, name: str = "") -> ApiError:
    """The error of a ``Status`` as the API server answers it; a 404 about an object
    names it in ``details`` (one that names nothing is ``NotServed``)."""
    body: dict[str, Any] = {"kind": "Status", "status": "Failure", "code": code,
                            "reason": reason, "message": message}  # fmt: skip
    if name:
        body["details"] = {"name": name}
    return error_from_status(code, body)


def not_found(path: str) -> ApiError:
    """The API server's 404 for the object at ``path``."""
    return status_error(404, "NotFound", f"{path} not found", name=path.rsplit("/", 1)[-1])


@dataclass
class FakeKube(FedDirectly):
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)  # (path, propagation)
    _failures: list[tuple[str, str, ApiError, bool]] = field(default_factory=list)
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _uids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, method: str, path_part: str, error: ApiError, *, land: bool = False) -> None:
        self._failures.append((method, path_part, error, land))

    def land_then_fail(self, method: str, path_part: str, error: ApiError) -> None:
        self.fail(method, path_part, error, land=True)

    def _failure(self, method: str, path: str) -> tuple[ApiError, bool] | None:
        for i, (m, part, error, land) in enumerate(self._failures):
            if m == method and part in path:
                del self._failures[i]
                return error, land
        return None

    def _stamp(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = str(next(self._versions))

    def seed(self, collection: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as if created earlier (uid and version given when missing)."""
        stored = copy.deepcopy(dict(obj))
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        meta.setdefault("creationTimestamp", "2026-11-23T11:00:00Z")
        self._stamp(stored)
        self.objects[f"{collection}/{meta['name']}"] = stored
        return copy.deepcopy(stored)

    async def get(self, path: str) -> dict[str, Any]:
        self.calls.append(("GET", path))
        failure = self._failure("GET", path)
        if failure:
            raise failure[0]
        item = self.objects.get(path.removesuffix("/status"))
        if item is None:
            raise not_found(path)
        return copy.deepcopy(item)

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("POST", path))
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if "name" not in meta and "generateName" in meta:
            meta["name"] = f"{meta['generateName']}{next(self._uids)}"
        key = f"{path}/{meta['name']}"
        failure = self._failure("POST", path)
        if failure and not failure[1]:
            raise failure[0]
        if key in self.objects:
            raise status_error(409, "AlreadyExists", f"{meta['name']} already exists")
        meta["uid"] = f"uid-{next(self._uids)}"
        meta["creationTimestamp"] = "2026-11-23T12:00:00Z"
        self._stamp(obj)
        self.objects[key] = obj
        if failure:
            raise failure[0]
        return copy.deepcopy(obj)

    async def patch(
        self, path: str, body: Mapping[str, Any] | list[Any], *, patch_type: str = "merge"
    ) -> dict[str, Any]:
        self.calls.append(("PATCH", path))
        assert isinstance(body, dict)
        assert patch_type == "merge"
        failure = self._failure("PATCH", path)
        if failure and not failure[1]:
            raise failure[0]
        key = path.removesuffix("/status")
        item = self.objects.get(key)
        if item is None:
            raise not_found(path)
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != item["metadata"]["resourceVersion"]:
            raise status_error(409, "Conflict", "the object has been modified")
        if path.endswith("/status"):
            body = {"status": body.get("status")}
        patched = merge_patch(item, {k: v for k, v in body.items() if k != "metadata"})
        patched["metadata"] = merge_patch(
            item["metadata"],
            {k: v for k, v in (body.get("metadata") or {}).items() if k != "resourceVersion"},
        )
        self._stamp(patched)
        self.objects[key] = patched
        if failure:
            raise failure[0]
        return copy.deepcopy(patched)

    async def delete(
        self,
        path: str,
        *,
        propagation: str = "Background",
        missing_ok: bool = True,
        preconditions: Mapping[str, str] | None = None,
    ) -> None:
        self.calls.append(("DELETE", path))
        failure = self._failure("DELETE", path)
        if failure:
            raise failure[0]
        meta = (self.objects.get(path) or {}).get("metadata") or {}
        for name, wanted in (preconditions or {}).items():
            if meta and meta.get(name) != wanted:  # as the API server answers it
                raise status_error(
                    409, "Conflict", f"Precondition failed: {name} in precondition: {wanted}"
                )
        self.deletes.append((path, propagation))
        if self.objects.pop(path, None) is None and not missing_ok:
            raise not_found(path)

    def created(self, collection: str) -> list[dict[str, Any]]:
        return [obj for key, obj in self.objects.items() if key.rsplit("/", 1)[0] == collection]
