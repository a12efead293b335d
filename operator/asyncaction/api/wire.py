"""The building blocks of the resource models: camelCase on the wire, described fields,
the shared pattern and free-form types, the resource envelope and kstatus conditions.

``kubectl explain`` shows each field's description; the CRDs are generated from the
models that use these (``asyncaction.api.crds``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
FREE_FORM = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

S3Uri = Annotated[str, Field(pattern=S3_URI, max_length=1024)]
FreeForm = Annotated[dict[str, Any], Field(json_schema_extra=FREE_FORM)]
Timestamp = datetime


def described(text: str, **constraints: Any) -> Any:
    """``Field(description=...)``: ``kubectl explain`` shows the text for the field."""
    return Field(description=text, **constraints)


class Wire(BaseModel):
    """camelCase on the wire; unknown fields ignored (servers prune them anyway)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Resource(Wire):
    api_version: str | None = None
    kind: str | None = None
    metadata: FreeForm | None = None


class ConditionStatus(StrEnum):
    """metav1.ConditionStatus."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Wire):
    """A metav1.Condition (kstatus): Ready, Reconciling, Stalled or Succeeded."""

    type: Annotated[str, described("Ready, Reconciling, Stalled or Succeeded")]
    status: Annotated[ConditionStatus, described("True, False or Unknown")]
    reason: Annotated[str | None, described("CamelCase reason of the last transition")] = None
    message: Annotated[str | None, described("human-readable detail")] = None
    last_transition_time: Annotated[Timestamp | None, described("when the status last changed")] = (
        None
    )
    observed_generation: Annotated[
        int | None, described("generation the condition was computed for")
    ] = None
