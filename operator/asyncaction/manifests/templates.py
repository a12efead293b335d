"""How an ActionTemplate's defaults combine with an AsyncAction's own spec.

An ActionTemplate carries a pod template and defaults for any AsyncAction field, so a
user can submit only ``templateRef`` and ``request``. The rule is deliberately flat:

- a top-level field the action sets (present and not null) wins as a whole;
- otherwise the template's value applies;
- nothing is merged deeply: an action's ``request`` replaces the template's, and an
  action's ``template`` replaces the template's pod template, labels and annotations
  included. Deep merges of free-form documents surprise users (which list wins? how is a
  key removed?) and a whole-field rule is easy to explain and to predict.

``templateRef`` is never taken from a template (templates do not chain), and it does not
matter when the action has its own ``template``: ``pod_template_for`` reads ``template``
only.
"""

import copy
import json
from collections.abc import Mapping
from typing import Any

from asyncaction.api.names import ANNOTATION_TEMPLATE_DEFAULTS

TEMPLATE_FIELD = "template"
TEMPLATE_REF_FIELD = "templateRef"
# Fields of an ActionTemplate spec that are not defaults for an action.
_NOT_INHERITED = frozenset({TEMPLATE_REF_FIELD})


def _is_set(value: object) -> bool:
    return value is not None


def resolve_spec(
    action_spec: Mapping[str, Any], template_spec: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The effective spec of an action: its own fields, then the template's defaults.

    Null fields count as unset and are left out. Neither argument is modified; the
    result shares no objects with them.
    """
    resolved: dict[str, Any] = {}
    if template_spec is not None:
        for field, value in template_spec.items():
            if field not in _NOT_INHERITED and _is_set(value):
                resolved[field] = copy.deepcopy(value)
    for field, value in action_spec.items():
        if _is_set(value):
            resolved[field] = copy.deepcopy(value)
    return resolved


def resolve_spec_shared(
    action_spec: Mapping[str, Any], template_spec: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``resolve_spec`` without the copies: the result shares its values with the
    arguments, so it is for reading only. The controller resolves every action on every
    event and reconcile; copying each pod template there cost more than the rest of the
    reconcile (``build_job`` copies what it keeps)."""
    resolved: dict[str, Any] = {}
    if template_spec is not None:
        for field, value in template_spec.items():
            if field not in _NOT_INHERITED and _is_set(value):
                resolved[field] = value
    for field, value in action_spec.items():
        if _is_set(value):
            resolved[field] = value
    return resolved


def pod_template_for(resolved_spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The PodTemplateSpec to run, or None when there is none (the action has no handler)."""
    template = resolved_spec.get(TEMPLATE_FIELD)
    if isinstance(template, Mapping) and template:
        return template
    return None


# Template defaults that steer an attempt after its Job exists (the pod template and the
# data-plane fields are in the Job already). Recorded on the Job when the attempt starts,
# so an ActionTemplate edited meanwhile does not change the running attempt.
ATTEMPT_FIELDS = (
    "queue",
    "priority",
    "backoffLimit",
    "activeDeadlineSeconds",
    "startTimeoutSeconds",
    "ttlSecondsAfterFinished",
)


def attempt_defaults(template_spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """What of ``template_spec`` an attempt records (small scalars only)."""
    return {
        field: template_spec[field]
        for field in ATTEMPT_FIELDS
        if template_spec is not None and _is_set(template_spec.get(field))
    }


def recorded_defaults(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """The template defaults an attempt's Job recorded, or None (none recorded)."""
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(ANNOTATION_TEMPLATE_DEFAULTS)
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
