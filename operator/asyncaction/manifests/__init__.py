"""Pure builders of the Kubernetes objects the operator creates for an action.

Each ``build_*`` function takes plain mappings (the action as the API server returns it)
and returns a manifest as a dict, with no I/O: the reconciler sends them. Keeping them
pure makes every naming, labelling and secret-handling rule testable without a cluster.
"""

from asyncaction.api.names import ANNOTATION_TEMPLATE_DEFAULTS
from asyncaction.manifests.errors import ManifestError
from asyncaction.manifests.events import build_event
from asyncaction.manifests.job import (
    DEFAULT_ENTRYPOINT,
    build_job,
    job_labels,
    uses_data_plane,
)
from asyncaction.manifests.ownership import action_labels, owner_reference
from asyncaction.manifests.secret import build_secret, new_secret_key, secret_name_for
from asyncaction.manifests.templates import (
    attempt_defaults,
    pod_template_for,
    recorded_defaults,
    resolve_spec,
    resolve_spec_shared,
)

__all__ = [
    "ANNOTATION_TEMPLATE_DEFAULTS",
    "DEFAULT_ENTRYPOINT",
    "ManifestError",
    "action_labels",
    "attempt_defaults",
    "build_event",
    "build_job",
    "build_secret",
    "job_labels",
    "new_secret_key",
    "owner_reference",
    "pod_template_for",
    "recorded_defaults",
    "resolve_spec",
    "resolve_spec_shared",
    "secret_name_for",
    "uses_data_plane",
]
