"""Which S3 keys an action may name: store grants per namespace (pure).

The stores configuration (``asyncaction.stores``) may give each store
``grants: {namespace: [key prefix, ...]}``: the prefixes, inside the store's bucket, that
actions of that namespace may read and write. A namespace without grants gets the
default, its own area ``{store prefix}actions/{namespace}/`` (where the hook also puts
the outputs an action uploads without declaring a URI). Archives go to
``{store prefix}archive/``, which no grant may cover (``check_grants``), so no job can
write there.

The operator calls ``refused_uris`` before creating a Job and fails the action with
reason ``StoreAccessDenied``; the hook checks every object it presigns with
``key_allowed``, so neither a spec edited later nor a template bypasses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ARCHIVE_AREA = "archive/"
ACTIONS_AREA = "actions/"
REFUSED_REASON = "StoreAccessDenied"


class GrantError(ValueError):
    """A stores configuration whose grants would let jobs reach the archive."""


@dataclass(frozen=True)
class StoreScope:
    """What tenancy needs of a store: its bucket, prefix and grants."""

    name: str
    bucket: str
    prefix: str = ""
    grants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def default_prefix(self, namespace: str) -> str:
        return f"{self.prefix}{ACTIONS_AREA}{namespace}/"

    def allowed_prefixes(self, namespace: str) -> tuple[str, ...]:
        granted = self.grants.get(namespace)
        return granted if granted is not None else (self.default_prefix(namespace),)

    @property
    def archive_prefix(self) -> str:
        return f"{self.prefix}{ARCHIVE_AREA}"


def scope_from_config(name: str, config: Mapping[str, Any]) -> StoreScope:
    """A store's scope from its configuration entry (the hook's stores file format)."""
    raw = config.get("grants") or {}
    if not isinstance(raw, Mapping):
        raise GrantError(f"store {name}: grants must map namespaces to lists of key prefixes")
    grants = {str(ns): tuple(str(p) for p in prefixes) for ns, prefixes in raw.items()}
    scope = StoreScope(name, str(config["bucket"]), str(config.get("prefix", "")), grants)
    check_grants(scope)
    return scope


def check_grants(scope: StoreScope) -> None:
    """No grant may reach into the archive area, nor be empty (the whole bucket)."""
    for namespace, prefixes in scope.grants.items():
        for prefix in prefixes:
            if not prefix.endswith("/") or not safe_key(prefix):
                raise GrantError(
                    f"store {scope.name}: grant {prefix!r} of {namespace} must be a "
                    "key prefix ending in '/', without '.' or '..' segments"
                )
            archive = scope.archive_prefix
            if archive.startswith(prefix) or prefix.startswith(archive):
                raise GrantError(
                    f"store {scope.name}: grant {prefix!r} of {namespace} covers the "
                    f"archive area {archive!r}, where no job may write"
                )


def safe_key(key: str) -> bool:
    """No empty, '.' or '..' segments: S3 servers and proxies may normalize them away."""
    segments = key.rstrip("/").split("/")
    return bool(key) and not key.startswith("/") and all(s not in ("", ".", "..") for s in segments)


def key_allowed(scope: StoreScope, key: str, namespace: str, *, extra: Iterable[str] = ()) -> bool:
    """Whether actions of ``namespace`` may reach ``key`` of this store.

    ``extra`` adds prefixes for one request (the hook adds the action's own prefix).
    """
    if not safe_key(key):
        return False
    return any(key.startswith(p) for p in (*scope.allowed_prefixes(namespace), *extra))


def declared_uris(spec: Mapping[str, Any]) -> list[str]:
    """Every s3:// URI an action's (resolved) spec names."""
    uris = [
        str(arg.get("value", ""))
        for arg in spec.get("arguments") or []
        if isinstance(arg, Mapping) and arg.get("type") in ("input", "output")
    ]
    for stream in ("stdin", "stdout", "stderr"):
        value = spec.get(stream) or {}
        if isinstance(value, Mapping) and value.get("type") == "uri":
            uris.append(str(value.get("value", "")))
    uris.extend(str(uri) for uri in spec.get("inputs") or [])
    uris.extend(str(uri) for uri in spec.get("outputs") or [])
    for task in spec.get("tasks") or []:  # each task's inputs, under the same grants
        if isinstance(task, Mapping):
            uris.extend(str(uri) for uri in task.get("inputs") or [])
    return uris


def refused_uris(
    spec: Mapping[str, Any], namespace: str, scopes: Sequence[StoreScope]
) -> list[str]:
    """The URIs of ``spec`` its namespace may not reach, each with the reason."""
    refused = []
    for uri in declared_uris(spec):
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            refused.append(f"{uri}: not an s3://bucket/key URI")
            continue
        bucket, key = uri[5:].split("/", 1)
        scope = next((s for s in scopes if s.bucket == bucket), None)
        if scope is None:
            refused.append(f"{uri}: bucket {bucket} is not a configured store")
        elif not key_allowed(scope, key, namespace):
            allowed = ", ".join(scope.allowed_prefixes(namespace))
            refused.append(f"{uri}: namespace {namespace} may use only {allowed} in {bucket}")
    return refused


def refusal_message(refused: Sequence[str]) -> str:
    shown = "; ".join(refused[:3])
    more = f" (and {len(refused) - 3} more)" if len(refused) > 3 else ""
    return f"S3 keys outside the namespace's grants: {shown}{more}"
