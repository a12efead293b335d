"""Events for the transitions the hook writes itself.

The hook, not the operator, writes the terminal phase of a job that reports its own end
(the usual path), so the hook posts that transition's Event, as the component that made
it: exactly one per transition, because a terminal phase is written once (a second
report finds the action finished and is refused before any write). Best effort: a lost
Event never fails the report.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asyncaction.kube import ApiError, KubeClient, paths
from asyncaction.manifests import build_event
from asyncaction.timeutil import utcnow
from asyncaction_hook.metrics import HookMetrics

log = logging.getLogger(__name__)
COMPONENT = "asyncaction-hook"
# Phase the hook wrote -> (type, reason) of its Event; the operator's reasons for the same.
TRANSITIONS = {"SUCCEEDED": ("Normal", "Succeeded")}


async def emit_transition(
    kube: KubeClient,
    metrics: HookMetrics,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> None:
    """Post the Event of the phase change from ``before`` to ``after``, if it has one."""
    old = (before.get("status") or {}).get("phase")
    new = (after.get("status") or {}).get("phase")
    if old == new or new not in TRANSITIONS:
        return
    kind, reason = TRANSITIONS[new]
    message = str((after.get("status") or {}).get("message") or new)
    event = build_event(
        after, type=kind, reason=reason, message=message, now=utcnow(), component=COMPONENT
    )
    try:
        await kube.create(paths.event_path(after["metadata"]["namespace"]), event)
    except ApiError as exc:
        meta = after["metadata"]
        about = {
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "attempt": (after.get("status") or {}).get("attempts"),
        }
        log.warning("could not post event %s: %s", reason, exc, extra={"action": about})
        return
    metrics.events.labels(kind, reason).inc()
