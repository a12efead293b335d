"""A command's typed arguments and its standard streams (``spec.arguments``,
``spec.stdin``/``stdout``/``stderr``): what the job's entrypoint stages in, passes on
and uploads."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, model_validator

from asyncaction.api.wire import S3_URI, Wire, described


class ArgumentType(StrEnum):
    """How an argument reaches the command: a file staged in, a literal, a file uploaded."""

    INPUT = "input"
    PARAMETER = "parameter"
    OUTPUT = "output"


class Argument(Wire):
    """One command-line argument, appended after the container's ``args`` in order."""

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
    type: Annotated[
        ArgumentType,
        described(
            "input: an S3 object staged before the command runs; parameter: a literal; "
            "output: a file uploaded to S3 after the command. Data arguments appear in the "
            "command line as local paths."
        ),
    ]
    name: Annotated[
        str | None,
        described(
            "name the job uses to find the argument (also the hook's property name)",
            pattern=r"^[A-Za-z0-9_.-]{1,63}$",
        ),
    ] = None
    value: Annotated[
        str,
        described(
            "the literal (parameter) or an s3://bucket/key URI (input, output)", max_length=4096
        ),
    ]

    @model_validator(mode="after")
    def _uris_for_data(self) -> Argument:
        import re

        if self.type != ArgumentType.PARAMETER and not re.match(S3_URI, self.value):
            raise ValueError(f"an {self.type.value} argument needs an s3://bucket/key value")
        return self


class StreamType(StrEnum):
    """Where a standard stream goes: the pod's own pipe, or an S3 object."""

    PIPE = "pipe"
    URI = "uri"


class Stream(Wire):
    """A standard stream of the command: kept as a pipe or read from / written to S3."""

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
    type: Annotated[
        StreamType, described("pipe (default): the pod's own stream; uri: an S3 object")
    ] = StreamType.PIPE
    value: Annotated[str | None, described("the s3://bucket/key URI when type is uri")] = None

    @model_validator(mode="after")
    def _uri_needs_value(self) -> Stream:
        import re

        if self.type == StreamType.URI and not (self.value and re.match(S3_URI, self.value)):
            raise ValueError("a uri stream needs an s3://bucket/key value")
        return self
