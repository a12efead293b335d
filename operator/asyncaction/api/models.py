"""The custom resources as pydantic models: the one source of the CRD schemas.

Field names on the wire are the contract's camelCase; Python code uses snake_case.
Validation here is what ``kubectl apply`` enforces through the generated OpenAPI
schema, plus what a 1.20 API server cannot express (no CEL): those rules are checked
again by the operator when it reads an object.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from asyncaction.api.names import DEFAULT_QUEUE
from asyncaction.api.phases import Phase

S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
FREE_FORM = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

S3Uri = Annotated[str, Field(pattern=S3_URI, max_length=1024)]
FreeForm = Annotated[dict[str, Any], Field(json_schema_extra=FREE_FORM)]
Timestamp = datetime


class Wire(BaseModel):
    """camelCase on the wire; unknown fields ignored (servers prune them anyway)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ArgumentType(StrEnum):
    INPUT = "input"
    PARAMETER = "parameter"
    OUTPUT = "output"


class Argument(Wire):
    model_config = ConfigDict(
        json_schema_extra={
            # Structural-schema form of the rule below, for kubectl-time rejection.
            "oneOf": [
                {"properties": {"type": {"enum": ["parameter"]}}},
                {
                    "properties": {
                        "type": {"enum": ["input", "output"]},
                        "value": {"pattern": S3_URI},
                    }
                },
            ]
        }
    )
    type: ArgumentType
    name: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.-]{1,63}$")] = None
    value: Annotated[str, Field(max_length=4096)]

    @model_validator(mode="after")
    def _uris_for_data(self) -> Argument:
        import re

        if self.type != ArgumentType.PARAMETER and not re.match(S3_URI, self.value):
            raise ValueError(f"an {self.type.value} argument needs an s3://bucket/key value")
        return self


class StreamType(StrEnum):
    PIPE = "pipe"
    URI = "uri"


class Stream(Wire):
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"properties": {"type": {"enum": ["pipe"]}}},
                {
                    "properties": {"type": {"enum": ["uri"]}, "value": {"pattern": S3_URI}},
                    "required": ["value"],
                },
            ]
        }
    )
    type: StreamType = StreamType.PIPE
    value: str | None = None

    @model_validator(mode="after")
    def _uri_needs_value(self) -> Stream:
        import re

        if self.type == StreamType.URI and not (self.value and re.match(S3_URI, self.value)):
            raise ValueError("a uri stream needs an s3://bucket/key value")
        return self


class ActionFields(Wire):
    """Fields an ActionTemplate may default, shared with the AsyncAction spec."""

    template: FreeForm | None = Field(default=None, description="core/v1 PodTemplateSpec")
    request: FreeForm | None = Field(default=None, description="input document of the action")
    arguments: list[Argument] | None = None
    inputs: list[S3Uri] | None = None
    outputs: list[S3Uri] | None = None
    stdin: Stream | None = None
    stdout: Stream | None = None
    stderr: Stream | None = None
    queue: Annotated[
        str | None, Field(pattern=DNS_LABEL, description=f"default {DEFAULT_QUEUE!r}")
    ] = None
    priority: Annotated[int | None, Field(description="higher first; default 0")] = None
    start_at: Timestamp | None = None
    active_deadline_seconds: Annotated[int | None, Field(ge=1)] = None
    start_timeout_seconds: Annotated[
        int | None,
        Field(
            ge=1,
            description="seconds an attempt's pod may take to start (scheduling, image "
            "pull, configuration) before the attempt fails; default 600",
        ),
    ] = None
    backoff_limit: Annotated[int | None, Field(ge=0, le=100, description="default 0")] = None
    ttl_seconds_after_finished: Annotated[int | None, Field(ge=0)] = None


class AsyncActionSpec(ActionFields):
    """``queue`` (default ``default``), ``priority`` (0) and ``backoffLimit`` (0) have no
    server-side defaults: an ActionTemplate may default them, and a value the API server
    filled in would look as if the action had set it. The operator applies them."""

    template_ref: Annotated[str | None, Field(pattern=DNS_LABEL)] = None
    suspend: bool = False
    abort: bool = False


class ErrorInfo(Wire):
    reason: str
    message: str = ""


class OutputRecord(Wire):
    name: str
    uri: str
    size: Annotated[int, Field(ge=0)]
    md5: str


class PendingUpload(Wire):
    name: str
    uri: str
    md5: str
    challenge: str | None = None
    expires_at: Timestamp | None = None


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Wire):
    type: str
    status: ConditionStatus
    reason: str | None = None
    message: str | None = None
    last_transition_time: Timestamp | None = None
    observed_generation: int | None = None


class AsyncActionStatus(Wire):
    phase: Phase | None = None
    progress: Annotated[int | None, Field(ge=0, le=100)] = None
    status_details: FreeForm | None = None
    result: FreeForm | None = None
    error: ErrorInfo | None = None
    log_tail: Annotated[list[str] | None, Field(max_length=200)] = None
    outputs: list[OutputRecord] | None = None
    pending_uploads: list[PendingUpload] | None = None
    attempts: Annotated[int | None, Field(ge=0)] = None
    failures: Annotated[int | None, Field(ge=0)] = None
    job_name: str | None = None
    queued_at: Timestamp | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    last_report_at: Timestamp | None = None
    next_attempt_at: Timestamp | None = None
    paused_at: Timestamp | None = None
    paused_seconds: Annotated[float | None, Field(ge=0)] = None
    children_removed_at: Timestamp | None = None
    message: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


class ActionQueueSpec(Wire):
    max_concurrent: Annotated[int | None, Field(ge=1)] = None
    suspend: bool = False


class ActionQueueStatus(Wire):
    phase_counts: dict[str, int] | None = None
    active: Annotated[int | None, Field(ge=0)] = None


class ActionTemplateSpec(ActionFields):
    """``template`` plus defaults for any AsyncAction field but ``templateRef``."""


class Resource(Wire):
    api_version: str | None = None
    kind: str | None = None
    metadata: FreeForm | None = None


class AsyncAction(Resource):
    spec: AsyncActionSpec
    status: AsyncActionStatus | None = None


class ActionQueue(Resource):
    spec: ActionQueueSpec = Field(default_factory=ActionQueueSpec)
    status: ActionQueueStatus | None = None


class ActionTemplate(Resource):
    spec: ActionTemplateSpec
