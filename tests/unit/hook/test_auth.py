import pytest

from asyncaction_hook.auth import MemoryReplayGuard, check_replay, verify
from asyncaction_hook.errors import HookError
from asyncaction_job.signing import headers_v1, headers_v2

NOW = 1_800_000_000_000
KEY = "k" * 43


def check(headers: dict[str, str], body: bytes = b"{}", **over: object) -> tuple[str, int]:
    args: dict[str, object] = {
        "method": "POST",
        "path": "/hook/status",
        "body": body,
        "secret": KEY,
        "now_ms": NOW,
        "window_seconds": 300,
        "allow_v1": True,
    }
    args.update(over)
    return verify(headers, **args)  # type: ignore[arg-type]


def test_v2_covers_method_path_and_body() -> None:
    headers = headers_v2("id", KEY, "POST", "/hook/status", b"{}", NOW)
    assert check(headers)[1] == 2
    for change in ({"body": b"{ }"}, {"path": "/status"}, {"method": "PUT"}):
        with pytest.raises(HookError) as caught:
            check(headers, **change)  # type: ignore[arg-type]
        assert caught.value.status == 401


def test_v1_signs_the_time_only_and_can_be_refused() -> None:
    headers = headers_v1("id", KEY, NOW)
    assert check(headers, body=b"anything")[1] == 1
    with pytest.raises(HookError, match="version 1 is disabled"):
        check(headers, allow_v1=False)


@pytest.mark.parametrize("skew", [-301_000, 301_000])
def test_time_window(skew: int) -> None:
    with pytest.raises(HookError, match="window"):
        check(headers_v2("id", KEY, "POST", "/hook/status", b"{}", NOW + skew))
    assert check(headers_v2("id", KEY, "POST", "/hook/status", b"{}", NOW + skew // 2))


def test_wrong_key_and_missing_headers() -> None:
    with pytest.raises(HookError, match="bad signature"):
        check(headers_v2("id", "other", "POST", "/hook/status", b"{}", NOW))
    with pytest.raises(HookError, match="required"):
        check({})


def test_replays_are_refused_per_action() -> None:
    guard = MemoryReplayGuard(ttl_seconds=600)
    check_replay(guard, "a", "sig")
    check_replay(guard, "b", "sig")
    with pytest.raises(HookError) as caught:
        check_replay(guard, "a", "sig")
    assert caught.value.reason == "REPLAYED"


def test_replay_memory_is_bounded() -> None:
    guard = MemoryReplayGuard(ttl_seconds=600, max_entries=3)
    for n in range(10):
        assert guard.accept_once("a", str(n))
    assert len(guard._seen) == 3
