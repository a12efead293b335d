"""Task states, leases, retries and the bounded summary (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asyncaction.api.models import AsyncActionSpec, TasksStatus
from asyncaction_client.taskbook import (
    TaskConflict,
    TaskRecord,
    TaskSettings,
    TaskState,
    chunk_count,
    decode_chunk,
    encode_chunk,
    excluded_ids,
    expire,
    next_lease,
    pending_lease_ms,
    progress,
    report,
    requested_round,
    resolve,
    retry,
    settled,
    summary,
)

SETTINGS = TaskSettings(lease_seconds=10, retry_limit=1)


def spec(count: int, **extra: Any) -> dict[str, Any]:
    doc = {"tasks": [{"name": f"t{i}", "parameters": {"n": i}} for i in range(count)], **extra}
    AsyncActionSpec.model_validate(doc)
    return doc


def test_leases_lowest_queued_first_and_skips_excluded() -> None:
    records: dict[int, TaskRecord] = {}
    first = next_lease(records, 3, {0}, SETTINGS, 1000)
    assert first is not None
    assert (first.index, first.record) == (1, TaskRecord(TaskState.EXECUTING, 1, 11_000))
    second = next_lease(records, 3, {0}, SETTINGS, 1000)
    assert second is not None
    assert second.index == 2
    assert next_lease(records, 3, {0}, SETTINGS, 1000) is None
    assert pending_lease_ms(records, {0}, 4000) == 7000


def test_lapsed_lease_is_leased_again_then_fails_when_tries_are_spent() -> None:
    records: dict[int, TaskRecord] = {}
    next_lease(records, 1, set(), SETTINGS, 0)
    assert expire(records, SETTINGS, 9_999) == {}
    assert expire(records, SETTINGS, 10_000) == {0: TaskRecord(TaskState.QUEUED, 1, 0)}
    again = next_lease(records, 1, set(), SETTINGS, 10_000)
    assert again is not None
    assert again.record.tries == 2
    assert expire(records, SETTINGS, 20_000) == {
        0: TaskRecord(TaskState.FAILED, 2, 0, "lease lapsed")
    }


def test_reports_renew_finish_and_fail_with_retries() -> None:
    records: dict[int, TaskRecord] = {}
    next_lease(records, 2, set(), SETTINGS, 0)
    renewed = report(records, 0, "executing", SETTINGS, 5000)
    assert renewed.lease_until_ms == 15_000
    done = report(records, 0, "done", SETTINGS, 6000, result={"ok": 1})
    assert done == TaskRecord(TaskState.DONE, 1, 0, "", {"ok": 1})
    with pytest.raises(TaskConflict, match="task 0 is done"):
        report(records, 0, "done", SETTINGS, 6000)
    next_lease(records, 2, set(), SETTINGS, 0)
    assert report(records, 1, "failed", SETTINGS, 1, error="boom").state is TaskState.QUEUED
    next_lease(records, 2, set(), SETTINGS, 0)
    spent = report(records, 1, "failed", SETTINGS, 1, error="x" * 999)
    assert (spent.state, spent.tries, len(spent.error)) == (TaskState.FAILED, 2, 256)


def test_a_report_of_a_lapsed_try_is_refused_and_an_end_repeated_by_its_try_is_kept() -> None:
    """Found by a review: worker A's lease lapsed (a pause), B leased the task as try 2,
    then A's late "failed" failed it for good (or re-queued it under B) and B's "done"
    got 409: B's work was lost. A retried "done" whose first answer was lost got 409 and
    crashed its worker."""
    records: dict[int, TaskRecord] = {}
    next_lease(records, 1, set(), SETTINGS, 0)  # A: try 1
    expire(records, SETTINGS, 10_000)
    next_lease(records, 1, set(), SETTINGS, 10_000)  # B: try 2
    for status in ("failed", "done", "executing"):
        with pytest.raises(TaskConflict, match="at try 2: this report of try 1 comes from"):
            report(records, 0, status, SETTINGS, 11_000, error="A: timeout", try_number=1)
    assert records[0] == TaskRecord(TaskState.EXECUTING, 2, 20_000)
    done = report(records, 0, "done", SETTINGS, 12_000, result={"by": "B"}, try_number=2)
    assert done == TaskRecord(TaskState.DONE, 2, 0, "", {"by": "B"})
    # B's "done" again (its answer lost): the same record, nothing changed
    again = report(records, 0, "done", SETTINGS, 13_000, result={"other": 1}, try_number=2)
    assert again is done
    assert records[0] is done
    # but not another end, nor a renewal, nor any report without a try
    for status, try_number in (("failed", 2), ("executing", 2), ("done", None)):
        with pytest.raises(TaskConflict, match="task 0 is done, not leased"):
            report(records, 0, status, SETTINGS, 13_000, try_number=try_number)
    # a "failed" repeated by its try: queued again for another try, or failed for good
    records = {}
    next_lease(records, 1, set(), SETTINGS, 0)
    queued = report(records, 0, "failed", SETTINGS, 1, error="boom", try_number=1)
    assert queued == TaskRecord(TaskState.QUEUED, 1, 0, "boom", None)
    assert report(records, 0, "failed", SETTINGS, 2, error="boom", try_number=1) is queued
    with pytest.raises(TaskConflict, match="task 0 is queued, not leased"):
        report(records, 0, "done", SETTINGS, 2, try_number=1)


def test_retry_requeues_failed_ones_only_with_fresh_tries() -> None:
    records = {
        0: TaskRecord(TaskState.DONE, 1),
        1: TaskRecord(TaskState.FAILED, 3, 0, "boom"),
        2: TaskRecord(TaskState.FAILED, 3, 0, "bang"),
    }
    assert retry(records, [2]) == {2: TaskRecord(TaskState.QUEUED, 0, 0, "bang")}
    assert retry(records, None) == {1: TaskRecord(TaskState.QUEUED, 0, 0, "boom")}
    assert records[0].state is TaskState.DONE


def test_names_and_ids_resolve_and_exclusion_never_hides_done() -> None:
    doc = spec(4, excludedTasks=["t1", "3"])
    assert excluded_ids(doc) == {1, 3}
    assert resolve(doc, ["t2", "0"]) == [2, 0]
    with pytest.raises(KeyError, match="nope"):
        resolve(doc, ["nope"])
    records = {3: TaskRecord(TaskState.DONE, 1)}
    doc_summary = summary(doc, records, 0, 0)
    assert (doc_summary["excluded"], doc_summary["done"], doc_summary["queued"]) == (1, 1, 2)


def test_chunks_round_trip() -> None:
    records = {1: TaskRecord(TaskState.DONE, 1, 0, "", {"a": 1}), 501: TaskRecord()}
    data = encode_chunk(records, 0)
    assert decode_chunk(data) == {1: records[1]}
    assert decode_chunk(encode_chunk(records, 1)) == {501: records[501]}


def test_summary_of_ten_thousand_tasks_stays_under_16_kib() -> None:
    doc = spec(10_000, excludedTasks=[str(i) for i in range(0, 10_000, 97)])
    records: dict[int, TaskRecord] = {}
    for i in range(10_000):  # the worst case: states alternate, many failures
        state = [TaskState.DONE, TaskState.FAILED, TaskState.EXECUTING][i % 3]
        records[i] = TaskRecord(state, 3, 10**13, "e" * 256)
    doc_summary = summary(doc, records, 0, 2)
    TasksStatus.model_validate(doc_summary)
    size = len(json.dumps(doc_summary))
    assert size < 16 * 1024, size
    assert doc_summary["total"] == 10_000
    assert sum(doc_summary[s.value] for s in TaskState) == 10_000
    assert len(doc_summary["failing"]) == 20
    assert doc_summary["ranges"]["done"].endswith(",...")
    assert doc_summary["retryRound"] == 2


def test_progress_is_the_share_of_non_excluded_tasks_finished() -> None:
    assert progress({"total": 10, "excluded": 2, "done": 3, "failed": 1}) == 50
    assert progress({"total": 2, "excluded": 2}) == 100
    doc = summary(spec(3), {0: TaskRecord(TaskState.DONE, 1)}, 0, 0)
    assert progress(doc) == 33
    assert doc["ranges"] == {"done": "0", "queued": "1-2"}


def test_records_decode_every_field_and_fill_what_an_older_writer_left_out() -> None:
    stored = {"tasks": '{"3":["executing",2,1767225600000,"slow",{"n":1}],"7":["queued"]}'}
    assert decode_chunk(stored) == {
        3: TaskRecord(TaskState.EXECUTING, 2, 1_767_225_600_000, "slow", {"n": 1}),
        7: TaskRecord(TaskState.QUEUED, 0, 0, "", None),
    }
    assert decode_chunk(None) == {}
    assert decode_chunk({}) == {}
    records = {3: TaskRecord(TaskState.DONE, 1, 0, "", [1, 2])}
    assert encode_chunk(records, 0) == {"tasks": '{"3":["done",1,0,"",[1,2]]}'}  # compact


def test_settings_and_rounds_come_from_the_spec_with_their_defaults() -> None:
    assert TaskSettings.of(spec(1)) == TaskSettings(60, 2)
    assert TaskSettings.of(spec(1, taskLeaseSeconds=15, taskRetryLimit=0)) == TaskSettings(15, 0)
    assert requested_round(spec(1)) == 0
    assert requested_round(spec(1, taskRetry={"round": 3})) == 3
    assert [chunk_count(n) for n in (0, 1, 500, 501, 10_000)] == [1, 1, 1, 2, 20]


def test_unnamed_tasks_go_by_their_default_name_or_their_id() -> None:
    doc = {"tasks": [{"name": "a"}, {}, {"parameters": {"n": 2}}], "excludedTasks": ["task-2"]}
    AsyncActionSpec.model_validate(doc)
    assert excluded_ids(doc) == {2}
    assert resolve(doc, ["task-1", "a", "2"]) == [1, 0, 2]
    with pytest.raises(KeyError, match=r"^'3, task-9'$"):
        resolve(doc, ["3", "task-9"])  # id 3 is one past the last task


def test_pending_lease_counts_only_live_leases_of_tasks_still_wanted() -> None:
    now = 50_000
    records = {
        0: TaskRecord(TaskState.EXECUTING, 1, now),  # lapses right now: not live
        1: TaskRecord(TaskState.EXECUTING, 1, now + 5_000),
        2: TaskRecord(TaskState.EXECUTING, 1, now + 1_000),  # excluded meanwhile
        3: TaskRecord(TaskState.EXECUTING, 1, now - 9_000),  # lapsed, not yet expired
        4: TaskRecord(TaskState.DONE, 1, 0),
    }
    assert pending_lease_ms(records, {2}, now) == 5_000
    assert pending_lease_ms({4: records[4]}, set(), now) == 0


def test_a_failure_report_keeps_its_result_and_ends_the_lease() -> None:
    records: dict[int, TaskRecord] = {}
    next_lease(records, 1, set(), SETTINGS, 0)
    again = report(records, 0, "failed", SETTINGS, 500, result={"partial": 1}, error="boom")
    assert again == TaskRecord(TaskState.QUEUED, 1, 0, "boom", {"partial": 1})
    next_lease(records, 1, set(), SETTINGS, 1_000)
    spent = report(records, 0, "failed", SETTINGS, 1_500)
    assert spent == TaskRecord(TaskState.FAILED, 2, 0, "", None)
    assert records[0] == spent
    with pytest.raises(ValueError, match="status must be"):
        report({0: TaskRecord(TaskState.EXECUTING, 1, 9)}, 0, "paused", SETTINGS, 0)


def test_progress_reads_a_summary_and_never_divides_by_nothing() -> None:
    assert progress({}) == 100
    assert progress({"total": 1, "done": 0}) == 0
    assert progress({"total": 3, "failed": 2}) == 66
    assert progress({"total": 3}) == 0
    assert settled({"total": 3, "done": 1, "failed": 1, "excluded": 1})
    assert not settled({"total": 3, "done": 2, "queued": 1})
    assert not settled({"total": 3, "done": 2, "executing": 1})
    assert settled({})


def test_summary_lists_failing_tasks_in_full_and_ranges_of_ids() -> None:
    doc = {"tasks": [{"name": f"t{i}"} for i in range(7)] + [{}], "excludedTasks": ["t5"]}
    AsyncActionSpec.model_validate(doc)
    records = {
        0: TaskRecord(TaskState.DONE, 1),
        1: TaskRecord(TaskState.FAILED, 3, 0, "boom"),
        2: TaskRecord(TaskState.DONE, 1),
        3: TaskRecord(TaskState.DONE, 2),
        4: TaskRecord(TaskState.DONE, 1),
        6: TaskRecord(TaskState.EXECUTING, 1, 99),
        7: TaskRecord(TaskState.FAILED, 2, 0, "bang"),
    }
    assert summary(doc, records, 0, 4) == {
        "total": 8,
        "queued": 0,
        "executing": 1,
        "done": 4,
        "failed": 2,
        "excluded": 1,
        "ranges": {"executing": "6", "done": "0,2-4", "failed": "1,7", "excluded": "5"},
        "failing": [
            {"id": "1", "name": "t1", "tries": 3, "error": "boom"},
            {"id": "7", "name": "task-7", "tries": 2, "error": "bang"},
        ],
        "retryRound": 4,
    }


def whole_ids_within(ids: list[int], limit: int) -> str:
    """As many whole ids as fit with ',...' in ``limit`` characters (the test's own rule)."""
    whole = ",".join(map(str, ids))
    if len(whole) <= limit:
        return whole
    kept: list[str] = []
    for i in ids:
        if len(",".join([*kept, str(i)])) + len(",...") > limit:
            break
        kept.append(str(i))
    return ",".join(kept) + ",..."


@pytest.mark.parametrize("total", [540, 542, 2_000])
def test_long_ranges_are_cut_at_a_whole_id_within_1024_characters(total: int) -> None:
    # Every other task done: ids 0,2,...,8 (1 digit), 10..98 (2), 100.. (3): the list of
    # 540 tasks is exactly 1,024 characters; 542 is one id more; 2,000 far more.
    records = {i: TaskRecord(TaskState.DONE, 1) for i in range(0, total, 2)}
    ranges = summary(spec(total), records, 0, 0)["ranges"]
    done = list(range(0, total, 2))
    assert ranges["done"] == whole_ids_within(done, 1024)
    assert len(ranges["done"]) <= 1024
    if total == 540:
        assert ranges["done"] == ",".join(map(str, done))  # exactly 1,024: kept whole
    else:
        assert ranges["done"].endswith(",536,...")  # 0..536 is 1,020 characters


def test_ranges_join_runs_and_single_ids_in_order() -> None:
    records = {i: TaskRecord(TaskState.DONE, 1) for i in (0, 1, 2, 4, 6, 7)}
    assert summary(spec(9), records, 0, 0)["ranges"] == {"done": "0-2,4,6-7", "queued": "3,5,8"}


def test_a_lapsed_lease_shows_as_queued_until_the_hook_expires_it() -> None:
    """What ``asyncaction tasks`` shows between a pod's death and the hook's next look:
    the lease lapsed, so the task waits for another pod (queued), not executing."""
    from asyncaction_client.taskbook import effective, states

    leased = TaskRecord(TaskState.EXECUTING, 1, 5_000)
    assert effective(leased, False, 4_999) is TaskState.EXECUTING
    assert effective(leased, False, 5_000) is TaskState.QUEUED
    assert effective(leased, True, 4_000) is TaskState.EXCLUDED
    done = TaskRecord(TaskState.DONE, 1, 0)
    assert states({0: leased, 1: done}, 3, set(), 6_000) == [
        TaskState.QUEUED,
        TaskState.DONE,
        TaskState.QUEUED,
    ]
