"""Status writes with optimistic concurrency, and the coalescer of progress reports.

Every write patches ``.status`` with the resourceVersion it decided on as a
precondition, retrying on conflict with the action read fresh, so a report can never
overwrite a phase the operator wrote meanwhile (an abort, say), and terminal phases
stay final. Writes that the cached summary decides exactly as the fresh object (a
coalesced progress report of a RUNNING action, an upload's record) start from the
cache and read nothing; the others read the action first.

Coalescing: progress-only reports of one action are merged and written at most once
per window, and every such write of the process waits its turn of the ``WritePacer``
(``asyncaction_hook.pacing``), so their rate stays bounded however many actions run.
Such a report is acknowledged when queued (the next one supersedes it, and
a queued report lost with a crashed hook is replaced by the job's next report).
Terminal reports are never coalesced: pending progress is merged into them and they
are acknowledged only once the patch is in the API server. Pending reports are
flushed on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from asyncaction.api.phases import Phase
from asyncaction.kube import Conflict, paths
from asyncaction.kube.api import Patcher
from asyncaction.logthrottle import ThrottledLog, is_transient
from asyncaction.runtime.indexed_cache import Obj
from asyncaction.timeutil import utcnow
from asyncaction_hook.cache import RUNNING_PHASES, STATUS_BYTES, TERMINAL, ActionCache
from asyncaction_hook.errors import HookError, completed, not_found
from asyncaction_hook.limits import Limits, check_status_size, json_size
from asyncaction_hook.logs import about_uid
from asyncaction_hook.pacing import WritePacer
from asyncaction_hook.reports import Report, status_patch

log = logging.getLogger(__name__)
Extra = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ReportWriter(Protocol):
    """What the coalescer needs of a writer: ``StatusWriter.apply`` and the log fields
    of an action it writes to."""

    async def apply(
        self,
        uid: str,
        report: Report | None,
        extra: Extra | None = None,
        attempt: int | None = None,
        cached: bool = False,
    ) -> dict[str, Any]: ...

    def about(self, uid: str) -> dict[str, Any]: ...


class StatusWriter:
    def __init__(self, kube: Patcher, cache: ActionCache, limits: Limits) -> None:
        self.kube = kube
        self.cache = cache
        self.limits = limits
        self.patches = 0  # for tests and metrics

    def about(self, uid: str) -> dict[str, Any]:
        """Log fields of the action of ``uid`` (its uid alone when it is not cached)."""
        return about_uid(self.cache.action, uid)

    async def apply(
        self,
        uid: str,
        report: Report | None,
        extra: Extra | None = None,
        attempt: int | None = None,
        cached: bool = False,
    ) -> dict[str, Any]:
        """Write ``report`` (and whatever ``extra`` adds) to the action; returns it patched.

        ``attempt`` is the attempt whose key signed the request: the write is refused
        unless it is the action's current attempt as the API server has it and that
        attempt runs, so a job of an earlier or a stopped attempt cannot write (even
        through a lagging cache). ``cached``: the first try patches from the cached
        summary when it decides the write as the fresh object would (``_from_cache``:
        an upload's write and a coalesced progress write read nothing); the
        resourceVersion precondition catches a stale cache, and the retry reads fresh.
        """
        from_cache = False
        for tries in range(10):
            action = self._from_cache(uid, report, attempt) if cached and tries == 0 else None
            from_cache = action is not None
            if action is None:
                action = await self.cache.fresh_action(uid)
            if action is None:
                raise not_found("no action with this id")
            check_attempt(action, attempt)
            if attempt is not None:
                check_running(action, attempt)
            status = action.get("status") or {}
            patch = (
                status_patch(
                    status, report, now=utcnow(), log_tail_lines=self.limits.log_tail_lines
                )
                if report
                else {}
            )
            if extra is not None:
                patch.update(await extra(action))
            if not patch:
                return action
            if from_cache:
                # merged JSON is never larger than both parts together: within the limit
                # by that bound, it fits; otherwise only the whole status can tell
                size = action.get(STATUS_BYTES)
                if size is None or size + json_size(patch) > self.limits.max_status_bytes:
                    continue
            else:
                check_status_size(status, patch, self.limits)
            meta = action["metadata"]
            body = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": patch}
            try:
                patched = await self.kube.patch(
                    paths.action_path(meta["namespace"], meta["name"], status=True), body
                )
            except Conflict:
                continue
            self.patches += 1
            self.cache.put(patched)
            return patched
        raise HookError(503, "BUSY", "the action kept changing; retry")

    def _from_cache(self, uid: str, report: Report | None, attempt: int | None) -> Obj | None:
        """The cached summary, when it decides this write as the fresh object would:
        for a report, a RUNNING phase (a transition's conditions are not cached), no log
        lines (nor is the tail) and the status size (for the size limit). A summary that
        would refuse the write is not trusted: only the fresh object refuses."""
        summary = self.cache.action(uid)
        if summary is None:
            return None
        if report is not None:
            phase = (summary.get("status") or {}).get("phase")
            if STATUS_BYTES not in summary or phase != "RUNNING":
                return None
            if report.logs or report.status not in (None, Phase.RUNNING):
                return None
        try:
            check_attempt(summary, attempt)
            if attempt is not None:
                check_running(summary, attempt)
        except HookError:
            return None
        return summary


def check_attempt(action: Mapping[str, Any], attempt: int | None) -> None:
    """Raise 401 unless ``attempt`` (when given) is the action's current attempt."""
    if attempt is None:
        return
    current = (action.get("status") or {}).get("attempts")
    if current != attempt:
        raise HookError(
            401,
            "STALE_ATTEMPT",
            f"signed with the key of attempt {attempt}, but attempt {current} is current",
        )


def check_running(action: Mapping[str, Any], attempt: int | None) -> None:
    """409 unless an attempt of the action runs now: a stopped attempt (backing off,
    paused, aborted) writes nothing, uploads included."""
    phase = (action.get("status") or {}).get("phase")
    if phase in TERMINAL:
        raise completed(str(phase))
    if phase not in RUNNING_PHASES:
        raise HookError(
            409, "NOT_RUNNING", f"attempt {attempt} of this action is not running ({phase})"
        )


@dataclass(slots=True)
class _Pending:
    report: Report
    attempt: int | None = None


class Coalescer:
    def __init__(
        self,
        writer: ReportWriter,
        window: float,
        extra: Extra | None = None,
        keep_lines: int = 100,
        pacer: WritePacer | None = None,
    ) -> None:
        self.writer = writer
        self.window = window
        self.extra = extra  # e.g. verifying pending uploads with every write
        self.keep_lines = keep_lines  # log lines a pending report keeps (the tail's length)
        self.pacer = pacer or WritePacer(0)  # default: no bound beyond the window
        self._pending: dict[str, _Pending] = {}
        self._last_flush: dict[str, float] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        # writes that failed while the API server was down: a line an interval
        self.failure_log = ThrottledLog(log)
        self._closing = False

    def submit(self, uid: str, report: Report, attempt: int | None = None) -> None:
        """Hand ``report`` over to be written within the window: the coalescer keeps it,
        and merges the action's later reports into it in place (the caller must not use
        it again)."""
        pending = self._pending.get(uid)
        if pending is not None and pending.attempt == attempt:
            pending.report.absorb(report)
            report = pending.report
        if report.logs and len(report.logs) > self.keep_lines:
            report.logs = report.logs[-self.keep_lines :]
        if pending is None:
            self._pending[uid] = _Pending(report, attempt)
        else:  # updated in place: one entry per action, whatever the rate of reports
            pending.report = report
            pending.attempt = attempt
        if uid not in self._timers:
            # Never written: at once. (A default of 0.0 held the first write of every
            # action for the window while the host's monotonic clock, its uptime, was
            # below the window: on a node booted minutes ago, with a long window.)
            last = self._last_flush.get(uid, float("-inf"))
            delay = max(0.0, last + self.window - time.monotonic())
            self._timers[uid] = asyncio.create_task(self._flush_later(uid, delay))

    def take(self, uid: str, attempt: int | None = None) -> Report | None:
        """Remove and return what is pending for ``uid`` and ``attempt`` (a terminal
        report absorbs it; what an earlier attempt left is dropped)."""
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        pending = self._pending.pop(uid, None)
        return pending.report if pending and pending.attempt == attempt else None

    def put_back(self, uid: str, report: Report, attempt: int | None = None) -> None:
        """``report`` was taken for a write that failed: pending again, under whatever
        arrived meanwhile (a newer report's fields win). It was answered 200 already."""
        pending = self._pending.get(uid)
        if pending is not None and pending.attempt == attempt:
            pending.report = report.merged_with(pending.report)
        elif pending is None:
            self.submit(uid, report, attempt)

    async def _flush_later(self, uid: str, delay: float) -> None:
        await asyncio.sleep(delay)
        # Reports that arrive while this waits for its turn merge into the pending one:
        # the timer stays registered until the write starts.
        await self.pacer.turn()
        self._timers.pop(uid, None)
        await self._flush(uid)

    async def _flush(self, uid: str) -> None:
        pending = self._pending.pop(uid, None)
        if pending is None:
            return
        self._last_flush[uid] = time.monotonic()
        try:
            await self.writer.apply(
                uid, pending.report, extra=self.extra, attempt=pending.attempt, cached=True
            )
        except HookError as exc:
            log.info(
                "dropped coalesced report for %s: %s",
                uid,
                exc.message,
                extra=self.writer.about(uid),
            )
        except Exception as exc:
            if not is_transient(exc) or self._closing:
                log.exception(
                    "could not write coalesced report for %s",
                    uid,
                    extra=self.writer.about(uid),
                )
                return
            self.failure_log.warning(
                "write",
                "could not write coalesced report for %s (%s); it is kept and written again",
                uid,
                exc,
                extra=self.writer.about(uid),
            )
            self._write_again(uid, pending)
            return
        self.failure_log.recovered("write", "coalesced status writes succeed")

    def _write_again(self, uid: str, failed: _Pending) -> None:
        """A write the API server could not take (down, restarting, throttling) waits
        for the next window and the pacer's turn, merged under whatever the job
        reported since: the job may not report again for a long while, and its last
        progress must not be lost to an outage. One entry per action, as ever; what a
        later attempt reported replaces it."""
        newer = self._pending.pop(uid, None)
        if newer is not None and newer.attempt != failed.attempt:
            self._pending[uid] = newer
            return
        # submitted again, then what came since over it: the merge, the tail's bound and
        # the timer (a window after the failed write) are submit's
        self.submit(uid, failed.report, failed.attempt)
        if newer is not None:
            self.submit(uid, newer.report, newer.attempt)

    def forget(self, uid: str) -> None:
        """The action finished or disappeared: nothing of it is kept or written."""
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        self._pending.pop(uid, None)
        self._last_flush.pop(uid, None)

    def prune(self) -> int:
        """Forget flush times older than the window (they no longer delay a write)."""
        horizon = time.monotonic() - self.window
        old = [uid for uid, at in self._last_flush.items() if at < horizon]
        for uid in old:
            del self._last_flush[uid]
        return len(old)

    @property
    def tracked(self) -> int:
        """Entries kept per uid, all maps together (for tests and metrics)."""
        return len(self._pending) + len(self._last_flush) + len(self._timers)

    async def close(self) -> None:
        self._closing = True  # one last try each, then the process ends
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for uid in list(self._pending):
            await self._flush(uid)

    @property
    def backlog(self) -> int:
        """Actions with a report waiting for its window (a metric)."""
        return len(self._pending)

    def pending_view(self, uid: str) -> Mapping[str, Any]:
        pending = self._pending.get(uid)
        return pending.report.model_dump(exclude_none=True) if pending else {}
