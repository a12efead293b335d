"""Bounds on what a job can make the hook write (pure).

An action lives in etcd, whose objects are limited (1.5 MiB by default); past that every
write to the action fails, the operator's included. So every part of the status a job
feeds is bounded, and a report over a bound is refused with 413 and a message saying
what to do instead, before anything is written:

- ``statusDetails``: at most ``max_details_bytes`` of JSON;
- ``result``: at most ``max_result_bytes`` (``reports.check_result_size``);
- each log line at most ``max_log_line_chars``; the tail keeps ``log_tail_lines``;
- at most ``max_pending_uploads`` uploads not yet verified, ``max_outputs`` outputs;
- JSON nested at most ``max_json_depth`` levels (deeper is a 400, never a 500);
- numbers the API server can hold: no NaN or Infinity, nothing past a 64-bit float;
- and, whatever the parts, the whole status at most ``max_status_bytes``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asyncaction_hook.errors import HookError, bad_request, too_large


@dataclass(frozen=True)
class Limits:
    max_details_bytes: int = 32 * 1024
    max_log_line_chars: int = 2000
    log_tail_lines: int = 100
    max_pending_uploads: int = 100
    max_outputs: int = 1000
    max_json_depth: int = 32
    max_status_bytes: int = 512 * 1024


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _out_of_range(text: str) -> ValueError:
    shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"
    return ValueError(f"the number {shown} is out of range (a 64-bit float)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _out_of_range(text)
    return value


def _float_sized_int(text: str) -> int:
    value = int(text)  # over 4,300 digits: ValueError
    if len(text) > 300:  # up to 300 digits fits; longer ones are measured
        try:
            float(value)
        except OverflowError:
            raise _out_of_range(text) from None
    return value


# Python's JSON reads NaN, Infinity and numbers past a 64-bit float (1e400 as inf, 10**400
# as an int), and writes them back out as they are; the API server refuses them (measured
# on the test bed's kube-apiserver: NaN and Infinity in a status patch are a 500 "Invalid
# JSON Patch", 10**400 a 422; 10**300 and 2**70 are kept, as floats). So a write carrying
# one failed: a 5xx to a terminal report, and a progress report acknowledged then dropped.
# Refused here, as malformed, instead.
_DECODER = json.JSONDecoder(
    parse_constant=_no_constant, parse_float=_finite_float, parse_int=_float_sized_int
)
# An integer past a 64-bit float has over 300 digits, so a shorter body cannot hold one:
# its integers are read by the decoder's own C code (a Python call per integer cost a
# progress report a fifth of its parse).
_SHORT_BODY_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
_SHORT_BODY = 300


def _encoding(body: bytes) -> str:
    """``json.detect_encoding``: a body that opens an object with a byte that is not NUL
    is UTF-8 (no BOM starts with ``{``; UTF-16 and -32 put a NUL beside it), the rest
    is left to it."""
    if body[:1] == b"{" and body[1:2] != b"\x00":
        return "utf-8"
    return json.detect_encoding(body)


def parse_json(body: bytes, max_depth: int) -> Any:
    """The body as JSON: malformed, nested deeper than ``max_depth``, or holding a number
    the API server cannot hold is a 400."""
    try:
        # json.loads's own decoding of bytes (UTF-8, -16 or -32, a BOM skipped)
        text = body.decode(_encoding(body), "surrogatepass") if body else "null"
        value = (_SHORT_BODY_DECODER if len(body) <= _SHORT_BODY else _DECODER).decode(text)
    except RecursionError as exc:
        raise bad_request(f"JSON nested deeper than {max_depth} levels") from exc
    except ValueError as exc:  # UnicodeDecodeError included
        raise bad_request(f"malformed JSON: {exc}") from exc
    # Each level of nesting opens a bracket, so a body with at most ``max_depth`` of
    # them cannot nest deeper (brackets inside strings only make this bound looser):
    # the walk is left for the rare body that could.
    if body.count(b"[") + body.count(b"{") > max_depth and depth_exceeds(value, max_depth):
        raise bad_request(f"JSON nested deeper than {max_depth} levels")
    # A \uD800-\uDFFF escape that is not half of a pair decodes to a lone surrogate,
    # which no UTF-8 text holds: measuring or writing it would fail later, as a 500.
    # ``json.loads`` also lets a surrogate's raw bytes through (it decodes with
    # "surrogatepass"): in UTF-8 they start with 0xED, and a UTF-16 or UTF-32 body has
    # NUL bytes. The walk is left for the rare body with one of those.
    suspect = b"\\ud" in body or b"\\uD" in body or b"\xed" in body or b"\x00" in body
    if suspect and _has_lone_surrogate(value):
        raise bad_request("malformed JSON: half of a surrogate pair is not Unicode text")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Whether ``value`` cannot be measured as the status bounds measure it (UTF-8)."""
    try:
        json_size(value)
    except UnicodeEncodeError:
        return True
    return False


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests containers deeper than ``max_depth`` (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


# A value parsed from a JSON body of n bytes is at most this many times n bytes once
# written back as compact UTF-8 (``json_size``). Separators and whitespace only shrink;
# a UTF-8 body's strings do not grow (what the encoding escapes, the body had to escape
# too) and a UTF-16 body's grow at most 1.5 times; an integer is written as read; a
# float may grow most: 1e15 (4 bytes) is written 1000000000000000.0 (18), 4.5 times.
REENCODED_PER_BODY_BYTE = 5


def check_report(
    details: Any, logs: list[str] | None, limits: Limits, *, body_bytes: int | None = None
) -> None:
    """A report's own parts; raises 413 with what to do instead. ``body_bytes``, the
    size of the body ``details`` was parsed from, spares measuring details that cannot
    be over the bound (a progress report's are a few bytes; measuring costs a JSON
    encoding per report)."""
    if (
        details is not None
        and (body_bytes is None or body_bytes * REENCODED_PER_BODY_BYTE > limits.max_details_bytes)
        and json_size(details) > limits.max_details_bytes
    ):
        raise too_large(
            f"statusDetails is larger than {limits.max_details_bytes} bytes: keep it to a "
            "small summary, and upload bulky data as an output (PUT /upload/...)"
        )
    for line in logs or ():
        if len(line) > limits.max_log_line_chars:
            raise too_large(
                f"a log line is longer than {limits.max_log_line_chars} characters: split "
                "it, or upload the full log as an output (PUT /upload/...)"
            )


def check_uploads(status: Mapping[str, Any], limits: Limits) -> None:
    """Room for one more pending upload and output; raises 413 otherwise."""
    if len(status.get("pendingUploads") or ()) >= limits.max_pending_uploads:
        raise too_large(
            f"{limits.max_pending_uploads} uploads are not yet verified: finish (PUT) "
            "the uploads already announced, then report, before announcing more"
        )
    if len(status.get("outputs") or ()) >= limits.max_outputs:
        raise too_large(
            f"the action has {limits.max_outputs} outputs already: put more files "
            "in one archive, or use spec.outputs prefixes"
        )


def check_status_size(status: Mapping[str, Any], patch: Mapping[str, Any], limits: Limits) -> None:
    """The status after ``patch`` (a merge patch of its top-level fields) must fit."""
    merged = {**status, **patch}
    if json_size(merged) > limits.max_status_bytes:
        raise HookError(
            413,
            "TOO_LARGE",
            f"the action's status would exceed {limits.max_status_bytes} bytes: report "
            "less (smaller statusDetails, result and log lines), and upload bulky data",
        )
