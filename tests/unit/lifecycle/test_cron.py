"""Cron slots as instants: time zones, the fall-back hour, the spring-forward gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from asyncaction.lifecycle.cron import CronSchedule, InvalidSchedule

NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def slots(cron: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    found, cursor = [], start
    while (slot := cron.next_after(cursor)) is not None and slot <= end:
        found.append(slot)
        cursor = slot
    return found


def test_utc_is_the_default_zone_and_seconds_come_first() -> None:
    cron = CronSchedule.parse("*/2 * * * * *")
    assert cron.zone.key == "UTC"
    assert cron.next_after(utc(2026, 1, 1, 0, 0, 0)) == utc(2026, 1, 1, 0, 0, 2)
    assert cron.next_after(utc(2026, 1, 1, 0, 0, 1)) == utc(2026, 1, 1, 0, 0, 2)


def test_a_zone_shifts_the_instant() -> None:
    cron = CronSchedule.parse("0 9 * * *", "Europe/Paris")
    # 09:00 in Paris in winter is 08:00 UTC, in summer 07:00 UTC.
    assert cron.next_after(utc(2026, 1, 10, 0, 0)) == utc(2026, 1, 10, 8, 0)
    assert cron.next_after(utc(2026, 7, 10, 0, 0)) == utc(2026, 7, 10, 7, 0)


@pytest.mark.parametrize(
    ("expression", "zone", "words"),
    [
        ("* * *", None, "3 fields"),
        ("61 * * * *", None, "not a valid cron"),
        ("* * * * *", "Mars/Olympus", "IANA"),
        # found by a review: a folder of the zone database raised IsADirectoryError at
        # every reconcile (no condition, no Event); R drew a new minute each reconcile
        ("* * * * *", "America", "'America' is not an IANA"),
        ("* * * * *", "Etc", "IANA"),
        ("R * * * *", None, "random field"),
        ("0 r * * *", None, "random field"),
    ],
)
def test_invalid_specs_name_the_field(expression: str, zone: str | None, words: str) -> None:
    with pytest.raises(InvalidSchedule, match=words):
        CronSchedule.parse(expression, zone)


def test_fall_back_hour_has_each_wall_slot_once() -> None:
    # 2026-11-01: New York goes from 02:00 EDT back to 01:00 EST.
    cron = CronSchedule.parse("*/15 * * * *", "America/New_York")
    found = slots(cron, utc(2026, 11, 1, 3, 59), utc(2026, 11, 1, 8, 0))  # 23:59 EDT .. 03:00 EST
    walls = [s.astimezone(NEW_YORK).strftime("%H:%M") for s in found]
    assert walls == [
        "00:00", "00:15", "00:30", "00:45",
        "01:00", "01:15", "01:30", "01:45",
        "02:00", "02:15", "02:30", "02:45", "03:00",
    ]  # fmt: skip
    assert found == sorted(set(found))
    # The repeated 01:xx are their first pass (EDT, UTC-4).
    assert found[4] == utc(2026, 11, 1, 5, 0)
    # After the first pass, the next slot is 02:00 EST, an hour and a quarter later.
    assert cron.next_after(utc(2026, 11, 1, 5, 45)) == utc(2026, 11, 1, 7, 0)


def test_instant_inside_the_repeated_hour_finds_no_second_pass() -> None:
    cron = CronSchedule.parse("30 1 * * *", "America/New_York")
    first_pass = utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    second_pass_time = utc(2026, 11, 1, 6, 10)  # 01:10 EST
    assert cron.next_after(utc(2026, 11, 1, 0, 0)) == first_pass
    assert cron.next_after(second_pass_time) == utc(2026, 11, 2, 6, 30)  # next day, EST
    assert cron.latest_at_or_before(utc(2026, 11, 1, 6, 45), first_pass) is None


def test_latest_in_the_second_pass_is_the_first_pass_end() -> None:
    # Down from 01:50 EDT to 01:20 EST: the latest slot of "every minute" is 01:59 EDT.
    cron = CronSchedule.parse("* * * * *", "America/New_York")
    latest = cron.latest_at_or_before(utc(2026, 11, 1, 6, 20), utc(2026, 11, 1, 5, 50))
    assert latest == utc(2026, 11, 1, 5, 59)
    assert cron.count_between(utc(2026, 11, 1, 5, 50), utc(2026, 11, 1, 6, 20), 100) == 9


def test_spring_forward_gap_runs_once_after_the_gap() -> None:
    # 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT; 02:30 does not exist.
    cron = CronSchedule.parse("30 2 * * *", "America/New_York")
    assert cron.next_after(utc(2026, 3, 8, 5, 0)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    every_half_hour = CronSchedule.parse("0,30 * * * *", "America/New_York")
    found = slots(every_half_hour, utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 8, 0))
    # 01:30 EST, then 02:00 and 02:30 land on 03:00 and 03:30 EDT, which are slots anyway.
    assert found == [
        utc(2026, 3, 8, 6, 30),
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 8, 7, 30),
        utc(2026, 3, 8, 8, 0),
    ]


def test_latest_and_count_between() -> None:
    cron = CronSchedule.parse("*/10 * * * * *")
    start = utc(2026, 1, 1, 0, 0, 0)
    now = start + timedelta(seconds=35)
    assert cron.latest_at_or_before(now, start) == utc(2026, 1, 1, 0, 0, 30)
    assert cron.latest_at_or_before(now, utc(2026, 1, 1, 0, 0, 30)) is None
    assert cron.count_between(start, now, 100) == 3
    assert cron.count_between(start, now, 2) == 2
    assert cron.latest_at_or_before(start, start) is None


def test_impossible_date_has_no_next_slot() -> None:
    assert CronSchedule.parse("0 0 30 2 *").next_after(utc(2026, 1, 1)) is None


def test_six_fields_put_the_seconds_first_and_nicknames_are_read() -> None:
    # "0 0 0 1 1 *" is valid only seconds-first (read seconds-last its day of month is 0);
    # "0 0 1 1 * 30" only seconds-last (seconds-first its day of week is 30).
    new_year = CronSchedule.parse("0 0 0 1 1 *")
    assert new_year.expression == "0 0 0 1 1 *"
    assert new_year.next_after(utc(2026, 1, 1, 0, 0, 1)) == utc(2027, 1, 1, 0, 0, 0)
    with pytest.raises(InvalidSchedule, match="not a valid cron"):
        CronSchedule.parse("0 0 1 1 * 30")
    hourly = CronSchedule.parse("  @hourly ")
    assert hourly.expression == "@hourly"
    assert hourly.next_after(utc(2026, 1, 1, 0, 30)) == utc(2026, 1, 1, 1, 0)
    assert CronSchedule.parse("*/5  *\t* * *").expression == "*/5 * * * *"


def test_a_per_second_schedule_finds_the_slot_after_the_repeated_hour() -> None:
    # From 01:00 EST (the second pass starts) every wall second up to 01:59:59 is a slot of
    # the first pass, already gone: the next one is 02:00:00 EST, 7,200 candidates later.
    cron = CronSchedule.parse("* * * * * *", "America/New_York")
    assert cron.next_after(utc(2026, 11, 1, 6, 0, 0)) == utc(2026, 11, 1, 7, 0, 0)
    assert cron.next_after(utc(2026, 11, 1, 5, 59, 58)) == utc(2026, 11, 1, 5, 59, 59)


def test_the_latest_slot_after_a_long_downtime_is_found_at_once() -> None:
    # Two years of hourly slots between the last one recorded and now: more than the
    # 10,000 a walk forward may take, so the latest slot must come from looking back.
    cron = CronSchedule.parse("0 * * * *")
    now = utc(2020, 6, 1, 12, 30)
    assert cron.latest_at_or_before(now, now - timedelta(days=730)) == utc(2020, 6, 1, 12, 0)
    assert cron.count_between(now - timedelta(days=730), now, 3) == 3


def test_a_slot_exactly_now_is_due_and_counted() -> None:
    cron = CronSchedule.parse("*/10 * * * * *")
    start = utc(2026, 1, 1, 0, 0, 0)
    slot = utc(2026, 1, 1, 0, 0, 30)
    assert cron.latest_at_or_before(slot, start) == slot
    assert cron.count_between(start, slot, 100) == 3
    assert cron.count_between(start, slot - timedelta(microseconds=1), 100) == 2


def test_an_impossible_date_has_no_latest_slot_either() -> None:
    cron = CronSchedule.parse("0 0 30 2 *")
    assert cron.latest_at_or_before(utc(2026, 6, 1), utc(2010, 1, 1)) is None
    assert cron.count_between(utc(2010, 1, 1), utc(2026, 6, 1), 5) == 0


def test_instants_given_in_any_zone_give_the_same_utc_slots() -> None:
    cron = CronSchedule.parse("0 9 * * *", "Europe/Paris")
    paris_midnight = datetime(2026, 1, 10, 1, 0, tzinfo=ZoneInfo("Europe/Paris"))  # 00:00 UTC
    slot = cron.next_after(paris_midnight)
    assert slot == utc(2026, 1, 10, 8, 0)
    assert slot is not None
    assert slot.tzinfo is UTC
    new_york_evening = datetime(2026, 1, 10, 20, 0, tzinfo=NEW_YORK)  # 01:00 UTC the next day
    latest = cron.latest_at_or_before(new_york_evening, paris_midnight)
    assert latest == utc(2026, 1, 10, 8, 0)
    assert latest is not None
    assert latest.tzinfo is UTC


class CountingCroniter:
    """croniter, counting the candidates it is asked for."""

    steps = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        from croniter import croniter

        self.inner = croniter(*args, **kwargs)  # type: ignore[arg-type]

    def get_next(self, kind: type[datetime]) -> datetime:
        CountingCroniter.steps += 1
        found: datetime = self.inner.get_next(kind)
        return found


def test_a_per_second_schedule_looks_at_a_few_candidates_not_an_hours_worth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The search started an hour early in wall time, for the second pass of a repeated
    hour: a per-second schedule stepped over 3,600 candidates per slot, and a schedule
    decision took up to 0.7 s on the operator's event loop, 12 s after an hour of
    downtime (found by review). It starts an hour early only within an hour after a
    change of the zone's offset."""
    from asyncaction.lifecycle import cron as cron_module

    per_second = CronSchedule.parse("* * * * * *", "America/New_York")
    monkeypatch.setattr(cron_module, "croniter", CountingCroniter)
    assert per_second.next_after(utc(2026, 7, 1, 12, 0, 0)) == utc(2026, 7, 1, 12, 0, 1)
    assert CountingCroniter.steps <= 2
    # inside the repeated hour's second pass (01:30 EST; EDT ended at 06:00 UTC) the
    # search still starts an hour early: its wall times had their slots in the first
    # pass, and the next slot is 02:00 EST, as before
    assert per_second.next_after(utc(2026, 11, 1, 6, 30, 0)) == utc(2026, 11, 1, 7, 0, 0)
