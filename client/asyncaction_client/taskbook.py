"""The tasks of an action (``spec.tasks``): their states, leases and the bounded summary.

Pure (``now`` is an argument). The job hook leases tasks and records their ends with
it, the CLI lists them, the operator reads the summary in ``status.tasks``.

Where the per-task record lives, and why: in ConfigMaps owned by the action, one per
``CHUNK`` tasks (``<action>-tasks-<n>``, data key ``tasks``). The API server is the one
store every deployment has (S3 is optional), its resourceVersion gives the hook
compare-and-swap writes, the owner reference removes the records with the action,
``kubectl``/``asyncaction tasks`` read them with the user's own credentials, and a chunk
of 500 records stays far below the 1 MiB object limit (a record keeps at most
``MAX_ERROR`` + ``MAX_RESULT`` characters). A task never touched has no record: it is
queued, so a 10,000-task action costs nothing until its tasks run. ``status.tasks``
holds only counts, id ranges per state and the failing tasks (``summary``, well under
16 KiB), so the action object stays small whatever the number of tasks.

A task's id is its index in ``spec.tasks``; its name defaults to ``task-<id>``. States:
``queued``, ``executing`` (leased until ``lease``), ``done``, ``failed`` (retries
exhausted), ``excluded`` (named in ``spec.excludedTasks`` and not done; never leased).
Each lease counts as one try: a task fails for good when a failure or a lapsed lease
finds it at ``1 + taskRetryLimit`` tries. ``spec.taskRetry`` (``{round, tasks?}``)
re-queues the failed tasks (or those named) once per round.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

CHUNK = 500
DATA_KEY = "tasks"
MAX_ERROR = 256
MAX_RESULT = 1024
MAX_FAILING = 20
MAX_RANGES_CHARS = 1024
DEFAULT_LEASE_SECONDS = 60
DEFAULT_RETRY_LIMIT = 2
# Annotation of chunk 0: the last spec.taskRetry round applied.
ROUND_KEY = "retryRound"


class TaskState(StrEnum):
    QUEUED = "queued"
    EXECUTING = "executing"
    DONE = "done"
    FAILED = "failed"
    EXCLUDED = "excluded"


SETTLED = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.EXCLUDED})


@dataclass(frozen=True)
class TaskRecord:
    state: TaskState = TaskState.QUEUED
    tries: int = 0
    lease_until_ms: int = 0
    error: str = ""
    result: Any = None

    def encode(self) -> list[Any]:
        return [self.state.value, self.tries, self.lease_until_ms, self.error, self.result]

    @classmethod
    def decode(cls, raw: Sequence[Any]) -> TaskRecord:
        state, tries, lease, error, result = (list(raw) + [None] * 5)[:5]
        return cls(TaskState(state), int(tries or 0), int(lease or 0), str(error or ""), result)


def task_name(task: Mapping[str, Any], index: int) -> str:
    return str(task.get("name") or f"task-{index}")


def chunk_of(index: int) -> int:
    return index // CHUNK


def chunk_count(total: int) -> int:
    return max(1, -(-total // CHUNK))


def decode_chunk(data: Mapping[str, str] | None) -> dict[int, TaskRecord]:
    raw = json.loads((data or {}).get(DATA_KEY) or "{}")
    return {int(k): TaskRecord.decode(v) for k, v in raw.items()}


def encode_chunk(records: Mapping[int, TaskRecord], chunk: int) -> dict[str, str]:
    mine = {str(i): r.encode() for i, r in sorted(records.items()) if chunk_of(i) == chunk}
    return {DATA_KEY: json.dumps(mine, separators=(",", ":"))}


@dataclass(frozen=True)
class TaskSettings:
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    retry_limit: int = DEFAULT_RETRY_LIMIT

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> TaskSettings:
        lease = spec.get("taskLeaseSeconds")
        limit = spec.get("taskRetryLimit")
        return cls(
            int(lease) if lease is not None else DEFAULT_LEASE_SECONDS,
            int(limit) if limit is not None else DEFAULT_RETRY_LIMIT,
        )


def excluded_ids(spec: Mapping[str, Any]) -> set[int]:
    """Ids of the tasks ``spec.excludedTasks`` names (by name or by id)."""
    wanted = {str(x) for x in spec.get("excludedTasks") or []}
    tasks = spec.get("tasks") or []
    return {i for i, t in enumerate(tasks) if str(i) in wanted or task_name(t, i) in wanted}


def resolve(spec: Mapping[str, Any], names: Iterable[str]) -> list[int]:
    """Ids of ``names`` (task names or ids); unknown ones raise KeyError naming them."""
    tasks = spec.get("tasks") or []
    by_name = {task_name(t, i): i for i, t in enumerate(tasks)}
    found, unknown = [], []
    for name in names:
        if name in by_name:
            found.append(by_name[name])
        elif name.isdigit() and int(name) < len(tasks):
            found.append(int(name))
        else:
            unknown.append(name)
    if unknown:
        raise KeyError(", ".join(unknown))
    return found


def effective(record: TaskRecord | None, excluded: bool, now_ms: int) -> TaskState:
    """The state a task shows: exclusion wins over anything but done; a lapsed lease
    is queued again (the next lease decides whether its tries are spent)."""
    record = record or TaskRecord()
    if excluded and record.state is not TaskState.DONE:
        return TaskState.EXCLUDED
    if record.state is TaskState.EXECUTING and record.lease_until_ms <= now_ms:
        return TaskState.QUEUED
    return record.state


@dataclass
class Lease:
    index: int
    record: TaskRecord


def expire(
    records: dict[int, TaskRecord], settings: TaskSettings, now_ms: int
) -> dict[int, TaskRecord]:
    """Lapsed leases: queued again, or failed when their tries are spent. Returns the
    records that changed."""
    changed: dict[int, TaskRecord] = {}
    for index, record in records.items():
        if record.state is TaskState.EXECUTING and record.lease_until_ms <= now_ms:
            if record.tries > settings.retry_limit:
                new = replace(
                    record, state=TaskState.FAILED, error="lease lapsed", lease_until_ms=0
                )
            else:
                new = replace(record, state=TaskState.QUEUED, lease_until_ms=0)
            changed[index] = new
    records.update(changed)
    return changed


def next_lease(
    records: dict[int, TaskRecord],
    total: int,
    excluded: set[int],
    settings: TaskSettings,
    now_ms: int,
) -> Lease | None:
    """Lease the first queued task (lowest id) for ``lease_seconds``; None when none is
    queued. The caller persists ``records[lease.index]``."""
    for index in range(total):
        if index in excluded:
            continue
        record = records.get(index) or TaskRecord()
        if record.state is TaskState.QUEUED:
            leased = replace(
                record,
                state=TaskState.EXECUTING,
                tries=record.tries + 1,
                lease_until_ms=now_ms + settings.lease_seconds * 1000,
            )
            records[index] = leased
            return Lease(index, leased)
    return None


def pending_lease_ms(records: Mapping[int, TaskRecord], excluded: set[int], now_ms: int) -> int:
    """Milliseconds until the earliest live lease lapses; 0 when none is live."""
    live = [
        r.lease_until_ms - now_ms
        for i, r in records.items()
        if r.state is TaskState.EXECUTING and i not in excluded and r.lease_until_ms > now_ms
    ]
    return min(live) if live else 0


class TaskConflict(Exception):
    """A report about a task the caller does not hold (done, excluded, re-leased)."""


def report(
    records: dict[int, TaskRecord],
    index: int,
    status: str,
    settings: TaskSettings,
    now_ms: int,
    *,
    result: Any = None,
    error: str = "",
    try_number: int | None = None,
) -> TaskRecord:
    """Apply ``executing`` (renew), ``done`` or ``failed`` to a leased task.

    ``try_number`` is the try of the lease the report is about (the project's clients
    send it; None: not checked). A report of an earlier try is refused: its pod lost the
    lease (a pause, a partition) and another pod holds the task now, whose work it must
    not end or fail. The same end reported again by the try that ended it (a retry whose
    first answer was lost) is answered with the record, unchanged."""
    record = records.get(index) or TaskRecord()
    if try_number is not None and try_number != record.tries:
        raise TaskConflict(
            f"task {index} is at try {record.tries}: this report of try {try_number}"
            " comes from a lease that lapsed"
        )
    if record.state is not TaskState.EXECUTING:
        if try_number is not None and _ended_so(record, status):
            return record
        raise TaskConflict(f"task {index} is {record.state.value}, not leased")
    if status == "executing":
        new = replace(record, lease_until_ms=now_ms + settings.lease_seconds * 1000)
    elif status == "done":
        new = TaskRecord(TaskState.DONE, record.tries, 0, "", result)
    elif status == "failed":
        spent = record.tries > settings.retry_limit
        state = TaskState.FAILED if spent else TaskState.QUEUED
        new = TaskRecord(state, record.tries, 0, error[:MAX_ERROR], result)
    else:
        raise ValueError(f"status must be executing, done or failed, not {status!r}")
    records[index] = new
    return new


def _ended_so(record: TaskRecord, status: str) -> bool:
    """Whether ``record`` (of the reporting try) is what its ``status`` made it: done,
    or failed (for good, or queued again for another try)."""
    if status == "done":
        return record.state is TaskState.DONE
    if status == "failed":
        return record.state in (TaskState.FAILED, TaskState.QUEUED)
    return False


def retry(records: dict[int, TaskRecord], ids: Iterable[int] | None) -> dict[int, TaskRecord]:
    """Re-queue failed tasks (those of ``ids``, or all), with fresh tries."""
    chosen = set(ids) if ids is not None else None
    changed = {
        i: TaskRecord(TaskState.QUEUED, 0, 0, r.error, None)
        for i, r in records.items()
        if r.state is TaskState.FAILED and (chosen is None or i in chosen)
    }
    records.update(changed)
    return changed


def _ranges(ids: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for i in ids:
        if start is None:
            start = prev = i
        elif prev is not None and i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    text = ",".join(parts)
    if len(text) > MAX_RANGES_CHARS:
        text = text[: MAX_RANGES_CHARS - 3].rsplit(",", 1)[0] + ",..."
    return text


def states(
    records: Mapping[int, TaskRecord], total: int, excluded: set[int], now_ms: int
) -> list[TaskState]:
    return [effective(records.get(i), i in excluded, now_ms) for i in range(total)]


def summary(
    spec: Mapping[str, Any],
    records: Mapping[int, TaskRecord],
    now_ms: int,
    retry_round: int,
) -> dict[str, Any]:
    """``status.tasks``: counts, id ranges per state, the failing tasks; bounded."""
    tasks = spec.get("tasks") or []
    total = len(tasks)
    excluded = excluded_ids(spec)
    shown = states(records, total, excluded, now_ms)
    counts = {state.value: 0 for state in TaskState}
    by_state: dict[str, list[int]] = {state.value: [] for state in TaskState}
    for index, state in enumerate(shown):
        counts[state.value] += 1
        by_state[state.value].append(index)
    failing = [
        {
            "id": str(i),
            "name": task_name(tasks[i], i),
            "tries": (records.get(i) or TaskRecord()).tries,
            "error": (records.get(i) or TaskRecord()).error,
        }
        for i in by_state[TaskState.FAILED.value][:MAX_FAILING]
    ]
    return {
        "total": total,
        **counts,
        "ranges": {k: _ranges(v) for k, v in by_state.items() if v},
        "failing": failing,
        "retryRound": retry_round,
    }


def progress(summary_doc: Mapping[str, Any]) -> int:
    """Share of the non-excluded tasks that finished (done or failed for good), 0-100."""
    total = int(summary_doc.get("total") or 0) - int(summary_doc.get("excluded") or 0)
    if total <= 0:
        return 100
    finished = int(summary_doc.get("done") or 0) + int(summary_doc.get("failed") or 0)
    return min(100, finished * 100 // total)


def requested_round(spec: Mapping[str, Any]) -> int:
    return int((spec.get("taskRetry") or {}).get("round") or 0)


def settled(summary_doc: Mapping[str, Any]) -> bool:
    """Every task done, failed or excluded (nothing queued or executing)."""
    return not int(summary_doc.get("queued") or 0) and not int(summary_doc.get("executing") or 0)
