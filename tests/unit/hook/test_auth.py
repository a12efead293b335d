import uuid

import pytest

from asyncaction_hook.auth import (
    SignedHeaders,
    WindowReplayGuard,
    check_replay,
    check_still_in_window,
    matching_attempt,
    parse_headers,
)
from asyncaction_hook.errors import HookError
from asyncaction_job.signing import Signer, headers_v1, headers_v2

NOW = 1_800_000_000_000
KEY = "k" * 43
UID = "0b9f1a52-52d4-4bd6-9b4f-8f7c0a0e1c11"


def keyed(*secrets: str) -> tuple[Signer, ...]:
    return tuple(Signer(secret) for secret in secrets)


def parse(headers: dict[str, str], **over: object) -> SignedHeaders:
    args: dict[str, object] = {
        "now_ms": NOW,
        "past_seconds": 300,
        "future_seconds": 5,
        "allow_v1": True,
    }
    args.update(over)
    return parse_headers(headers, **args)  # type: ignore[arg-type]


def check(headers: dict[str, str], body: bytes = b"{}", **over: object) -> tuple[int, int]:
    signed = parse(headers)
    args: dict[str, object] = {
        "method": "POST",
        "path": "/hook/status",
        "body": body,
        "candidates": [(3, (Signer("other-key"), Signer(KEY)))],
    }
    args.update(over)
    return matching_attempt(signed, **args), signed.version  # type: ignore[arg-type]


def test_v2_covers_method_path_and_body() -> None:
    headers = headers_v2(UID, KEY, "POST", "/hook/status", b"{}", NOW)
    assert check(headers) == (3, 2)
    for change in ({"body": b"{ }"}, {"path": "/status"}, {"method": "PUT"}):
        with pytest.raises(HookError) as caught:
            check(headers, **change)
        assert caught.value.status == 401


def test_v1_signs_the_time_only_and_can_be_refused() -> None:
    headers = headers_v1(UID, KEY, NOW)
    assert check(headers, body=b"anything") == (3, 1)
    with pytest.raises(HookError, match="version 1 is disabled"):
        parse(headers, allow_v1=False)


def test_the_attempt_whose_key_signed_is_returned() -> None:
    headers = headers_v2(UID, "next-attempt-key", "POST", "/hook/status", b"{}", NOW)
    candidates = [(3, keyed(KEY)), (4, keyed("next-attempt-key"))]
    assert check(headers, candidates=candidates) == (4, 2)
    with pytest.raises(HookError, match="bad signature"):
        check(headers, candidates=[(3, keyed(KEY))])


@pytest.mark.parametrize(
    ("skew", "allowed"),
    [(-301_000, False), (-299_000, True), (4_000, True), (6_000, False), (299_000, False)],
)
def test_time_window_is_the_past_window_and_a_small_future_skew(skew: int, allowed: bool) -> None:
    headers = headers_v2(UID, KEY, "POST", "/hook/status", b"{}", NOW + skew)
    if allowed:
        assert check(headers) == (3, 2)
    else:
        with pytest.raises(HookError, match=r"too old|future"):
            check(headers)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"X-Job-Id": "no-such-id"}, "UUID"),
        ({"X-Job-Id": UID.upper()}, "UUID"),
        ({"X-Job-Time": "١٨٠٠٠٠٠٠٠٠٠٠٠"}, "ASCII digits"),  # Arabic-Indic digits
        ({"X-Job-Time": "²"}, "ASCII digits"),  # isdigit() but not int()
        ({"X-Job-Time": "1" * 40}, "ASCII digits"),
        ({"X-Job-Hash": "zz" * 32}, "64 hex"),
        ({"X-Job-Hash": "ab"}, "64 hex"),
        ({"X-Job-Time": ""}, "required"),
        ({"X-Job-Id": ""}, "required"),
    ],
)
def test_malformed_headers_are_refused_before_any_key_is_derived(
    change: dict[str, str], message: str
) -> None:
    headers = {**headers_v2(UID, KEY, "POST", "/hook/status", b"{}", NOW), **change}
    with pytest.raises(HookError, match=message) as caught:
        parse(headers)
    assert caught.value.status == 401


def signed(signature: str, time_ms: int, job_id: str = UID) -> SignedHeaders:
    return SignedHeaders(job_id, str(time_ms), time_ms, signature, 2)


def test_replays_are_refused_per_action() -> None:
    guard = WindowReplayGuard(past_seconds=300)
    other = str(uuid.UUID(int=8))
    check_replay(guard, signed("sig", NOW), NOW)
    check_replay(guard, signed("sig", NOW, other), NOW)
    with pytest.raises(HookError) as caught:
        check_replay(guard, signed("sig", NOW), NOW)
    assert caught.value.reason == "REPLAYED"


def test_replay_memory_holds_the_whole_window_at_any_rate() -> None:
    """The old memory kept 200,000 entries: at 3,000 reports/s, 65 s of a 300 s window."""
    guard = WindowReplayGuard(past_seconds=300, future_seconds=5)
    first = signed("first", NOW)
    assert guard.accept_once(first.job_id, first.signature, NOW, NOW)
    for n in range(250_000):  # a flood signed one second later, then time moves on
        assert guard.accept_once(UID, f"s{n}", NOW + 1000, NOW + 1000)
    late = NOW + 299_000  # still inside the window: the time check would let it through
    assert not guard.accept_once(first.job_id, first.signature, NOW, late)
    assert guard.size == 250_001


def test_replay_memory_forgets_only_what_the_time_check_refuses() -> None:
    guard = WindowReplayGuard(past_seconds=300, future_seconds=5)
    for second in range(400):
        t = NOW + second * 1000
        assert guard.accept_once(UID, f"s{second}", t, t)
    # kept: signatures the window still admits (at most ~301 s of them), nothing older
    assert 300 <= guard.size <= 303
    assert not guard.accept_once(UID, "s399", NOW + 399_000, NOW + 399_000)


@pytest.mark.parametrize(
    ("skew", "allowed"),
    [(-300_000, True), (-300_001, False), (5_000, True), (5_001, False)],
)
def test_the_window_edges_are_inclusive_to_the_millisecond(skew: int, allowed: bool) -> None:
    headers = headers_v2(UID, KEY, "POST", "/hook/status", b"{}", NOW + skew)
    if allowed:
        assert parse(headers).time_ms == NOW + skew
    else:
        with pytest.raises(HookError) as caught:
            parse(headers)
        assert (caught.value.status, caught.value.reason) == (401, "UNAUTHORIZED")


def test_parsed_headers_carry_every_field_and_a_lower_case_signature() -> None:
    headers = headers_v2(UID, KEY, "POST", "/hook/status", b"{}", NOW)
    upper = {**headers, "X-Job-Hash": headers["X-Job-Hash"].upper(), "X-Job-Signature": "V2"}
    assert parse(upper) == SignedHeaders(UID, str(NOW), NOW, headers["X-Job-Hash"], 2)
    v1 = headers_v1(UID, KEY, NOW)
    assert parse(v1) == SignedHeaders(UID, str(NOW), NOW, v1["X-Job-Hash"], 1)
    with pytest.raises(HookError, match="version 1 is disabled") as caught:
        parse(v1, allow_v1=False)
    assert (caught.value.status, caught.value.reason) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize("missing", ["X-Job-Id", "X-Job-Time", "X-Job-Hash"])
def test_each_missing_header_is_a_401(missing: str) -> None:
    headers = headers_v2(UID, KEY, "POST", "/hook/status", b"{}", NOW)
    del headers[missing]
    with pytest.raises(HookError, match="required") as caught:
        parse(headers)
    assert (caught.value.status, caught.value.reason) == (401, "UNAUTHORIZED")


def test_the_first_matching_candidate_wins_and_every_key_is_tried() -> None:
    headers = headers_v2(UID, KEY, "PUT", "/upload/out.csv", b"", NOW)
    found = matching_attempt(
        parse(headers),
        method="PUT",
        path="/upload/out.csv",
        body=b"",
        candidates=[(1, keyed("a", "b")), (2, keyed("c", KEY)), (3, keyed(KEY))],
    )
    assert found == 2
    with pytest.raises(HookError) as caught:
        matching_attempt(parse(headers), method="PUT", path="/other", body=b"", candidates=[])
    assert (caught.value.status, caught.value.reason) == (401, "UNAUTHORIZED")


def test_a_signature_is_remembered_until_the_window_has_passed_its_second() -> None:
    guard = WindowReplayGuard(past_seconds=10, future_seconds=5)
    assert guard.accept_once(UID, "s", NOW, NOW)
    assert guard.size == 1
    # its second is kept while the time check could still admit it, and a bit more
    assert not guard.accept_once(UID, "s", NOW, NOW + 10_000)
    assert not guard.accept_once(UID, "s", NOW, NOW + 10_999)
    assert not guard.accept_once(UID, "s", NOW, NOW + 11_999)  # one second of margin
    assert guard.size == 1
    # long after, its second is forgotten (the time check refuses it anyway)
    assert guard.accept_once(UID, "s", NOW, NOW + 12_000)
    assert guard.size == 1
    # a signature of another second is kept apart
    assert guard.accept_once(UID, "s", NOW + 1000, NOW + 12_000)
    assert guard.size == 2


def test_each_signature_of_an_action_is_its_own_in_the_replay_memory() -> None:
    """Two requests of one action signed in the same second are both new."""
    guard = WindowReplayGuard(past_seconds=300)
    check_replay(guard, signed("a" * 64, NOW), NOW)
    check_replay(guard, signed("b" * 64, NOW), NOW)
    with pytest.raises(HookError) as caught:
        check_replay(guard, signed("b" * 64, NOW), NOW + 1)
    assert (caught.value.status, caught.value.reason) == (401, "REPLAYED")


def test_the_sweep_alone_shrinks_the_replay_memory() -> None:
    """With no request arriving, ``expire`` (called by the hook's sweep) still forgets."""
    guard = WindowReplayGuard(past_seconds=10, future_seconds=5)
    assert guard.accept_once(UID, "old", NOW, NOW)
    assert guard.accept_once(UID, "new", NOW + 5_000, NOW + 5_000)
    guard.expire(NOW + 11_999)
    assert guard.size == 2  # "old" could still be replayed within the window and margin
    guard.expire(NOW + 12_000)
    assert guard.size == 1
    assert not guard.accept_once(UID, "new", NOW + 5_000, NOW + 12_000)


def test_a_signature_that_aged_past_the_window_is_refused_saying_why() -> None:
    """The job's client shows this text: it names the header and what to do. The window
    is checked again when a signature is accepted (a body can take ``hold_seconds``)."""
    aged = headers_v2(UID, KEY, "POST", "/hook/status", b"{}", NOW - 301_000)
    stale = parse(aged, now_ms=NOW - 2_000)  # passed the time check two seconds ago
    for refuse in (
        lambda: parse(aged),
        lambda: check_still_in_window(stale, now_ms=NOW, past_seconds=300),
    ):
        with pytest.raises(HookError) as caught:
            refuse()
        assert (caught.value.status, caught.value.reason, caught.value.message) == (
            401,
            "UNAUTHORIZED",
            "X-Job-Time is too old: check the clock, and sign each request anew",
        )
    check_still_in_window(stale, now_ms=NOW - 2_000, past_seconds=300)  # still inside
