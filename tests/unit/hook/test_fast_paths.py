"""The report path's shortcuts decide exactly as the plain computations they replace.

Each shortcut (the bracket count before the depth walk, the merge over the fields a
report set, the keyed HMAC, the details bound from the body's size, the short body's
integers and encoding) is compared, on
generated inputs, with the computation it stands for; a shortcut that changed a single
answer fails here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncaction_hook import limits
from asyncaction_hook.errors import HookError
from asyncaction_hook.limits import (
    REENCODED_PER_BODY_BYTE,
    Limits,
    check_report,
    depth_exceeds,
    json_size,
    parse_json,
)
from asyncaction_hook.reports import Report
from asyncaction_job.signing import Signer, sign_v1, sign_v2, signatures_equal, v2_message

# strings full of brackets: they count in the shortcut's bound but nest nothing
texts = st.text(alphabet='[]{}ab"\\é', max_size=12)
nested: Any = st.recursive(
    st.none() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(nested, st.integers(min_value=0, max_value=8))
def test_depth_refusal_is_the_walks(value: Any, max_depth: int) -> None:
    body = json.dumps(value).encode()
    if depth_exceeds(value, max_depth):
        with pytest.raises(HookError) as refused:
            parse_json(body, max_depth)
        assert refused.value.status == 400
    else:
        assert parse_json(body, max_depth) == value


reports = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["RUNNING", "SUCCEEDED", "FAILED", "SUCCESS", "ERROR"]),
        "progress": st.none() | st.integers(min_value=0, max_value=100),
        "statusDetails": st.none() | st.dictionaries(st.text(max_size=3), st.integers()),
        "result": st.none() | st.dictionaries(st.text(max_size=3), st.integers()),
        "results": st.dictionaries(st.text(max_size=3), st.integers()),
        "errorMessage": st.none() | st.text(max_size=5),
        "logs": st.none() | st.lists(st.text(max_size=4), max_size=3) | st.text(max_size=6),
    },
)


def merged_by_every_field(earlier: Report, later: Report) -> Report:
    """The merge as first written: every field of the later report that is not None
    (but log lines accumulate even under an empty list: ``[]`` erased the lines of the
    reports before it)."""
    update = {name: value for name, value in later if value is not None}
    if earlier.logs and later.logs is not None:
        update["logs"] = [*earlier.logs, *later.logs]
    return earlier.model_copy(update=update)


@settings(max_examples=400, deadline=None)
@given(st.lists(reports, min_size=2, max_size=4))
def test_merge_over_set_fields_is_the_merge_over_every_field(bodies: list[Any]) -> None:
    parsed = [Report.model_validate(body) for body in bodies]
    fast = slow = parsed[0]
    for later in parsed[1:]:
        fast = fast.merged_with(later)
        slow = merged_by_every_field(slow, later)
    assert fast.model_dump() == slow.model_dump()


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=60),
    st.text(alphabet="0123456789", min_size=1, max_size=15),
    st.sampled_from(["POST", "get", "PUT"]),
    st.text(alphabet=st.characters(max_codepoint=255), max_size=30),
    st.binary(max_size=64),
)
def test_signatures_are_the_hmac_objects(
    secret: str, time_ms: str, method: str, path: str, body: bytes
) -> None:
    def reference(message: str) -> str:
        key = secret.encode("latin-1")
        return hmac.new(key, message.encode("latin-1"), hashlib.sha256).hexdigest().lower()

    assert sign_v2(secret, time_ms, method, path, body) == reference(
        v2_message(time_ms, method, path, body)
    )
    assert sign_v1(secret, time_ms) == reference(time_ms)
    signer = Signer(secret)  # keyed once, then copied for each signature
    for _ in range(2):
        assert signer.v2(time_ms, method, path, body) == reference(
            v2_message(time_ms, method, path, body)
        )
        assert signer.v1(time_ms) == reference(time_ms)


def test_a_signature_in_other_characters_matches_none() -> None:
    hexes = sign_v1("k", "1")
    assert signatures_equal(hexes, hexes)
    assert not signatures_equal(hexes, hexes.upper())
    assert not signatures_equal(hexes, "é" * 64)  # compare_digest refuses it: no match


# what grows most when written back: floats in exponent form, escapes, non-ASCII text
numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
exponents = st.builds(
    lambda mantissa, exponent: f"{mantissa}e{exponent}",
    st.integers(min_value=-9, max_value=9),
    st.integers(min_value=-20, max_value=20) | st.integers(min_value=-320, max_value=300),
)
wide_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
details_values: Any = st.recursive(
    st.none() | st.booleans() | numbers | wide_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(wide_texts, inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(
    details_values,
    st.lists(exponents, max_size=4),
    st.booleans(),
    st.sampled_from(["utf-8", "utf-16", "utf-32"]),
)
def test_details_bound_from_the_body_size_is_never_below_the_measure(
    details: Any, floats: list[str], ascii_only: bool, encoding: str
) -> None:
    """``check_report`` skips measuring details when the body bounds them: a value
    parsed from a body of n bytes re-encodes (``json_size``) in at most
    ``REENCODED_PER_BODY_BYTE`` times n bytes, whatever the body's spelling."""
    text = json.dumps(details, ensure_ascii=ascii_only, separators=(",", ":"))
    if floats:  # exponent spellings, which json.dumps never writes
        text = f'{{"d":{text},"f":[{",".join(floats)}]}}'
    assert_bound(text, encoding)


def assert_bound(text: str, encoding: str) -> None:
    try:
        parsed = parse_json(text.encode(encoding), 32)
    except HookError:
        return  # refused as malformed before any size counts (1e400: out of range)
    body_bytes = len(text.encode(encoding))
    assert json_size(parsed) <= REENCODED_PER_BODY_BYTE * body_bytes


@pytest.mark.parametrize(
    ("text", "encoding", "grows"),
    [
        ("1e15", "utf-8", 4.5),  # 1000000000000000.0: the most a body can grow
        ("-9E15", "utf-8", 19 / 5),
        ("[1e15,1e15,1e15]", "utf-8", 58 / 16),
        ('"\\u4e00"', "utf-8", 5 / 8),  # an escape shrinks: 一 is 3 bytes in UTF-8
        ('"\u4e00"', "utf-16", 5 / 8),  # a BOM, 2 bytes a character: 一 grows to 3
    ],
)
def test_details_bound_holds_for_the_spellings_that_grow_most(
    text: str, encoding: str, grows: float
) -> None:
    parsed = parse_json(text.encode(encoding), 32)
    assert json_size(parsed) == pytest.approx(grows * len(text.encode(encoding)))
    assert_bound(text, encoding)


@pytest.mark.parametrize("size", [1, 5, 6, 7, 100])
def test_details_over_the_bound_are_refused_whatever_the_body_size(size: int) -> None:
    """The shortcut only skips a measure that could not refuse: details over the bound
    are refused with the body's size given, as without it."""
    details = {"k": "v" * size}
    limits = Limits(max_details_bytes=json_size(details) - 1)
    body_bytes = len(json.dumps({"statusDetails": details}).encode())
    for given_size in (None, body_bytes):
        with pytest.raises(HookError) as refused:
            check_report(details, None, limits, body_bytes=given_size)
        assert refused.value.status == 413
    check_report(details, None, Limits(max_details_bytes=json_size(details)), body_bytes=body_bytes)


def test_details_are_measured_from_a_fifth_of_the_bound_on() -> None:
    """Where the shortcut starts: a body of exactly a fifth of the bound is not measured
    (its details cannot be over it), one byte more is. Shown with details the size given
    does not bound, which only a skipped measure lets through."""
    details = {"k": "v" * 100}
    limits = Limits(max_details_bytes=50)
    check_report(details, None, limits, body_bytes=50 // REENCODED_PER_BODY_BYTE)
    with pytest.raises(HookError) as refused:
        check_report(details, None, limits, body_bytes=50 // REENCODED_PER_BODY_BYTE + 1)
    assert refused.value.status == 413


def parsed_the_long_way(body: bytes) -> Any:
    """``parse_json``'s decoding as first written: the encoding ``json.loads`` detects, and
    every integer through the check of its size."""
    text = body.decode(json.detect_encoding(body), "surrogatepass") if body else "null"
    return limits._DECODER.decode(text)


def outcome(parse: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "value", parse(body)
    except (ValueError, RecursionError, HookError) as exc:  # HookError: parse_json's 400
        message = exc.message if isinstance(exc, HookError) else f"malformed JSON: {exc}"
        return "refused", message


# integers on both sides of a 64-bit float's range, near the short body's bound
big_integers = st.integers(min_value=-(10**320), max_value=10**320) | st.sampled_from(
    [10**299, -(10**299), 10**300, 10**308, 10**309, -(10**310)]
)
documents: Any = st.recursive(
    st.none() | st.booleans() | big_integers | numbers | wide_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(wide_texts, inner, max_size=3),
    max_leaves=8,
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                             "utf-32-le", "utf-32-be"])  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(
    documents,
    encodings,
    st.sampled_from(["", " ", "\n"]),
    st.binary(max_size=3),
    st.booleans(),
)
def test_short_bodies_decode_as_every_body_did(
    document: Any, encoding: str, space: str, junk: bytes, mangle: bool
) -> None:
    text = space + json.dumps(document, ensure_ascii=False) + space
    body = text.encode(encoding, "surrogatepass")
    if mangle:  # bodies that are no JSON, or that open oddly
        body = junk + body[len(junk) :]
    expected = outcome(parsed_the_long_way, body)
    got = outcome(lambda b: parse_json(b, 10_000), body)
    if expected[0] == "value":
        assert got == ("value", expected[1]) or (
            got[0] == "refused"
            and (
                "surrogate" in got[1]  # parse_json refuses lone surrogates the decoder lets by
            )
        )
    else:
        assert got == expected
