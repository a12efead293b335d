"""The AsyncAction an ActionSchedule creates for one slot, and Events about a schedule.

Pure builders. A run carries the schedule's controller owner reference (garbage
collected with it; adopted only when that reference names this schedule's uid), the
label ``asyncaction.dev/schedule`` (the operator watches runs by it) and the slot it runs
as an annotation. Events about a schedule have names derived from the schedule's uid,
the slot and the reason, so deciding the same slot twice posts one Event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from asyncaction.api.names import (
    ACTION_KIND,
    ANNOTATION_SCHEDULED_AT,
    API_VERSION,
    LABEL_SCHEDULE,
    SCHEDULE_KIND,
)
from asyncaction.manifests.events import build_event
from asyncaction.manifests.naming import label_value, short_hash
from asyncaction.timeutil import format_time


def schedule_owner_reference(schedule: Mapping[str, Any]) -> dict[str, Any]:
    meta = schedule["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": SCHEDULE_KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_run(schedule: Mapping[str, Any], name: str, slot: datetime) -> dict[str, Any]:
    """The AsyncAction of ``slot``: the schedule's ``actionTemplate`` plus its identity."""
    meta = schedule["metadata"]
    template = (schedule.get("spec") or {}).get("actionTemplate") or {}
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), LABEL_SCHEDULE: label_value(meta["name"])}
    annotations = {
        **(template_meta.get("annotations") or {}),
        ANNOTATION_SCHEDULED_AT: format_time(slot),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": ACTION_KIND,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [schedule_owner_reference(schedule)],
        },
        "spec": dict(template.get("spec") or {}),
    }


def build_schedule_event(
    schedule: Mapping[str, Any],
    *,
    type: str,
    reason: str,
    message: str,
    slot: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """A core/v1 Event about the schedule, named by (uid, slot, reason) when a slot is
    given, so a second decision of that slot finds the name taken."""
    meta = schedule["metadata"]
    key = format_time(slot) if slot is not None else f"{meta.get('generation')}:{message}"
    suffix = short_hash(f"{meta['uid']}\n{key}\n{reason}") + (
        f"{int(slot.timestamp()):x}" if slot is not None else ""
    )
    event = build_event(schedule, type=type, reason=reason, message=message, now=now, suffix=suffix)
    event["involvedObject"]["kind"] = SCHEDULE_KIND
    return event
