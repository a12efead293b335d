"""One warning for many alike (``asyncaction.logthrottle``), on a fake clock."""

from __future__ import annotations

import logging

import pytest

from asyncaction.kube.errors import ApiError, Conflict, NotFound, WriteOutcomeUnknown
from asyncaction.logthrottle import ThrottledLog, is_transient

LOGGER = "test.logthrottle"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_the_first_failure_is_written_the_next_are_counted_into_one_line_an_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = Clock()
    throttled = ThrottledLog(logging.getLogger(LOGGER), interval=30, clock=clock)
    assert throttled.warning("api", "key %s failed", "a") is True
    for second in range(1, 30):  # 29 more within the interval: no line
        clock.now = 100 + second
        assert throttled.warning("api", "key %s failed", f"k{second}") is False
    clock.now = 130
    assert throttled.warning("api", "key %s failed", "z") is True
    clock.now = 135
    assert throttled.warning("other", "the %s kind", "other") is True  # kinds apart
    assert lines(caplog) == [
        (logging.WARNING, "key a failed"),
        (
            logging.WARNING,
            "key z failed (29 more like it in the last 30s, 31 since the first 30s ago)",
        ),
        (logging.WARNING, "the other kind"),
    ]


def test_recovery_waits_for_an_interval_without_failure_then_ends_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = Clock()
    throttled = ThrottledLog(logging.getLogger(LOGGER), interval=30, clock=clock)
    assert throttled.recovered("api", "fine") is False  # nothing failed
    throttled.warning("api", "down")
    clock.now = 110
    throttled.warning("api", "down")
    clock.now = 139  # a success 29 s after the last failure: the outage may go on
    assert throttled.recovered("api", "back") is False
    clock.now = 140
    assert throttled.recovered("api", "back") is True
    assert throttled.recovered("api", "back") is False  # once
    throttled.warning("api", "down again")  # a new run starts with a line of its own
    assert lines(caplog) == [
        (logging.WARNING, "down"),
        (logging.INFO, "back: 2 failure(s) over 10s"),
        (logging.WARNING, "down again"),
    ]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ApiError(503, "ServiceUnavailable", "down"), True),
        (ApiError(429, "TooManyRequests", "slow down"), True),
        (ApiError(500, "InternalError", "etcd"), True),
        (WriteOutcomeUnknown("PATCH", "/x", None), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ApiError(403, "Forbidden", "rbac"), False),
        (ApiError(422, "Invalid", "spec"), False),
        (NotFound(404, "NotFound", "gone"), False),
        (Conflict(409, "Conflict", "stale"), False),
        (KeyError("status"), False),
    ],
)
def test_only_failures_expected_to_pass_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_each_line_counts_since_the_last_one_and_carries_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = Clock()
    throttled = ThrottledLog(logging.getLogger(LOGGER), interval=10, clock=clock)
    fields = {"action": {"name": "a"}}
    throttled.warning("api", "down", extra=fields)
    clock.now = 105
    throttled.warning("api", "down", extra=fields)
    clock.now = 110
    throttled.warning("api", "down", extra=fields)  # the one left out since the first
    clock.now = 120
    throttled.warning("api", "down", extra=fields)  # none left out since the second line
    assert [m for _, m in lines(caplog)] == [
        "down",
        "down (1 more like it in the last 10s, 3 since the first 10s ago)",
        "down (0 more like it in the last 10s, 4 since the first 20s ago)",
    ]
    assert all(getattr(r, "action", None) == {"name": "a"} for r in caplog.records)


def test_a_single_failure_recovers_after_an_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = Clock()
    throttled = ThrottledLog(logging.getLogger(LOGGER), interval=10, clock=clock)
    throttled.warning("api", "down")
    clock.now = 110
    assert throttled.recovered("api", "%s is back", "the API server") is True
    assert lines(caplog)[-1] == (logging.INFO, "the API server is back: 1 failure(s) over 0s")
