"""The clients' watch loop without I/O (``asyncaction_client.watchloop``): every step a
driver takes, on a fake clock, with the events the API server sends."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from asyncaction_client.errors import (
    NOT_SERVED,
    ActionNotFound,
    ApiError,
    refusal_about,
    short_reason,
)
from asyncaction_client.model import WatchError
from asyncaction_client.watchloop import RETRYABLE_STATUS, WATCH_SECONDS, WatchLoop


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def action(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}}


def listing(version: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": version}, "items": list(items)}


def test_a_list_then_a_watch_from_its_version() -> None:
    loop = WatchLoop(None, None)
    assert (loop.running(), loop.must_list) == (True, True)
    assert loop.listed(listing("7", action("a", "5"), action("b", "6"))) == [
        ("LISTED", action("a", "5")),
        ("LISTED", action("b", "6")),
    ]
    assert (loop.version, loop.must_list, loop.listed_once, loop.expired()) == (
        "7",
        False,
        True,
        False,
    )
    assert loop.watch_seconds() == WATCH_SECONDS
    assert loop.received({"type": "MODIFIED", "object": action("a", "8")}) == [
        ("CHANGED", action("a", "8"))
    ]
    assert loop.received({"type": "ADDED", "object": action("c", "9")}) == [
        ("CHANGED", action("c", "9"))
    ]
    assert loop.received({"type": "BOOKMARK", "object": action("", "12")}) == []
    assert loop.version == "12"
    assert loop.received({"type": "DELETED", "object": action("b", "13")}) == [
        ("DELETED", action("b", "13"))
    ]
    assert (loop.version, loop.running()) == ("13", True)


def test_a_list_by_name_that_finds_nothing_says_missing() -> None:
    loop = WatchLoop("metadata.name=a", None)
    assert loop.listed(listing("7")) == [("MISSING", {})]
    assert WatchLoop(None, None).listed(listing("7")) == []  # a list of all: just empty
    assert WatchLoop("metadata.name=a", None).listed(listing("7", action("a", "1"))) == [
        ("LISTED", action("a", "1"))
    ]


def test_410_gone_lists_again_and_another_error_event_raises() -> None:
    loop = WatchLoop(None, None)
    loop.listed(listing("7"))
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}
    assert loop.received(gone) == []
    assert (loop.version, loop.must_list) == (None, True)
    loop.listed(listing("20"))
    loop.gone()  # a 410 answer to the watch request itself
    assert loop.must_list
    loop.listed(listing("21"))
    with pytest.raises(WatchError, match="watch error 500: etcd"):
        loop.received({"type": "ERROR", "object": {"code": 500, "message": "etcd"}})


def test_the_first_list_runs_even_past_the_deadline_then_the_deadline_ends_it() -> None:
    clock = Clock()
    loop = WatchLoop("metadata.name=a", deadline=clock.now - 1, clock=clock)
    assert (loop.running(), loop.expired()) == (True, True)
    loop.listed(listing("7", action("a", "5")))
    assert loop.running() is False
    loop = WatchLoop(None, deadline=clock.now + 20.5, clock=clock)
    loop.listed(listing("7"))
    assert (loop.running(), loop.expired(), loop.watch_seconds()) == (True, False, 21)
    clock.now += 20.2
    assert loop.watch_seconds() == 1  # never 0: the server would read 0 as its default
    clock.now += 0.3
    assert (loop.running(), loop.expired()) == (False, True)
    assert WatchLoop(None, deadline=clock.now + 500, clock=clock).watch_seconds() == WATCH_SECONDS


def test_failures_back_off_within_the_deadline_until_the_server_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "asyncaction_client")
    clock = Clock()
    loop = WatchLoop(None, deadline=clock.now + 3, clock=clock)
    loop.listed(listing("7"))
    down = ConnectionRefusedError(111, "Connection refused")
    assert [loop.interrupted(down) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert loop.interrupted(down) == 3.0  # 4 s of backoff, 3 s of deadline left
    clock.now += 2.5
    assert loop.interrupted(down) == 0.5
    loop.connected()
    assert loop.failures == 0
    assert loop.interrupted(down) == 0.5  # from the least again
    loop.listed(listing("8"))
    assert loop.failures == 0
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "listed 0 action(s) at version 7; watching"
    assert messages[1] == f"watch interrupted ({short_reason(down)}); reconnecting in 0.5s"
    assert "reconnected; watching from version 7" in messages
    loop.connected()  # no failure since: nothing to say
    assert messages == [r.getMessage() for r in caplog.records]


# The API server's answers (kube-apiserver 1.20, recorded): any custom resource while
# it has not read the CRDs (after a start, or never if none is installed), and a
# missing object.
PAGE_NOT_FOUND = b"404 page not found\n"
OBJECT_NOT_FOUND = json.dumps(
    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
     "message": 'asyncactions.asyncaction.dev "nope" not found', "reason": "NotFound",
     "details": {"name": "nope", "group": "asyncaction.dev", "kind": "asyncactions"},
     "code": 404}
).encode()  # fmt: skip


@dataclass
class Refused:
    """What either Kubernetes library's ApiException carries."""

    status: int | None
    body: object = b""
    reason: object = ""


def test_what_is_worth_watching_again() -> None:
    assert RETRYABLE_STATUS == (None, 0, 429, 500, 502, 503, 504)
    loop = WatchLoop(None, None)
    worth = [loop.worth_retrying(Refused(s)) for s in (None, 0, 429, 503, 403, 410, 422)]
    assert worth == [True, True, True, True, False, False, False]
    # before any list answered, "404 page not found" says no CRD: the caller's to see
    assert not loop.worth_retrying(Refused(404, PAGE_NOT_FOUND))
    loop.listed(listing("5"))
    # after it, the same answer is a server that has just restarted (found by the e2e
    # API-server restart, where it ended a running wait)
    assert loop.worth_retrying(Refused(404, PAGE_NOT_FOUND))
    assert not loop.worth_retrying(Refused(404, OBJECT_NOT_FOUND))
    assert not loop.worth_retrying(Refused(403, PAGE_NOT_FOUND))


def test_a_refusal_about_an_action_is_not_found_only_when_it_names_it() -> None:
    missing = refusal_about(Refused(404, OBJECT_NOT_FOUND), "ns", "nope")
    assert type(missing) is ActionNotFound
    assert str(missing) == 'asyncaction "nope" not found in namespace "ns"'
    unserved = refusal_about(Refused(404, PAGE_NOT_FOUND, "Not Found"), "ns", "nope")
    assert type(unserved) is ApiError
    assert (unserved.status, str(unserved)) == (404, NOT_SERVED)
    assert "is the CustomResourceDefinition installed?" in NOT_SERVED
    forbidden = refusal_about(Refused(403, b'{"message": "no"}', "Forbidden"), "ns", "x")
    assert (type(forbidden), str(forbidden)) == (ApiError, "no (403)")


def test_a_first_list_that_fails_after_the_deadline_ends_the_wait() -> None:
    """The first list runs even when the deadline has passed (a wait with no time left
    still reports an action that had finished), but only once: while the API server
    refused it, the loop retried with no pause, 1,025 lists in 2.5 s, until the backoff
    overflowed (found by review)."""
    clock = Clock()
    loop = WatchLoop("metadata.name=a", clock.now - 1, clock=clock)
    assert loop.running()
    assert loop.interrupted(ConnectionRefusedError()) == 0.0
    assert not loop.running()


def test_the_backoff_stays_finite_after_any_number_of_failures() -> None:
    loop = WatchLoop(None, None)
    for _ in range(2000):
        delay = loop.interrupted(ConnectionRefusedError())
    assert delay == 8.0


def test_a_list_asks_no_longer_than_the_time_left_and_some_seconds() -> None:
    clock = Clock()
    assert WatchLoop(None, None, clock=clock).list_seconds() == 30.0
    assert WatchLoop(None, clock.now + 2, clock=clock).list_seconds() == 5.0
    assert WatchLoop(None, clock.now + 20, clock=clock).list_seconds() == 21.0
    assert WatchLoop(None, clock.now - 5, clock=clock).list_seconds() == 5.0


def test_a_relist_reports_what_went_or_was_recreated_during_the_gap() -> None:
    """Found by a review: after a 410 or a restart the relist took a re-created action
    for the one waited on (wait returned the new one's result), and an action deleted
    during the gap stayed in a watch's table for ever."""
    loop = WatchLoop(None, None)
    first = {"metadata": {"namespace": "ns", "name": "job", "uid": "u-old", "resourceVersion": "1"}}
    other = {"metadata": {"namespace": "ns", "name": "b", "uid": "u-b", "resourceVersion": "2"}}
    assert loop.listed(listing("2", first, other)) == [("LISTED", first), ("LISTED", other)]
    loop.gone()
    again = {"metadata": {"namespace": "ns", "name": "job", "uid": "u-new", "resourceVersion": "9"}}
    assert loop.listed(listing("9", again)) == [
        ("DELETED", {"metadata": {"namespace": "ns", "name": "job", "uid": "u-old"}}),
        ("DELETED", {"metadata": {"namespace": "ns", "name": "b", "uid": "u-b"}}),
        ("LISTED", again),
    ]
    assert loop.listed(listing("10", again)) == [("LISTED", again)]  # nothing went


def test_a_404_that_names_nothing_after_the_server_was_unreachable_is_a_restart() -> None:
    loop = WatchLoop(None, None)
    loop.interrupted(ConnectionRefusedError())  # the wait began while it was down
    assert loop.worth_retrying(Refused(404, PAGE_NOT_FOUND))


def test_a_request_waits_no_longer_than_the_deadline_and_some_seconds() -> None:
    clock = Clock()
    assert WatchLoop(None, None, clock=clock).request_seconds(60) == 90
    loop = WatchLoop(None, clock.now + 2, clock=clock)
    assert loop.request_seconds(3) == 7  # 2 s left and 5
    clock.now += 10
    assert loop.request_seconds(1) == 5  # past it: the least a request is given
