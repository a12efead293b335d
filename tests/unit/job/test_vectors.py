"""The shared known-answer vectors (tests/vectors/signing.json) hold for the Python code.

The same file drives every other language's job client: a change to the separator, the
padding, the method's case or the empty-body hash breaks these tests before it breaks a
rolling upgrade or a Node.js job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asyncaction.keys import derive_action_key
from asyncaction_job.signing import body_digest, sign_v1, sign_v2, v2_message

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "signing.json").read_text()
)


@pytest.mark.parametrize("case", VECTORS["keyDerivation"])
def test_key_derivation(case: dict[str, Any]) -> None:
    key = derive_action_key(
        case["master"].encode(), case["namespace"], case["uid"], case["attempt"]
    )
    assert key == case["key"]


@pytest.mark.parametrize("case", VECTORS["signatureV1"])
def test_signature_v1(case: dict[str, Any]) -> None:
    assert sign_v1(case["secret"], case["time"]) == case["signature"]


@pytest.mark.parametrize("case", VECTORS["signatureV2"])
def test_signature_v2(case: dict[str, Any]) -> None:
    body = case["body"].encode()
    assert body_digest(body) == case["bodySha256"]
    assert v2_message(case["time"], case["method"], case["path"], body) == case["message"]
    assert (
        sign_v2(case["secret"], case["time"], case["method"], case["path"], body)
        == (case["signature"])
    )


def test_vectors_cover_the_edges() -> None:
    """Empty, non-empty and non-ASCII bodies, several methods, a lower-case method, attempts > 1."""
    v2 = VECTORS["signatureV2"]
    assert any(c["body"] == "" and c["bodySha256"] == "" for c in v2)
    assert any(c["body"] for c in v2)
    # a body is hashed as its UTF-8 bytes, never re-encoded as latin-1 like the message
    assert any(any(ord(ch) > 127 for ch in c["body"]) for c in v2)
    assert {c["method"].upper() for c in v2} >= {"GET", "PUT", "POST", "DELETE"}
    assert any(c["method"] != c["method"].upper() for c in v2)
    assert any(c["attempt"] > 1 for c in VECTORS["keyDerivation"])
