"""``GET /task`` and ``POST /task/{id}``: pods of an action lease its tasks one by one.

The hook replica that serves an action (``asyncaction.sharding``) is the only writer of
its task records, so it keeps them in memory (``Book``), loaded once from the action's
task ConfigMaps, and writes a chunk back (resourceVersion precondition) before it
answers: a lease, a completion or a failure is durable when the job hears of it. Every
change also writes ``status.tasks`` (bounded summary) and ``status.progress`` through
the hook's ``StatusWriter`` (fresh read, current attempt only). A lapsed lease is found
when the next request comes; tasks are leased lowest id first.

While other pods hold the last leases, ``GET /task`` answers 202 with ``retryAfter``
rather than 204, so a waiting pod takes over a task whose pod died; 204 means every task
is done, failed for good or excluded.

The summary write costs the API server (and every watcher of the action) the whole
object, whose size grows with ``spec.tasks`` (10,000 tasks: ~700 KB). So an action of
more than ``SMALL_ACTION_TASKS`` tasks gets at most one summary write per
``SUMMARY_INTERVAL`` (the changes in between are written together), a smaller one every
change (its progress moves task by task). Pods exit after a 204, and the operator ends
the action from the summary, so the summary is always written before a 204 is answered.
The records themselves are never deferred.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from asyncaction.api.phases import Phase
from asyncaction.kube import ApiError, KubeClient, NotFound, paths
from asyncaction.manifests.taskrecords import build_task_chunk, task_chunk_name
from asyncaction.tenancy import refused_uris
from asyncaction_client.taskbook import (
    MAX_ERROR,
    MAX_RESULT,
    ROUND_KEY,
    TaskConflict,
    TaskRecord,
    TaskSettings,
    TaskState,
    chunk_count,
    chunk_of,
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
    summary,
    task_name,
)
from asyncaction_hook.dataplane import MAX_INDEX_DIGITS
from asyncaction_hook.errors import HookError, completed, invalid, not_found
from asyncaction_hook.httpmessages import Request, Response, json_response
from asyncaction_hook.limits import parse_json
from asyncaction_hook.logs import about_uid
from asyncaction_hook.writer import check_attempt, check_running

if TYPE_CHECKING:
    from asyncaction_hook.app import Hook

TERMINAL = {p.value for p in Phase if p.is_terminal}
SMALL_ACTION_TASKS = 100
SUMMARY_INTERVAL = 1.0  # seconds between two summary writes of a larger action

log = logging.getLogger(__name__)


class TaskReport(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: str = Field(pattern="^(executing|done|failed)$")
    result: Any = None
    error_message: str = Field(default="", alias="errorMessage", max_length=4096)
    # the try of the lease reported on (``GET /task`` answers it); None: not checked
    try_number: int | None = Field(default=None, alias="try", ge=1)


@dataclass
class Book:
    """One action's task records and the resourceVersion of each chunk."""

    records: dict[int, TaskRecord] = field(default_factory=dict)
    versions: dict[int, str] = field(default_factory=dict)
    applied_round: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loaded: bool = False
    summary_at: float = float("-inf")  # monotonic time of the last summary write
    summary_later: asyncio.Task[None] | None = None  # a deferred summary write
    # ``status.tasks`` may not show the records: set by every record written (and by a
    # load: a process that died between the two writes), cleared by a summary written
    summary_dirty: bool = False


class TaskBooks:
    """The books of the actions this replica serves, by uid; one goes when its action
    finishes or disappears (``forget``): it is reloaded from its ConfigMaps if the
    action runs again (``tasks retry``)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.books: dict[str, Book] = {}

    def forget(self, uid: str) -> None:
        book = self.books.pop(uid, None)
        if book is not None and book.summary_later is not None:
            book.summary_later.cancel()

    async def write_summary(
        self, hook: Hook, uid: str, book: Book, attempt: int, total: int, final: bool
    ) -> None:
        """Write ``status.tasks`` now (``final``, a small action, or the interval passed)
        or once the interval has passed. The caller holds ``book.lock``. A ``final``
        write that fails raises (the 204 it precedes must not be answered); any other
        is written again by the next change or the 204 (``summary_dirty``): the
        records, already durable, are answered."""
        interval = 0.0 if total <= SMALL_ACTION_TASKS else SUMMARY_INTERVAL
        wait = book.summary_at + interval - time.monotonic()
        if final or wait <= 0:
            if book.summary_later is not None:
                book.summary_later.cancel()
                book.summary_later = None
            try:
                await self._write_now(hook, uid, book, attempt)
            except Exception as exc:
                if final:
                    raise
                self._not_written(hook, uid, exc)
        elif book.summary_later is None:
            book.summary_later = asyncio.get_running_loop().create_task(
                self._write_later(hook, uid, book, attempt, wait)
            )

    async def _write_now(self, hook: Hook, uid: str, book: Book, attempt: int) -> None:
        await _write_summary(hook, uid, book, attempt, _now_ms())
        book.summary_at = time.monotonic()
        book.summary_dirty = False

    async def _write_later(
        self, hook: Hook, uid: str, book: Book, attempt: int, wait: float
    ) -> None:
        await asyncio.sleep(wait)
        async with book.lock:
            book.summary_later = None
            try:
                await self._write_now(hook, uid, book, attempt)
            except Exception as exc:  # the next change (or the 204) writes it
                self._not_written(hook, uid, exc)

    @staticmethod
    def _not_written(hook: Hook, uid: str, exc: Exception) -> None:
        log.info(
            "task summary of %s not written (written again with the next change or"
            " before the last pod is told 204): %s",
            uid,
            exc,
            extra=about_uid(hook.cache.action, uid),
        )

    async def _load(self, action: dict[str, Any], book: Book, total: int) -> None:
        meta = action["metadata"]
        book.records.clear()
        book.versions.clear()
        for chunk in range(chunk_count(total)):
            path = paths.configmap_path(meta["namespace"], task_chunk_name(meta["name"], chunk))
            try:
                found = await self.kube.get(path)
            except NotFound:
                continue
            owners = [r.get("uid") for r in found["metadata"].get("ownerReferences") or []]
            if meta["uid"] not in owners:
                raise HookError(409, "TASKS_TAKEN", f"{path} belongs to another object")
            book.records.update(decode_chunk(found.get("data")))
            book.versions[chunk] = found["metadata"]["resourceVersion"]
            if chunk == 0:
                annotations = found["metadata"].get("annotations") or {}
                book.applied_round = int(annotations.get(ROUND_KEY) or 0)
        book.loaded = True
        book.summary_dirty = True

    async def _save(self, action: dict[str, Any], book: Book, chunks: set[int]) -> None:
        """Write ``chunks`` of the records, chunk 0 last: it carries the retry round
        applied, which must not be durable while a chunk that round re-queued is not
        (a reload would take the round for applied and skip that chunk's tasks)."""
        meta = action["metadata"]
        for chunk in sorted(chunks, key=lambda c: (c == 0, c)):
            annotations = {ROUND_KEY: str(book.applied_round)} if chunk == 0 else {}
            body = build_task_chunk(action, chunk, encode_chunk(book.records, chunk), annotations)
            version = book.versions.get(chunk)
            try:
                if version is None:
                    written = await self.kube.create(paths.configmap_path(meta["namespace"]), body)
                else:
                    body["metadata"]["resourceVersion"] = version
                    written = await self.kube.request(
                        "PUT",
                        paths.configmap_path(meta["namespace"], body["metadata"]["name"]),
                        body=body,
                    )
            except BaseException as exc:
                # The records in memory were changed for this write: whatever failed (a
                # 409, someone else wrote; a 503, the API server restarting; a
                # cancellation), reload the durable ones before the next decision.
                book.loaded = False
                if isinstance(exc, ApiError) and exc.status == 409:
                    raise HookError(
                        503, "TASKS_CHANGED", "the task records changed; retry"
                    ) from exc
                raise
            book.versions[chunk] = written["metadata"]["resourceVersion"]
            book.summary_dirty = True

    async def open(
        self, action: dict[str, Any], spec: dict[str, Any], now_ms: int
    ) -> tuple[Book, bool]:
        """The action's book, loaded, with retry requests and lapsed leases applied, and
        whether that changed a record. ``spec``: the resolved one (``Hook.spec_of``):
        tasks and their settings may come from the template. The caller holds
        ``book.lock``."""
        book = self.books.setdefault(action["metadata"]["uid"], Book())
        total = len(spec.get("tasks") or [])
        if not book.loaded:
            await self._load(action, book, total)
        changed_any = False
        wanted = requested_round(spec)
        if wanted > book.applied_round:
            changed_any = True
            names = (spec.get("taskRetry") or {}).get("tasks")
            ids = retry_ids(spec, [str(n) for n in names]) if names else None
            changed = retry(book.records, ids)
            book.applied_round = wanted
            await self._save(action, book, {chunk_of(i) for i in changed} | {0})
        lapsed = expire(book.records, TaskSettings.of(spec), now_ms)
        if lapsed:
            changed_any = True
            await self._save(action, book, {chunk_of(i) for i in lapsed})
        return book, changed_any


def retry_ids(spec: dict[str, Any], names: list[str]) -> list[int]:
    """Ids of the tasks ``spec.taskRetry.tasks`` names; a name that is no task is left
    out (the CLI refuses it; a hand-written patch may carry one), never a reason to
    re-queue others."""
    ids: list[int] = []
    for name in names:
        try:
            ids.extend(resolve(spec, [name]))
        except KeyError:
            log.info("taskRetry names no task %r: ignored", name)
    return ids


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _write_summary(hook: Hook, uid: str, book: Book, attempt: int, now_ms: int) -> None:
    async def tasks_status(fresh: dict[str, Any]) -> dict[str, Any]:
        # the resolved spec: tasks from a template were counted as none ("all 0 task(s)
        # done") while one had failed, and the action SUCCEEDED (found by a review)
        doc = summary(hook.spec_of(fresh), book.records, now_ms, book.applied_round)
        return {"tasks": doc, "progress": progress(doc)}

    # From the cached summary (it holds the task list); a stale resourceVersion is
    # caught by the precondition and the writer's retry reads fresh.
    await hook.writer.apply(uid, None, extra=tasks_status, attempt=attempt, cached=True)


def check_current(action: dict[str, Any], attempt: int) -> None:
    """Only the pods of the attempt that runs now take or report tasks: a pod left over
    from a failed attempt must not lease the tasks a retry re-queued. The answers are the
    other writes' (401 ``STALE_ATTEMPT``, 409 ``NOT_RUNNING``: docs/security.md), but a
    pod of the next attempt, whose start is not recorded yet, is told to retry."""
    current = (action.get("status") or {}).get("attempts")
    if attempt == (current or 0) + 1:
        raise HookError(503, "NOT_READY", "the new attempt is not recorded yet; retry")
    check_attempt(action, attempt)
    check_running(action, attempt)


async def get_task(hook: Hook, request: Request, info: Mapping[str, str]) -> Response:
    caller = await hook.authenticate(request)
    action = hook.action(caller.uid)
    phase = (action.get("status") or {}).get("phase")
    if phase in TERMINAL:
        raise completed(phase)
    check_current(action, caller.attempt)
    spec = hook.spec_of(action)  # the resolved spec, from the hook's caches
    tasks = spec.get("tasks") or []
    if not tasks:
        return Response(204)
    now_ms = _now_ms()
    books = hook.task_books
    book = books.books.setdefault(caller.uid, Book())
    async with book.lock:
        book, changed = await books.open(action, spec, now_ms)
        excluded = excluded_ids(spec)
        settings = TaskSettings.of(spec)
        while True:
            lease = next_lease(book.records, len(tasks), excluded, settings, now_ms)
            if lease is None:
                break
            task = tasks[lease.index]
            refused = refused_uris(
                {"tasks": [task]}, action["metadata"]["namespace"], hook.stores.scopes
            )
            if not refused:
                break
            book.records[lease.index] = TaskRecord(
                TaskState.FAILED, lease.record.tries, 0, refused[0][:MAX_ERROR], None
            )
            await books._save(action, book, {chunk_of(lease.index)})
            changed = True
        if lease is not None:
            await books._save(action, book, {chunk_of(lease.index)})
        wait_ms = pending_lease_ms(book.records, excluded, now_ms)
        settled = lease is None and wait_ms <= 0  # the answer is 204: the pod exits
        if lease is not None or changed or (settled and book.summary_dirty):
            await books.write_summary(
                hook, caller.uid, book, caller.attempt, len(tasks), final=settled
            )
    if lease is None:
        if wait_ms > 0:
            retry_after = max(0.2, min(5.0, wait_ms / 1000))
            return json_response({"retryAfter": retry_after}, status=202)
        return Response(204)
    task = tasks[lease.index]
    return json_response(
        {
            "id": str(lease.index),
            "name": task_name(task, lease.index),
            "parameters": task.get("parameters") or {},
            "inputs": task.get("inputs") or [],
            "leaseSeconds": settings.lease_seconds,
            "try": lease.record.tries,
        }
    )


async def post_task(hook: Hook, request: Request, info: Mapping[str, str]) -> Response:
    caller = await hook.authenticate(request)
    raw = info["id"]
    if not raw.isascii() or not raw.isdigit():
        raise not_found("task ids are decimal integers")
    if len(raw) > MAX_INDEX_DIGITS:  # int() of over 4,300 digits raises: it was a 500
        raise not_found(f"no task {raw[:20]}... ({len(raw)} digits)")
    parsed = parse_json(caller.body, 16)
    try:
        body = TaskReport.model_validate({} if parsed is None else parsed)
    except ValidationError as exc:  # its first line named only the model
        raise invalid(exc) from exc
    if body.result is not None and len(json.dumps(body.result)) > MAX_RESULT:
        raise HookError(413, "TOO_LARGE", f"a task result is at most {MAX_RESULT} bytes")
    action = hook.action(caller.uid)
    phase = (action.get("status") or {}).get("phase")
    if phase in TERMINAL:
        raise completed(phase)
    check_current(action, caller.attempt)
    spec = hook.spec_of(action)  # the resolved spec, from the hook's caches
    index = int(raw)
    if index >= len(spec.get("tasks") or []):
        raise not_found(f"no task {index}")
    now_ms = _now_ms()
    books = hook.task_books
    book = books.books.setdefault(caller.uid, Book())
    async with book.lock:
        book, _ = await books.open(action, spec, now_ms)
        if index in excluded_ids(spec):
            raise HookError(409, "TASK_EXCLUDED", f"task {index} was excluded: stop it")
        before = book.records.get(index)
        try:
            record = report(
                book.records,
                index,
                body.status,
                TaskSettings.of(spec),
                now_ms,
                result=body.result,
                error=body.error_message,
                try_number=body.try_number,
            )
        except TaskConflict as exc:
            raise HookError(409, "TASK_NOT_LEASED", str(exc)) from exc
        if record is not before:  # else the same end again from its try: durable already
            await books._save(action, book, {chunk_of(index)})
            if body.status != "executing":
                await books.write_summary(
                    hook, caller.uid, book, caller.attempt, len(spec["tasks"]), final=False
                )
    return json_response({"id": raw, "state": record.state.value, "tries": record.tries})
