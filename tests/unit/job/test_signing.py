"""The headers a job sends and the clock it signs with, checked against the shared
known-answer vectors (tests/vectors/signing.json) so every field is pinned."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from asyncaction_job.signing import (
    Signer,
    SigningClock,
    headers_v1,
    headers_v2,
    signatures_equal,
    signing_clock,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "signing.json").read_text()
)
JOB_ID = "0b6a1f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize("case", VECTORS["signatureV2"])
def test_v2_headers_are_exactly_the_four_the_hook_reads(case: dict[str, Any]) -> None:
    headers = headers_v2(
        JOB_ID,
        case["secret"],
        case["method"],
        case["path"],
        case["body"].encode(),
        int(case["time"]),
    )
    assert headers == {
        "X-Job-Id": JOB_ID,
        "X-Job-Time": case["time"],
        "X-Job-Hash": case["signature"],
        "X-Job-Signature": "v2",
    }


@pytest.mark.parametrize("case", VECTORS["signatureV1"])
def test_v1_headers_are_the_seed_clients_three(case: dict[str, Any]) -> None:
    headers = headers_v1(JOB_ID, case["secret"], int(case["time"]))
    assert headers == {
        "X-Job-Id": JOB_ID,
        "X-Job-Time": case["time"],
        "X-Job-Hash": case["signature"],
    }


def test_the_clock_follows_the_wall_and_never_repeats_a_millisecond() -> None:
    wall = iter([1_000, 1_000, 999, 1_005, 1_005])
    clock = SigningClock(lambda: next(wall))
    assert [clock() for _ in range(5)] == [1_000, 1_001, 1_002, 1_005, 1_006]


def test_the_default_clock_gives_whole_milliseconds_of_the_epoch() -> None:
    """A fractional value would sign '1700000000000.5', which no hook parses."""
    for clock in (SigningClock(), signing_clock):
        now = clock()
        assert type(now) is int
        # the epoch in ms, not s or µs: within a minute of the wall clock (no speed assumed)
        assert abs(now - time.time() * 1000) < 60_000
        assert clock() > now


def test_the_clock_is_shared_safely_between_threads() -> None:
    clock = SigningClock(lambda: 5)
    seen: list[int] = []

    def take() -> None:
        seen.extend(clock() for _ in range(200))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(5, 5 + 800))


def test_signatures_compare_exactly_and_survive_non_ascii_input() -> None:
    sig = VECTORS["signatureV1"][0]["signature"]
    assert signatures_equal(sig, sig)
    assert not signatures_equal(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert not signatures_equal(sig, sig.upper())
    assert not signatures_equal(sig, "é" * 64)  # a forged header must not raise
    assert not signatures_equal(sig, "")


@pytest.mark.parametrize(("expected", "given"), [("é", "é"), ("é", "?"), ("abc", "日本")])
def test_signature_comparison_never_raises_on_any_text(expected: str, given: str) -> None:
    """Header values are attacker-chosen text: comparing them must answer, not raise."""
    assert signatures_equal(expected, given) in (True, False)


def test_a_keyed_signer_signs_every_vector_and_again() -> None:
    """``Signer`` (the hook keys each job key once and copies it per request) gives the
    vectors' signatures, and the same again: a copy leaves the keyed HMAC unchanged."""
    for case in VECTORS["signatureV2"]:
        signer = Signer(case["secret"])
        args = (case["time"], case["method"], case["path"], case["body"].encode())
        assert [signer.v2(*args), signer.v2(*args)] == [case["signature"]] * 2
    for case in VECTORS["signatureV1"]:
        signer = Signer(case["secret"])
        assert [signer.v1(case["time"]), signer.v1(case["time"])] == [case["signature"]] * 2
