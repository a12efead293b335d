"""Cron slots as UTC instants, read in an IANA time zone, that never repeat (pure).

croniter parses and steps the expression; this module only decides how a wall-clock
slot becomes an instant, because that is where schedulers fire twice or never:

- croniter steps over *naive* wall-clock times of the zone, so its arithmetic knows
  nothing of daylight saving time;
- each wall time becomes an instant with ``fold=0``: a time that occurs twice when
  clocks go back (01:30 on a fall-back night) is its *first* occurrence, so the
  repeated hour holds no second slot; a time that does not exist when clocks go
  forward (02:30 on a spring-forward night) lands just after the gap, as cron does;
- the slots' instants must strictly increase: a candidate at or before the previous
  slot (the repeated hour, or a gap time landing on a real later slot) is skipped.

Since an instant is the identity of a slot (the run's name is derived from it), a slot
maps to one instant and one run, whatever the clocks do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

# A slot search looks this far at most: enough for "29 2 * *" (once in four years) and
# for any day-of-week/day-of-month combination croniter accepts.
_HORIZON = timedelta(days=366 * 5)
# Candidates examined per search before giving up (a repeated hour of per-second slots
# skips at most 3600 of them).
_MAX_STEPS = 10_000
# How far back in wall time a search starts after a change of offset (the longest DST
# shift in use is an hour).
_LOOKBACK = timedelta(hours=1)
DEFAULT_ZONE = "UTC"


class InvalidSchedule(ValueError):
    """The expression or the time zone cannot be read; the message says which."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed ``schedule`` in its ``timeZone``."""

    expression: str
    zone: ZoneInfo

    @classmethod
    def parse(cls, expression: str, time_zone: str | None = None) -> CronSchedule:
        """Validate both fields now, so a bad spec is reported once, not at every slot."""
        fields = expression.split()
        text = " ".join(fields)
        if not text.startswith("@") and len(fields) not in (5, 6):
            raise InvalidSchedule(
                f"schedule {expression!r} has {len(fields)} fields: 5 (minute hour "
                "day-of-month month day-of-week) or 6 (seconds first) are read"
            )
        if not croniter.is_valid(text, second_at_beginning=True):
            raise InvalidSchedule(f"schedule {expression!r} is not a valid cron expression")
        if any(token.upper().startswith("R") for f in fields for token in f.split(",")):
            # croniter's R draws a new random value each time it is read: each reconcile
            # found another slot due, another run name, and created it (10 runs in 3
            # hours of an hourly schedule). No month or day name starts with R.
            raise InvalidSchedule(
                f"schedule {expression!r} has a random field (R): name the minute, hour..."
            )
        zone_name = time_zone or DEFAULT_ZONE
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            # OSError: a folder of the zone database ("America", "Etc") is no zone
            raise InvalidSchedule(f"timeZone {zone_name!r} is not an IANA time zone") from exc
        return cls(text, zone)

    def _instant(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def next_after(self, after: datetime) -> datetime | None:
        """The first slot strictly after ``after`` (an aware instant), None when none
        comes within five years (e.g. "0 0 30 2 *"). Aware instants compare as instants
        whatever their zone, so ``after`` needs no conversion."""
        # Within an hour after a change of the zone's offset, start one hour early in wall
        # time: an instant in the second pass of a repeated hour has a wall time whose
        # first pass must be skipped, not re-used. Anywhere else, just before ``after``:
        # a per-second schedule would otherwise step over 3,600 candidates per slot.
        local = after.astimezone(self.zone)
        shifted = (after - _LOOKBACK).astimezone(self.zone).utcoffset() != local.utcoffset()
        back = _LOOKBACK if shifted else timedelta(seconds=1)
        wall = local.replace(tzinfo=None) - back
        steps = croniter(self.expression, wall, second_at_beginning=True)
        horizon = after + _HORIZON
        for _ in range(_MAX_STEPS):
            try:
                candidate = self._instant(steps.get_next(datetime))
            except CroniterBadDateError:  # no such date within croniter's own horizon
                return None
            if candidate > horizon:
                return None
            if candidate > after:
                return candidate
        return None

    def latest_at_or_before(self, now: datetime, earliest: datetime) -> datetime | None:
        """The latest slot in ``(earliest, now]``, None when there is none.

        croniter's ``get_prev`` from ``now``'s wall time finds a slot at or before
        ``now`` in one step; during the second pass of a repeated hour that slot is not
        the latest one (the first pass's later minutes came after it in real time), so
        the answer is completed by walking forward with ``next_after``.
        """
        if now <= earliest:
            return None
        wall = now.astimezone(self.zone).replace(tzinfo=None) + timedelta(seconds=1)
        steps = croniter(self.expression, wall, second_at_beginning=True)
        found: datetime | None = None
        for _ in range(_MAX_STEPS):
            try:
                candidate = self._instant(steps.get_prev(datetime))
            except CroniterBadDateError:
                break
            if candidate <= now:
                found = candidate if candidate > earliest else None
                break
        cursor = found or earliest
        for _ in range(_MAX_STEPS):
            later = self.next_after(cursor)
            if later is None or later > now:
                break
            found = cursor = later
        return found

    def count_between(self, earliest: datetime, now: datetime, limit: int) -> int:
        """Slots in ``(earliest, now]``, counting at most ``limit`` (then ``limit``)."""
        count = 0
        cursor = earliest
        while count < limit:
            slot = self.next_after(cursor)
            if slot is None or slot > now:
                break
            count += 1
            cursor = slot
        return count
