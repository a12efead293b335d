"""Property tests over every route of the real hook: random methods, paths, headers and
bodies never get a 5xx, and never change an action unless validly signed for it."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncaction_job.signing import headers_v2, signing_clock
from tests.e2e.test_hook import Signed, sleeping_action
from tests.support.kube import Kube

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]
__all__ = ["sleeping_action"]  # a fixture shared with test_hook

METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
SEGMENT = st.one_of(
    st.sampled_from(["default", "x", "0", "-1", "99999999999999999999", "..", "inputs"]),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="/?#%"), max_size=12),
)
JSON: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
REPORT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["RUNNING", "SUCCEEDED", "FAILED", "SUCCESS", "x", ""]),
        "progress": st.integers(-5, 200) | st.text(max_size=3),
        "statusDetails": JSON,
        "result": JSON,
        "results": JSON,
        "errorMessage": st.text(max_size=50) | st.integers(),
        "logs": st.lists(st.text(max_size=40), max_size=5) | st.text(max_size=40),
        "hash": st.text(max_size=40) | st.from_regex(r"\A[0-9a-f]{32}\Z"),
        "metadata": JSON,
    },
)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    REPORT_FIELDS.map(lambda v: json.dumps(v).encode()),
)


def route(uid: str) -> Any:
    ids = st.sampled_from([uid, str(uuid.uuid4())]) | SEGMENT
    return st.one_of(
        st.just("/status"),
        st.just("/action"),
        st.builds(lambda *p: "/download/{}/{}/{}/{}".format(*p), SEGMENT, ids, SEGMENT, SEGMENT),
        st.builds(lambda *p: "/upload/{}/{}/{}".format(*p), SEGMENT, ids, SEGMENT),
        st.lists(SEGMENT, max_size=4).map(lambda p: "/" + "/".join(p)),
    )


def headers_for(uid: str) -> Any:
    return st.fixed_dictionaries(
        {},
        optional={
            "X-Job-Id": st.sampled_from([uid, str(uuid.uuid4()), ""]) | st.text(max_size=40),
            "X-Job-Time": st.sampled_from(["now", "old", "future"])
            | st.from_regex(r"\A[0-9]{1,16}\Z"),
            "X-Job-Hash": st.builds(lambda: secrets.token_hex(32)) | st.text(max_size=70),
            "X-Job-Signature": st.sampled_from(["v2", "v1", "V2", "x"]),
        },
    )


def times(value: str) -> str:
    now = int(time.time() * 1000)
    return {"now": str(now), "old": str(now - 400_000), "future": str(now + 60_000)}.get(
        value, value
    )


def send(hook: str, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    sent = {k: times(v) if k == "X-Job-Time" else v for k, v in headers.items()}
    safe = {k: v.encode("utf-8", "surrogatepass") for k, v in sent.items()}
    try:
        return requests.request(
            method, hook + path, headers=safe, data=body, timeout=15
        ).status_code
    except requests.exceptions.InvalidHeader:
        return 400  # the client library refuses to send it: nothing reached the hook


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_unsigned_or_wrongly_signed_requests_never_fail_nor_change_anything(
    kube: Kube, namespace: str, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    _action, signer = sleeping_action
    before = kube.get_action(namespace, "sleeper")["metadata"]["resourceVersion"]
    answers: dict[int, int] = {}

    @SETTINGS
    @given(
        method=METHODS,
        path=route(signer.uid),
        headers=headers_for(signer.uid),
        body=BODIES,
        wrong_key=st.booleans(),
    )
    def check(
        method: str, path: str, headers: dict[str, str], body: bytes, wrong_key: bool
    ) -> None:
        if wrong_key:  # a correct signature with a key that is not the action's
            headers = headers_v2(signer.uid, "k" * 43, method, path, body, signing_clock())
        status = send(signer.hook, method, path, headers, body)
        answers[status] = answers.get(status, 0) + 1
        assert status < 500, (method, path, headers, body[:100])

    check()
    time.sleep(1.0)  # past the coalescing window
    assert kube.get_action(namespace, "sleeper")["metadata"]["resourceVersion"] == before
    assert sum(answers.values()) >= 150
    print("answers", sorted(answers.items()))


def test_validly_signed_random_requests_never_get_a_5xx(
    sleeping_action: tuple[dict[str, Any], Signed],
) -> None:
    _action, signer = sleeping_action

    @SETTINGS
    @given(method=METHODS, path=route(signer.uid), body=BODIES)
    def check(method: str, path: str, body: bytes) -> None:
        headers = headers_v2(signer.uid, signer.key, method, path, body, signing_clock())
        status = send(signer.hook, method, path, headers, body)
        assert status < 500, (method, path, body[:100])

    check()
