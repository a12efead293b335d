"""Property tests of the hook's pure checks: any input gives an answer, never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncaction_hook.auth import parse_headers
from asyncaction_hook.errors import HookError
from asyncaction_hook.limits import Limits, check_report, parse_json
from asyncaction_hook.reports import Report

NOW = 1_800_000_000_000
header_values = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"\A[0-9]{1,20}\Z"),
    st.from_regex(r"\A[0-9a-f]{64}\Z"),
    st.uuids().map(str),
)
json_values: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["X-Job-Id", "X-Job-Time", "X-Job-Hash", "X-Job-Signature"]), header_values
    )
)
def test_any_headers_parse_or_give_a_401(headers: dict[str, str]) -> None:
    signed = refusal = None
    try:
        signed = parse_headers(
            headers, now_ms=NOW, past_seconds=300, future_seconds=5, allow_v1=True
        )
    except HookError as exc:
        refusal = exc.status
    assert refusal == 401 or (signed is not None and NOW - 300_000 <= signed.time_ms <= NOW + 5_000)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_any_body_parses_or_gives_a_400(body: bytes) -> None:
    refusal = None
    try:
        parse_json(body, 32)
    except HookError as exc:
        refusal = exc.status
    assert refusal in (None, 400)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_a_report_or_a_validation_error(value: Any) -> None:
    from pydantic import ValidationError

    try:
        report = Report.model_validate(value if value is not None else {})
    except ValidationError:
        return
    refusal = None
    try:
        check_report(report.status_details, report.logs, Limits())
    except HookError as exc:
        refusal = exc.status
    assert refusal in (None, 413)
