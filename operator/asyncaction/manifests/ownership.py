"""Identity of an action as its children record it: owner reference and labels.

Every child (Secret, Job, its Pods through the template) carries the same labels so that
it can be listed from the action (by uid, which never repeats) and traced back to it (by
name). The owner reference makes the garbage collector remove children with the action;
``controller: true`` marks the operator as the one controller of the child.
"""

from collections.abc import Mapping
from typing import Any

from asyncaction.api.names import (
    ACTION_KIND,
    API_VERSION,
    LABEL_ACTION_NAME,
    LABEL_ACTION_UID,
    LABEL_MANAGED_BY,
    MANAGED_BY,
)
from asyncaction.manifests.errors import ManifestError
from asyncaction.manifests.naming import label_value


def _metadata_field(action: Mapping[str, Any], field: str) -> str:
    value = (action.get("metadata") or {}).get(field)
    if not isinstance(value, str) or not value:
        raise ManifestError(f"the action has no metadata.{field}")
    return value


def action_name(action: Mapping[str, Any]) -> str:
    return _metadata_field(action, "name")


def action_namespace(action: Mapping[str, Any]) -> str:
    return _metadata_field(action, "namespace")


def action_uid(action: Mapping[str, Any]) -> str:
    return _metadata_field(action, "uid")


def owner_reference(action: Mapping[str, Any]) -> dict[str, Any]:
    """The ownerReferences entry that ties a child to its action."""
    return {
        "apiVersion": API_VERSION,
        "kind": ACTION_KIND,
        "name": action_name(action),
        "uid": action_uid(action),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def action_labels(action: Mapping[str, Any]) -> dict[str, str]:
    """Labels shared by all children of ``action``; long names are hashed to fit."""
    return {
        LABEL_ACTION_NAME: label_value(action_name(action)),
        LABEL_ACTION_UID: action_uid(action),
        LABEL_MANAGED_BY: MANAGED_BY,
    }
