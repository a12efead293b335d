"""Resolve a container's environment as the kubelet does, from plain dicts (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class EnvError(ValueError):
    """The Pod names something that does not exist (a missing non-optional key)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown references stay as written, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(replace, text)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    meta = pod.get("metadata", {})
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": pod.get("spec", {}).get("nodeName"),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName"),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    raise EnvError(f"unsupported fieldRef {path!r}")


def _lookup(
    store: Mapping[str, Mapping[str, str]], kind: str, ref: Mapping[str, Any]
) -> str | None:
    name, key = ref.get("name", ""), ref.get("key", "")
    values = store.get(name)
    if values is None or key not in values:
        if ref.get("optional"):
            return None
        raise EnvError(
            f"{kind} {name!r} has no key {key!r}"
            if values is not None
            else f"{kind} {name!r} not found"
        )
    return values[key]


def resolve_env(
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    configmaps: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    """``envFrom`` first, then ``env`` in order (later entries see earlier ones)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, store in (("secretRef", secrets), ("configMapRef", configmaps)):
            ref = source.get(kind)
            if ref is None:
                continue
            values = store.get(ref.get("name", ""))
            if values is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f"{kind} {ref.get('name')!r} not found")
            env.update({prefix + k: v for k, v in values.items()})
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env)
            continue
        source = item["valueFrom"]
        value: str | None
        if "secretKeyRef" in source:
            value = _lookup(secrets, "secret", source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            value = _lookup(configmaps, "configmap", source["configMapKeyRef"])
        elif "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"])
        else:
            raise EnvError(f"unsupported valueFrom for {name}: {sorted(source)}")
        if value is not None:
            env[name] = value
    return env


def referenced_names(pod: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The Secrets and ConfigMaps a Pod's containers read, to fetch them once."""
    secrets: set[str] = set()
    configmaps: set[str] = set()
    spec = pod.get("spec", {})
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                secrets.add(source["secretRef"]["name"])
            if "configMapRef" in source:
                configmaps.add(source["configMapRef"]["name"])
        for item in container.get("env") or []:
            value_from = item.get("valueFrom") or {}
            if "secretKeyRef" in value_from:
                secrets.add(value_from["secretKeyRef"]["name"])
            if "configMapKeyRef" in value_from:
                configmaps.add(value_from["configMapKeyRef"]["name"])
    return secrets, configmaps
