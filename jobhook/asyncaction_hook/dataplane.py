"""Which S3 object a job's ``property``/``index`` names (docs/data-plane.md), pure.

A job reaches only objects its own action declares (arguments, streams, input and
output prefixes) or objects under its action's own prefix.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asyncaction_hook.errors import HookError, forbidden, not_found

PROPERTY = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
# A task id or an object's index in a path: no list the hook serves is this long, so a
# longer one names nothing (404), and is never given to int() (over 4,300 digits raises).
MAX_INDEX_DIGITS = 18
# S3's bound on a key. A longer one is a 400 from S3: to the HEAD the hook sends first
# on servers that check every request (a 503 STORE_UNAVAILABLE to the job, a retry that
# cannot succeed), or to the job's PUT of a URL the hook recorded as pending.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class S3Ref:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_uri(uri: str) -> S3Ref:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise HookError(422, "BAD_URI", f"not an s3://bucket/key URI: {uri}")
    bucket, key = uri[5:].split("/", 1)
    return S3Ref(bucket, key)


def own_prefix(store_prefix: str, namespace: str, uid: str) -> str:
    return f"{store_prefix}actions/{namespace}/{uid}/"


def argument_named(spec: Mapping[str, Any], prop: str, kind: str) -> S3Ref | None:
    for index, arg in enumerate(spec.get("arguments") or []):
        if arg.get("type") == kind and prop in (arg.get("name"), f"arg{index}"):
            return parse_uri(arg["value"])
    return None


def stream(spec: Mapping[str, Any], prop: str) -> S3Ref | None:
    value = spec.get(prop) or {}
    if value.get("type") == "uri" and value.get("value"):
        return parse_uri(value["value"])
    return None


TASK_PROPERTY = re.compile(r"^task-(0|[1-9][0-9]{0,5})$")


def task_input(spec: Mapping[str, Any], prop: str, index: int) -> S3Ref | None:
    """The ``index``-th input of the task that ``prop`` names as ``task-<id>`` (its index
    in ``spec.tasks``), or None when ``prop`` names no task of this action (an action
    made of tasks reserves these names; its arguments cannot use them)."""
    tasks = spec.get("tasks") or []
    matched = TASK_PROPERTY.match(prop)
    if matched is None or not tasks:
        return None
    task_id = int(matched[1])
    if task_id >= len(tasks):
        raise not_found(f"no task {task_id}")
    inputs = tasks[task_id].get("inputs") or []
    if index >= len(inputs):
        raise not_found(f"task {task_id} has {len(inputs)} input(s)")
    return parse_uri(str(inputs[index]))


def declared_input(spec: Mapping[str, Any], prop: str) -> S3Ref | None:
    if prop == "stdin":
        return stream(spec, "stdin")
    return argument_named(spec, prop, "input")


def input_prefixes(spec: Mapping[str, Any]) -> list[S3Ref]:
    return [parse_uri(uri) for uri in spec.get("inputs") or []]


def upload_target(
    spec: Mapping[str, Any],
    *,
    prop: str,
    md5: str,
    metadata: Mapping[str, Any],
    store_bucket: str,
    store_prefix: str,
    namespace: str,
    uid: str,
) -> tuple[S3Ref, bool]:
    """The object to write and whether it is under the action's own prefix."""
    if prop in ("stdout", "stderr"):
        ref = stream(spec, prop)
        if ref is None:
            raise forbidden(f"spec.{prop} is not of type uri")
        return ref, False
    if prop == "outputs":
        prefixes = [parse_uri(uri) for uri in spec.get("outputs") or []]
        relative = str(metadata.get("path", ""))
        if not prefixes or not relative or relative.startswith("/") or ".." in relative.split("/"):
            raise forbidden("outputs need spec.outputs and a relative metadata.path")
        control = next((c for c in relative if ord(c) < 0x20 or ord(c) == 0x7F), None)
        if control is not None:
            # S3 lists keys in XML, which cannot carry most of them (NUL never): the PUT
            # of such a key is refused, or the object cannot be listed afterwards
            raise HookError(
                422,
                "INVALID",
                f"metadata.path holds the control character {control!r}: name outputs "
                "with printable characters",
            )
        base = prefixes[0]
        key = posixpath.join(base.key, relative)
        size = len(key.encode())
        if size > MAX_KEY_BYTES:
            raise HookError(
                422,
                "INVALID",
                f"metadata.path makes an S3 key of {size} bytes; S3 keys are at most "
                f"{MAX_KEY_BYTES} bytes of UTF-8",
            )
        return S3Ref(base.bucket, key), False
    declared = argument_named(spec, prop, "output")
    if declared is not None:
        return declared, False
    if not PROPERTY.match(prop) or ".." in prop:
        raise HookError(422, "BAD_PROPERTY", f"bad property name {prop!r}")
    key = f"{own_prefix(store_prefix, namespace, uid)}{prop}/{md5}"
    return S3Ref(store_bucket, key), True


def recorded_output(outputs: Sequence[Mapping[str, Any]], prop: str, index: int) -> S3Ref:
    matching = [o for o in outputs if o.get("name") == prop]
    if index >= len(matching):
        raise not_found(f"no object {prop}/{index} for this action")
    return parse_uri(matching[index]["uri"])
