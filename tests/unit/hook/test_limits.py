import json
from collections.abc import Callable

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


def refused(call: Callable[..., object], *args: object) -> HookError:
    with pytest.raises(HookError) as caught:
        call(*args)
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


def test_the_defaults_are_the_documented_bounds() -> None:
    """docs/security.md and the chart's values name these numbers."""
    assert Limits() == Limits(
        max_details_bytes=32768,
        max_log_line_chars=2000,
        log_tail_lines=100,
        max_pending_uploads=100,
        max_outputs=1000,
        max_json_depth=32,
        max_status_bytes=524288,
    )


def test_depth_is_checked_to_the_last_container() -> None:
    """The deepest container may come after shallow ones, in a list or a dict."""
    assert depth_exceeds([1, "a", [[[[]]]]], 4)
    assert not depth_exceeds([1, "a", [[[]]]], 4)
    assert depth_exceeds({"a": 1, "b": [], "z": [[[{}]]]}, 4)
    assert not depth_exceeds("text", 0)
    assert depth_exceeds([], 0)
    assert parse_json(b"", 4) is None  # an empty body is JSON null
    error = refused(parse_json, b"[[[[[]]]]]", 4)
    assert error.message == "JSON nested deeper than 4 levels"


def test_bounds_are_inclusive_and_measured_compactly_in_utf8() -> None:
    # {"k":"vvvv"}: 12 bytes compact (the spaces of json.dumps' default would make 14)
    exact = Limits(max_details_bytes=12, max_log_line_chars=3, max_status_bytes=12)
    check_report({"k": "vvvv"}, ["abc"], exact)
    assert refused(check_report, {"k": "vvvvv"}, None, exact).status == 413
    assert refused(check_report, None, ["abcd"], exact).status == 413
    check_report({"k": "éé"}, None, Limits(max_details_bytes=12))  # é is 2 bytes: 12
    assert refused(check_report, {"k": "ééé"}, None, Limits(max_details_bytes=13)).status == 413
    check_status_size({}, {"k": "vvvv"}, exact)
    error = refused(check_status_size, {"k": "vvvv"}, {"j": 1}, exact)
    assert (error.status, error.reason) == (413, "TOO_LARGE")


def test_the_last_free_upload_and_output_slots_can_be_used() -> None:
    check_uploads({"pendingUploads": [{}], "outputs": [{}, {}]}, LIMITS)
    check_uploads({}, LIMITS)
    error = refused(check_uploads, {"pendingUploads": [{}, {}], "outputs": []}, LIMITS)
    assert (error.status, error.reason) == (413, "TOO_LARGE")
    assert "2 uploads are not yet verified" in error.message
    error = refused(check_uploads, {"outputs": [{}, {}, {}]}, LIMITS)
    assert "3 outputs already" in error.message


def test_a_scalar_before_a_deep_container_does_not_end_the_check() -> None:
    """The check walks the last child first: a scalar there must not stop it."""
    assert depth_exceeds([[[[[]]]], 1], 4)
    assert depth_exceeds({"deep": [[[[]]]], "z": "scalar"}, 4)
    assert refused(parse_json, b"[[[[[]]]], 1]", 4).status == 400


def test_objects_alone_nest_as_deep_as_lists_and_many_shallow_brackets_pass() -> None:
    """The bracket count that skips the depth walk counts both kinds, and only skips:
    a body of objects only, nested past the limit, is refused; a shallow body with more
    brackets than the limit (siblings) is accepted."""
    deep_objects = b'{"a":' * 5 + b"1" + b"}" * 5
    error = refused(parse_json, deep_objects, 4)
    assert (error.status, error.reason) == (400, "BAD_REQUEST")
    assert parse_json(b'{"a":' * 4 + b"1" + b"}" * 4, 4) == {"a": {"a": {"a": {"a": 1}}}}
    siblings = json.dumps([[i] for i in range(40)] + [{"k": i} for i in range(40)]).encode()
    assert parse_json(siblings, 4) == json.loads(siblings)


def test_half_a_surrogate_pair_is_a_400_however_it_is_written() -> None:
    """Lone surrogates cannot be measured in UTF-8 nor stored: refused as malformed,
    where they once made the size check raise (a 500)."""
    for body in (
        b'{"statusDetails": {"a": "\\ud800"}}',
        b'{"logs": ["x\\uDC00"]}',
        b'{"statusDetails": {"\\udfff": 1}}',  # in a key
        b'{"logs": ["\xed\xa0\x80"]}',  # the raw UTF-8 bytes of one
        '{"logs": ["\ud800"]}'.encode("utf-16-le", "surrogatepass"),
    ):
        error = refused(parse_json, body, 4)
        assert (error.status, error.reason) == (400, "BAD_REQUEST"), body
        assert error.message == "malformed JSON: half of a surrogate pair is not Unicode text"
    # a whole pair, a Hangul syllable (0xED in UTF-8) and UTF-16 text without surrogates
    assert parse_json(b'{"a": "\\ud83d\\ude00"}', 4) == {"a": "\U0001f600"}
    assert parse_json('{"a": "\ud7a3"}'.encode(), 4) == {"a": "\ud7a3"}
    assert parse_json('{"a": "b"}'.encode("utf-16"), 4) == {"a": "b"}


def test_numbers_the_api_server_cannot_hold_are_a_400() -> None:
    """Python reads NaN, Infinity and numbers past a 64-bit float; the API server's JSON
    does not, so a write carrying one failed there (a 503 to a terminal report, a progress
    report acknowledged and then dropped): refused as malformed before anything is kept."""
    long_int = b"1" + b"0" * 400
    for body, message in (
        (b'{"statusDetails": {"a": NaN}}', "NaN is not a JSON number"),
        (b'{"result": {"a": [Infinity]}}', "Infinity is not a JSON number"),
        (b'{"result": {"a": -Infinity}}', "-Infinity is not a JSON number"),
        (b'{"statusDetails": {"a": 1e400}}', "the number 1e400 is out of range (a 64-bit float)"),
        (
            b'{"statusDetails": {"a": -0.1e999}}',
            "the number -0.1e999 is out of range (a 64-bit float)",
        ),
        (
            b'{"result": {"a": ' + long_int + b"}}",
            "the number 10000000000000000000... (401 characters) is out of range (a 64-bit float)",
        ),
        (
            b'{"result": {"a": -' + long_int + b"}}",
            "the number -1000000000000000000... (402 characters) is out of range (a 64-bit float)",
        ),
    ):
        error = refused(parse_json, body, 4)
        assert (error.status, error.reason, error.message) == (
            400,
            "BAD_REQUEST",
            f"malformed JSON: {message}",
        ), body
    # a number of up to 24 characters is shown whole, a longer one cut
    whole, cut = b"1" + b"0" * 19 + b"e999", b"1" + b"0" * 20 + b"e999"
    assert refused(parse_json, whole, 4).message.endswith(
        f"{whole.decode()} is out of range (a 64-bit float)"
    )
    assert refused(parse_json, cut, 4).message.endswith(
        "number 10000000000000000000... (25 characters) is out of range (a 64-bit float)"
    )
    # the largest a 64-bit float holds pass, as do underflows (they read as 0.0)
    biggest = b"1" + b"0" * 308
    assert parse_json(b"[1.7e308, -1.7e308, 1e-400, " + biggest + b"]", 4) == [
        1.7e308,
        -1.7e308,
        0.0,
        10**308,
    ]
    # every encoding json.loads reads is still read, and an empty body is null
    assert parse_json('{"a": 1.5}'.encode("utf-16"), 4) == {"a": 1.5}
    assert parse_json(b'\xef\xbb\xbf{"a": 2}', 4) == {"a": 2}
    assert parse_json(b"", 4) is None
