"""What a successor of a shard refuses, from what its predecessor handed over (pure)."""

from __future__ import annotations

import json

from asyncaction_hook.fence import (
    ACCEPTED_UNTIL,
    PER_ACTION,
    PER_ACTION_FROM,
    AcceptedLog,
    Handover,
)


def test_after_a_crash_everything_up_to_the_promise_is_refused() -> None:
    annotations = {
        ACCEPTED_UNTIL: "5000",
        PER_ACTION_FROM: "1000",  # never trusted from a holder that did not release
        PER_ACTION: json.dumps({"a": 1500}),
    }
    handover = Handover.from_annotations(annotations, clean=False)
    assert handover == Handover(5000)
    assert handover.refuses("a", 5000)
    assert handover.refuses("b", 4999)
    assert not handover.refuses("b", 5001)


def test_a_clean_release_refuses_only_what_each_action_had_signed() -> None:
    annotations = {
        ACCEPTED_UNTIL: "9000",
        PER_ACTION_FROM: "3000",
        PER_ACTION: json.dumps({"a": 4000}),
    }
    handover = Handover.from_annotations(annotations, clean=True)
    assert handover == Handover(9000, 3000, {"a": 4000})
    assert handover.refuses("a", 4000)  # the predecessor accepted it: a replay
    assert handover.refuses("a", 3500)
    assert not handover.refuses("a", 4001)  # signed after its last accepted request
    assert not handover.refuses("b", 3000)  # b sent nothing to the predecessor since 3000
    assert handover.refuses("b", 2999)  # before the hand-over window: the global bound


def test_a_garbled_or_missing_hand_over_falls_back_to_the_global_bound() -> None:
    assert Handover.from_annotations({}, clean=True) == Handover(0)
    garbled = {ACCEPTED_UNTIL: "7", PER_ACTION_FROM: "1", PER_ACTION: "not json"}
    assert Handover.from_annotations(garbled, clean=True) == Handover(7)


def test_the_accepted_log_gives_the_newest_time_per_action_since_a_moment() -> None:
    log = AcceptedLog(keep_ms=60_000)
    log.record("a", 10_100)
    log.record("a", 10_900)
    log.record("b", 11_500)
    log.record("c", 9_000)
    assert log.newest_ms == 11_500
    assert log.since(10_500) == {"a": 10_900, "b": 11_500}
    assert log.since(12_000) == {}
    for second in range(200):  # old seconds are dropped as time goes on
        log.record("d", 20_000 + second * 1000)
    assert log.since(0).keys() == {"d"}
