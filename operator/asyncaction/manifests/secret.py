"""The per-action Secret that holds ``JOB_SECRET_KEY`` (section 2 of the contract).

The key signs every hook request of the action's job, so it lives only in this Secret:
jobs get it through ``secretKeyRef``, never inline in the Job, where anyone allowed to
read Jobs would see it. The key is derived per attempt (``asyncaction.keys``): the
operator writes the current attempt's key before creating that attempt's Job, so the
Secret is not immutable. It is owned by the action, so it goes away with it.

``new_secret_key`` is the only impure function of the package; it is kept apart so the
builders stay deterministic and testable.
"""

import base64
import secrets
from collections.abc import Mapping
from typing import Any

from asyncaction.api.names import ANNOTATION_KEY_ATTEMPT, SECRET_KEY_FIELD
from asyncaction.manifests.errors import ManifestError
from asyncaction.manifests.naming import bounded_name
from asyncaction.manifests.ownership import (
    action_labels,
    action_name,
    action_namespace,
    owner_reference,
)

SECRET_NAME_SUFFIX = "-job-secret"  # noqa: S105 - a name, not a password
# token_urlsafe(32) draws 32 random bytes: 256 bits, the contract's minimum.
SECRET_KEY_BYTES = 32


def secret_name_for(action_name: str) -> str:
    """Name of the action's Secret: deterministic, at most 253 characters."""
    return bounded_name(action_name, SECRET_NAME_SUFFIX)


def new_secret_key() -> str:
    """A fresh random key of 256 bits, URL-safe text (the one impure function here)."""
    return secrets.token_urlsafe(SECRET_KEY_BYTES)


def build_secret(
    action: Mapping[str, Any], secret_key: str, *, attempt: int | None = None
) -> dict[str, Any]:
    """The Opaque Secret holding ``secret_key`` (the key of ``attempt``) for ``action``.

    The attempt is recorded in an annotation, so the operator can tell whether the
    Secret holds the current attempt's key without keeping key material in memory.
    """
    if not secret_key:
        raise ManifestError("the job secret key is empty")
    metadata: dict[str, Any] = {
        "name": secret_name_for(action_name(action)),
        "namespace": action_namespace(action),
        "labels": action_labels(action),
        "ownerReferences": [owner_reference(action)],
    }
    if attempt is not None:
        metadata["annotations"] = {ANNOTATION_KEY_ATTEMPT: str(attempt)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {SECRET_KEY_FIELD: base64.b64encode(secret_key.encode()).decode("ascii")},
    }
