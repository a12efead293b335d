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
    decode_chunk,
    encode_chunk,
    excluded_ids,
    expire,
    next_lease,
    pending_lease_ms,
    progress,
    report,
    resolve,
    retry,
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
