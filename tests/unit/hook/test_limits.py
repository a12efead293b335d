import json

import pytest

from asyncaction_hook.errors import HookError
from asyncaction_hook.limits import (
    Limits,
    check_report,
    check_status_size,
    check_uploads,
    depth_exceeds,
    parse_json,
)

LIMITS = Limits(
    max_details_bytes=100,
    max_log_line_chars=10,
    max_pending_uploads=2,
    max_outputs=3,
    max_json_depth=4,
    max_status_bytes=1000,
)


def refused(call: object, *args: object) -> HookError:
    with pytest.raises(HookError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_deep_json_is_a_400_at_any_depth() -> None:
    assert parse_json(b'{"a": [{"b": 1}]}', 4) == {"a": [{"b": 1}]}
    for depth in (5, 1000, 200_000):  # past the interpreter's recursion limit too
        error = refused(parse_json, b"[" * depth + b"]" * depth, 4)
        assert (error.status, error.reason) == (400, "BAD_REQUEST")
        assert "nested deeper" in error.message


def test_malformed_json_and_bad_encodings_are_400() -> None:
    for body in (b"{not json", b"\xff\xfe\x00", b'{"a": NaN'):
        assert refused(parse_json, body, 4).status == 400


def test_depth_counts_containers_only() -> None:
    assert not depth_exceeds({"a": {"b": {"c": {"d": "deep string"}}}}, 4)
    assert depth_exceeds({"a": {"b": {"c": {"d": {}}}}}, 4)


def test_report_parts_over_their_bound_are_413_with_advice() -> None:
    check_report({"k": "v"}, ["short"], LIMITS)
    details = refused(check_report, {"k": "v" * 200}, None, LIMITS)
    assert (details.status, details.reason) == (413, "TOO_LARGE")
    assert "upload" in details.message
    line = refused(check_report, None, ["ok", "x" * 11], LIMITS)
    assert line.status == 413
    assert "split" in line.message
    # non-ASCII text counts in bytes for details, in characters for log lines
    assert refused(check_report, {"k": "é" * 60}, None, LIMITS).status == 413
    check_report(None, ["é" * 10], LIMITS)


def test_pending_uploads_and_outputs_are_bounded() -> None:
    check_uploads({"pendingUploads": [{}], "outputs": [{}, {}]}, LIMITS)
    assert refused(check_uploads, {"pendingUploads": [{}, {}]}, LIMITS).status == 413
    assert refused(check_uploads, {"outputs": [{}, {}, {}]}, LIMITS).status == 413


def test_the_whole_status_is_bounded_whatever_its_parts() -> None:
    status = {"phase": "RUNNING", "logTail": ["x" * 400]}
    check_status_size(status, {"statusDetails": {"a": "b" * 400}}, LIMITS)
    error = refused(check_status_size, status, {"result": {"a": "b" * 700}}, LIMITS)
    assert error.status == 413
    # a patch replacing a large field is measured after the replacement
    big = {"statusDetails": {"a": "b" * 900}}
    check_status_size(big, {"statusDetails": {"a": 1}}, LIMITS)
    assert len(json.dumps(big)) > 900
