"""Pure helpers shared by the sync and async clients and the CLI: manifests, outcomes,
filters and the bookkeeping of a watch. Nothing here talks to a server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asyncaction_client.contract import ACTION_KIND, API_VERSION, TERMINAL_PHASES, Phase, parse_time
from asyncaction_client.errors import ActionFailed

Action = dict[str, Any]
TERMINAL = frozenset(phase.value for phase in TERMINAL_PHASES)
PHASES = tuple(phase.value for phase in Phase)


def phase_of(action: Mapping[str, Any]) -> str | None:
    phase = (action.get("status") or {}).get("phase")
    return phase if isinstance(phase, str) else None


def is_finished(action: Mapping[str, Any]) -> bool:
    """In a terminal phase: nothing will change the outcome any more."""
    return phase_of(action) in TERMINAL


def name_of(action: Mapping[str, Any]) -> str:
    return str((action.get("metadata") or {}).get("name", ""))


def namespace_of(action: Mapping[str, Any]) -> str:
    return str((action.get("metadata") or {}).get("namespace", ""))


def result_or_raise(action: Mapping[str, Any]) -> dict[str, Any]:
    """The result of a SUCCEEDED action ({} when the job sent none); raise for the others."""
    phase = phase_of(action)
    if phase == Phase.SUCCEEDED:
        result = (action.get("status") or {}).get("result")
        return dict(result) if isinstance(result, Mapping) else {}
    if phase not in TERMINAL:
        raise ValueError(f"{name_of(action)} has not finished (phase {phase or 'none'})")
    error = (action.get("status") or {}).get("error") or {}
    raise ActionFailed(
        name_of(action),
        phase or "",
        str(error.get("reason") or ""),
        str(error.get("message") or (action.get("status") or {}).get("message") or ""),
        dict(action),
    )


def build_action(
    *,
    base: Mapping[str, Any] | None = None,
    name: str | None = None,
    generate_name: str | None = None,
    template_ref: str | None = None,
    request: Mapping[str, Any] | None = None,
    queue: str | None = None,
    priority: int | None = None,
    labels: Mapping[str, str] | None = None,
) -> Action:
    """An AsyncAction manifest: ``base`` (a manifest read from a file) with the options
    laid over it. Without a name, ``generateName`` lets the server pick one."""
    manifest: Action = json.loads(json.dumps(dict(base or {})))  # a deep copy of plain data
    kind = manifest.setdefault("kind", ACTION_KIND)
    if kind != ACTION_KIND:
        raise ValueError(f"expected kind {ACTION_KIND}, got {kind}")
    version = manifest.setdefault("apiVersion", API_VERSION)
    if version != API_VERSION:
        raise ValueError(f"expected apiVersion {API_VERSION}, got {version}")
    meta = _mapping(manifest, "metadata", "metadata")
    spec = _mapping(manifest, "spec", "spec")
    if meta.get("labels") is not None:
        _mapping(meta, "labels", "metadata.labels")
    if name:
        meta["name"] = name
        meta.pop("generateName", None)
    if generate_name:
        meta.pop("name", None)
        meta["generateName"] = generate_name
    if labels:
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
    if template_ref:
        spec["templateRef"] = template_ref
    if request is not None:
        spec["request"] = dict(request)
    if queue:
        spec["queue"] = queue
    if priority is not None:
        spec["priority"] = priority
    if not meta.get("name") and not meta.get("generateName"):
        raise ValueError("the action needs a name: give one, or --generate-name PREFIX")
    if not spec.get("template") and not spec.get("templateRef"):
        raise ValueError("the action needs spec.template or a template name (--template)")
    return manifest


def _mapping(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """``parent[key]``, made an empty mapping when absent; a ValueError naming ``path``
    when a file gave it another shape (the laying-over would fail with a TypeError)."""
    value = parent.setdefault(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{path} must be a mapping, got {type(value).__name__}")
    return value


def rerun_of(action: Mapping[str, Any], generate_name: str | None = None) -> Action:
    """A new action with the same spec (and labels), named by the server from the old name."""
    meta = action.get("metadata") or {}
    spec = {k: v for k, v in (action.get("spec") or {}).items() if k not in ("abort", "suspend")}
    prefix = generate_name or f"{_stem(str(meta.get('name', 'action')))}-"
    labels = dict(meta.get("labels") or {})
    new_meta: dict[str, Any] = {"generateName": prefix}
    if labels:
        new_meta["labels"] = labels
    return {"apiVersion": API_VERSION, "kind": ACTION_KIND, "metadata": new_meta, "spec": spec}


def _stem(name: str) -> str:
    """A rerun of ``x-rerun-abcde`` is ``x-rerun-`` + new suffix, not ``x-rerun-abcde-...``."""
    return re.sub(r"-[a-z0-9]{5}$", "", name) if "-" in name else name


DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``5m``, ``1h30m``, ``2d``: kubectl's and Go's duration habits (plus d, w)."""
    text = text.strip()
    if not text:
        raise ValueError("empty duration")
    position = 0
    seconds = 0.0
    for match in DURATION.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * UNITS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m, 2d)")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:  # past timedelta's 999999999 days: a typo, not a wish
        raise ValueError(f"duration too long: {text!r}") from None


@dataclass(frozen=True)
class Filters:
    """What ``list`` keeps beyond the label selector the server applies."""

    phases: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    since: timedelta | None = None
    older_than: timedelta | None = None

    def keeps(self, action: Mapping[str, Any], now: datetime) -> bool:
        if self.phases and (phase_of(action) or "") not in self.phases:
            return False
        if self.queues and effective_queue(action) not in self.queues:
            return False
        created = parse_time((action.get("metadata") or {}).get("creationTimestamp"))
        if created is None:
            return self.since is None and self.older_than is None
        age = now - created
        if self.since is not None and age > self.since:
            return False
        return not (self.older_than is not None and age < self.older_than)


def effective_queue(action: Mapping[str, Any]) -> str:
    status_queue = (action.get("status") or {}).get("queue")
    if status_queue:
        return str(status_queue)
    return str((action.get("spec") or {}).get("queue") or "default")


def select(actions: Iterable[Action], filters: Filters, now: datetime) -> list[Action]:
    return sorted(
        (a for a in actions if filters.keeps(a, now)),
        key=lambda a: (namespace_of(a), (a.get("metadata") or {}).get("creationTimestamp", "")),
    )


@dataclass(frozen=True)
class WatchStep:
    """What one watch event means to a watcher of some actions."""

    resource_version: str | None
    action: Action | None = None  # an added or changed action
    deleted: Action | None = None
    relist: bool = False  # the server forgot our resourceVersion (410 Gone): list again


def interpret(event: Mapping[str, Any], resource_version: str | None) -> WatchStep:
    """Turn one raw watch event into the next resourceVersion and what changed."""
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        code = obj.get("code")
        if code == 410:
            return WatchStep(None, relist=True)
        raise WatchError(f"watch error {code}: {obj.get('message', obj)}")
    version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
    if kind == "BOOKMARK":
        return WatchStep(version)
    if kind == "DELETED":
        return WatchStep(version, deleted=dict(obj))
    return WatchStep(version, action=dict(obj))


class WatchError(Exception):
    """The server ended a watch with an error other than 410 Gone."""


def backoff(failures: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Seconds before reconnecting after ``failures`` failed attempts in a row."""
    return float(min(cap, base * 2 ** min(32, max(0, failures - 1))))  # no float overflow
