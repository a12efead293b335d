"""The report path's shortcuts decide exactly as the plain computations they replace.

Each shortcut (the bracket count before the depth walk, the merge over the fields a
report set, the one-shot HMAC) is compared, on generated inputs, with the computation
it stands for; a shortcut that changed a single answer fails here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncaction_hook.errors import HookError
from asyncaction_hook.limits import depth_exceeds, parse_json
from asyncaction_hook.reports import Report
from asyncaction_job.signing import sign_v1, sign_v2, v2_message

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
    """The merge as first written: every field of the later report that is not None."""
    update = {name: value for name, value in later if value is not None}
    if earlier.logs and later.logs:
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
