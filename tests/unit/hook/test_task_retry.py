"""Which tasks a ``spec.taskRetry`` re-queues, as the hook reads it."""

from __future__ import annotations

from asyncaction_hook.tasks import retry_ids


def test_unknown_names_are_left_out_and_the_others_retried() -> None:
    spec = {"tasks": [{"name": f"t{i}"} for i in range(13)] + [{}]}
    # "x12" names no task: before, every task whose id did not appear in the error
    # text ("'x12'") was re-queued, all but 1, 2 and 12.
    assert retry_ids(spec, ["x12", "t3", "13"]) == [3, 13]
    assert retry_ids(spec, ["task-13"]) == [13]  # the default name of an unnamed task
    assert retry_ids(spec, ["nope"]) == []
    assert retry_ids(spec, ["14"]) == []  # past the end
