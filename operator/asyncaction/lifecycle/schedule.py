"""What an ActionSchedule does now: the pure decision (no I/O, ``now`` is an argument).

``decide(schedule, runs, now)`` returns the status to write, the effects to apply (create
the run of a slot, abort the active runs, delete the oldest finished runs, post an
Event) and when to look again (the next slot). The controller
(``asyncaction.controllers.schedules``) only reads caches and applies the decision.

Why a slot runs at most once:

- a slot is a UTC instant (``lifecycle.cron``: a wall time that repeats when clocks go
  back is one instant), and its run's name is derived from that instant, so a second
  replica or a restarted operator that decides the same slot asks for the same name and
  adopts what exists (only when this schedule owns it);
- only the *latest* due slot is ever considered: after downtime the missed ones are
  counted for a Warning Event, and the latest runs only when it is no later than
  ``startingDeadlineSeconds``;
- the run of the newest slot is never pruned by the history limits, so "the latest
  slot has no run" always means it was never created (a crash between the create and
  the status write), never that it ran and was deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.api.schedules import ConcurrencyPolicy
from asyncaction.lifecycle.cron import CronSchedule, InvalidSchedule
from asyncaction.manifests.naming import bounded_name
from asyncaction.timeutil import format_time, parse_time

# Missed slots are counted up to this many for the Event ("more than 100"), as CronJob.
MISSED_COUNT_LIMIT = 100
# Wake this long after a slot's instant, so the clock surely says it is due.
WAKE_MARGIN_SECONDS = 0.05
FAILED_PHASES = frozenset({Phase.FAILED, Phase.ABORTED, Phase.TIMEOUT})


def run_name(schedule_name: str, slot: datetime) -> str:
    """``<schedule>-<unix seconds of the slot>``: the same slot always gets the same name."""
    return bounded_name(schedule_name, f"-{int(slot.timestamp())}")


@dataclass(frozen=True)
class RunView:
    """What the decision reads of one action the schedule owns."""

    name: str
    uid: str
    scheduled_at: datetime | None
    phase: Phase | None
    finished_at: datetime | None
    abort_requested: bool = False
    # ``ttlSecondsAfterFinished`` set and its work (the record archived, the children
    # removed: ``status.childrenRemovedAt``) not yet done
    ttl_work_pending: bool = False

    @property
    def active(self) -> bool:
        return self.phase is None or not self.phase.is_terminal

    def sort_key(self) -> tuple[float, str]:
        return (self.scheduled_at.timestamp() if self.scheduled_at else 0.0, self.name)


@dataclass(frozen=True)
class ScheduleView:
    """What the decision reads of the ActionSchedule itself."""

    name: str
    generation: int | None
    created_at: datetime
    schedule: str
    time_zone: str | None
    policy: ConcurrencyPolicy
    starting_deadline_seconds: int | None
    successful_history_limit: int
    failed_history_limit: int
    suspend: bool
    status: Mapping[str, Any]


@dataclass(frozen=True)
class Notify:
    """An Event about the schedule; ``slot`` (with the reason) names it, so deciding the
    same slot again posts no second Event."""

    type: str
    reason: str
    message: str
    slot: datetime | None = None


@dataclass(frozen=True)
class CreateRun:
    name: str
    scheduled_at: datetime


@dataclass(frozen=True)
class AbortRun:
    name: str


@dataclass(frozen=True)
class DeleteRun:
    name: str
    uid: str


ScheduleEffect = CreateRun | AbortRun | DeleteRun | Notify


@dataclass
class ScheduleDecision:
    status: dict[str, Any]
    effects: list[ScheduleEffect] = field(default_factory=list)
    requeue_after: float | None = None
    # Status fields to write only once the effects were applied (the slot just created).
    after: dict[str, Any] = field(default_factory=dict)


def schedule_view_from(obj: Mapping[str, Any]) -> ScheduleView:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    created = parse_time(meta.get("creationTimestamp"))
    if created is None:
        raise ValueError("the schedule has no creationTimestamp")
    deadline = spec.get("startingDeadlineSeconds")
    return ScheduleView(
        name=meta["name"],
        generation=meta.get("generation"),
        created_at=created,
        schedule=str(spec.get("schedule") or ""),
        time_zone=spec.get("timeZone"),
        policy=ConcurrencyPolicy(spec.get("concurrencyPolicy") or ConcurrencyPolicy.ALLOW),
        starting_deadline_seconds=int(deadline) if deadline is not None else None,
        successful_history_limit=int(spec.get("successfulHistoryLimit", 3)),
        failed_history_limit=int(spec.get("failedHistoryLimit", 1)),
        suspend=bool(spec.get("suspend")),
        status=obj.get("status") or {},
    )


def _ready(view: ScheduleView, ok: bool, reason: str, message: str, now: datetime) -> list[Any]:
    status = "True" if ok else "False"
    old = next((c for c in view.status.get("conditions") or [] if c.get("type") == "Ready"), None)
    changed = old is None or old.get("status") != status or old.get("reason") != reason
    when = format_time(now)
    if not changed and old is not None:
        when = old.get("lastTransitionTime") or when
    condition: dict[str, Any] = {
        "type": "Ready",
        "status": status,
        "reason": reason,
        # never empty: the API server 1.20 refuses an empty condition message as null
        "message": message or reason,
        "lastTransitionTime": when,
    }
    if view.generation is not None:
        condition["observedGeneration"] = view.generation
    return [condition]


def _prune(runs: Sequence[RunView], newest: RunView | None, view: ScheduleView) -> list[DeleteRun]:
    """The oldest finished runs beyond each history limit (never the newest slot's run).

    A run whose TTL work is pending counts, but waits for it: deleted now, its record
    would never be archived, which the retention path itself never lets happen (a
    TTL longer than the limit's span of slots archived none of a schedule's runs)."""
    deletions: list[DeleteRun] = []
    for phases, limit in (
        ({Phase.SUCCEEDED}, view.successful_history_limit),
        (FAILED_PHASES, view.failed_history_limit),
    ):
        finished = sorted((r for r in runs if r.phase in phases), key=RunView.sort_key)
        excess = finished[: max(0, len(finished) - limit)]
        deletions += [
            DeleteRun(r.name, r.uid) for r in excess if r is not newest and not r.ttl_work_pending
        ]
    return deletions


def _last_successful(view: ScheduleView, runs: Sequence[RunView]) -> str | None:
    times = [r.finished_at for r in runs if r.phase is Phase.SUCCEEDED and r.finished_at]
    recorded = parse_time(view.status.get("lastSuccessfulTime"))
    if recorded is not None:
        times.append(recorded)
    return format_time(max(times)) if times else None


def decide(view: ScheduleView, runs: Sequence[RunView], now: datetime) -> ScheduleDecision:
    """The status, effects and next wake-up of one schedule at ``now``."""
    newest = max(runs, key=RunView.sort_key, default=None)
    active = sorted((r for r in runs if r.active), key=RunView.sort_key)
    status: dict[str, Any] = {
        "observedGeneration": view.generation,
        "active": [{"name": r.name, "uid": r.uid} for r in active] or None,
        "lastSuccessfulTime": _last_successful(view, runs),
    }
    effects: list[ScheduleEffect] = list(_prune(runs, newest, view))
    try:
        cron = CronSchedule.parse(view.schedule, view.time_zone)
    except InvalidSchedule as exc:
        status["nextScheduleTime"] = None
        status["conditions"] = _ready(view, False, "InvalidSchedule", str(exc), now)
        old = view.status.get("conditions") or []
        if not any(c.get("reason") == "InvalidSchedule" for c in old):
            effects.append(Notify("Warning", "InvalidSchedule", str(exc)))
        return ScheduleDecision(status, effects)

    recorded_last = parse_time(view.status.get("lastScheduleTime"))
    run_slots = [r.scheduled_at for r in runs if r.scheduled_at is not None]
    # The newest slot known to have been decided: recorded, or seen as a run (a crash
    # between the create and the status write leaves only the run).
    last = max([t for t in (recorded_last, *run_slots) if t is not None], default=None)
    if last is not None and (recorded_last is None or last > recorded_last):
        status["lastScheduleTime"] = format_time(last)
    earliest = last or view.created_at
    next_slot = cron.next_after(now)
    requeue = (next_slot - now).total_seconds() + WAKE_MARGIN_SECONDS if next_slot else None

    if view.suspend:
        status["nextScheduleTime"] = None
        status["conditions"] = _ready(view, True, "Suspended", "creates no action", now)
        return ScheduleDecision(status, effects)
    status["nextScheduleTime"] = format_time(next_slot) if next_slot else None
    status["conditions"] = _ready(view, True, "Scheduled", "runs are created on schedule", now)

    # lastScheduleTime is written only after its run was created, so a slot at or before
    # it is never due again, even when its run was deleted by hand.
    due = cron.latest_at_or_before(now, earliest)
    if due is None:
        return ScheduleDecision(status, effects, requeue)

    missed = cron.count_between(earliest, now, MISSED_COUNT_LIMIT + 1)
    late = (now - due).total_seconds()
    deadline = view.starting_deadline_seconds
    if deadline is not None and late > deadline:
        message = _missed_message(missed, due, deadline)
        effects.append(Notify("Warning", "MissedSchedule", message, due))
        return ScheduleDecision(status, effects, requeue)
    name = run_name(view.name, due)
    if any(r.name == name for r in runs):
        return ScheduleDecision(status, effects, requeue)
    if active and view.policy is ConcurrencyPolicy.FORBID:
        # Skipped for now; the end of the active run wakes the schedule, and the slot
        # still runs then if it is within the deadline.
        return ScheduleDecision(status, effects, requeue)
    if active and view.policy is ConcurrencyPolicy.REPLACE:
        effects += [AbortRun(r.name) for r in active if not r.abort_requested]
    if missed > 1:
        effects.append(Notify("Warning", "MissedSchedule", _missed_message(missed, due, None), due))
    effects.append(CreateRun(name, due))
    effects.append(Notify("Normal", "Created", f"created {name} for {format_time(due)}", due))
    return ScheduleDecision(status, effects, requeue, after={"lastScheduleTime": format_time(due)})


def _missed_message(missed: int, due: datetime, deadline: int | None) -> str:
    """E.g. "3 slots were missed; only the latest, ..., runs now (2 skipped)"."""
    over = missed > MISSED_COUNT_LIMIT
    count = f"more than {MISSED_COUNT_LIMIT}" if over else str(missed)
    noun = "slot was" if missed == 1 else "slots were"
    if deadline is None:
        skipped = count if over else str(missed - 1)
        return (
            f"{count} {noun} missed; only the latest, {format_time(due)}, runs now "
            f"({skipped} skipped)"
        )
    return (
        f"{count} {noun} missed; the latest, {format_time(due)}, is more than "
        f"startingDeadlineSeconds ({deadline}s) late: none runs"
    )
