"""SLA clocks: business time on the shipped calendars and in Europe/Berlin, pauses, warnings, policies.

Every expected instant is worked out by hand in the comment next to it. cn_office works
09:00-12:00 and 13:00-18:00 Monday to Friday (8 hours a day) in Asia/Shanghai; in 2026 it is off on
1, 2, 5, 6 and 7 October (1 October is a Thursday) and works Saturday 10 October with Monday's hours.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.runtime.sla import (
    BusinessCalendar,
    ResolvedTarget,
    consumed,
    due_with_pauses,
    parse_within,
    target_status,
    targets_for,
)
from engine.schema import Catalog, check_definitions
from engine.schema.kinds.sla import CalendarSpec, Week

ROOT = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


def be(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    result = check_definitions(ROOT / "definitions")
    assert result.catalog is not None, [d.render() for d in result.diagnostics]
    return result.catalog


@pytest.fixture(scope="module")
def office(shipped: Catalog) -> BusinessCalendar:
    return BusinessCalendar.from_spec(shipped.calendars["cn_office"], "cn_office")


@pytest.fixture(scope="module")
def retail(shipped: Catalog) -> BusinessCalendar:
    return BusinessCalendar.from_spec(shipped.calendars["cn_retail"], "cn_retail")


def berlin(**days: list[str]) -> BusinessCalendar:
    return BusinessCalendar.from_spec(CalendarSpec(timezone="Europe/Berlin", week=Week(**days)))


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
BERLIN_OFFICE = berlin(**{d: ["09:00-17:00"] for d in WEEKDAYS})
BERLIN_LUNCH = berlin(**{d: ["08:30-12:00", "12:45-17:30"] for d in WEEKDAYS})
BERLIN_24X7 = berlin(**{d: ["00:00-24:00"] for d in (*WEEKDAYS, "sat", "sun")})


# -- business time on cn_office ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # lunch: 11:00-12:00 is 1h, the second hour runs 13:00-14:00
        (sh(2026, 9, 28, 11), 2 * H, sh(2026, 9, 28, 14)),
        # night: 17:00-18:00 Monday, 09:00-10:00 Tuesday
        (sh(2026, 9, 28, 17), 2 * H, sh(2026, 9, 29, 10)),
        # weekend: 17:00-18:00 Friday, 09:00-10:00 Monday
        (sh(2026, 9, 25, 17), 2 * H, sh(2026, 9, 28, 10)),
        # a target that runs out at the end of the morning is due at 12:00, not 13:00
        (sh(2026, 9, 28, 9), 3 * H, sh(2026, 9, 28, 12)),
        (sh(2026, 9, 28, 9), 8 * H, sh(2026, 9, 28, 18)),
        (sh(2026, 9, 28, 9), 8 * H + M, sh(2026, 9, 29, 9, 1)),
        # National Day: Wed 30 Sep 16:00-18:00 is 2h; 1-2 Oct holidays, 3-4 weekend, 5-7 holidays;
        # Thu 8 Oct 09:00-11:00 the other 2h
        (sh(2026, 9, 30, 16), 4 * H, sh(2026, 10, 8, 11)),
        # the make-up Saturday: Fri 9 Oct 17:00-18:00, then Sat 10 Oct 09:00-10:00
        (sh(2026, 10, 9, 17), 2 * H, sh(2026, 10, 10, 10)),
        # ...which works Monday's hours, lunch included: 09:00-12:00, 13:00-14:00
        (sh(2026, 10, 10, 9), 4 * H, sh(2026, 10, 10, 14)),
        # Sat 10 Oct 17:00-18:00, Sunday off, Mon 12 Oct 09:00-10:00
        (sh(2026, 10, 10, 17), 2 * H, sh(2026, 10, 12, 10)),
        # 30 working days from Mon 7 Sep: 7-11, 14-18, 21-25 Sep (15), 28-30 Sep (18), 8-9 Oct (20),
        # Sat 10 Oct (21), 12-16 Oct (26), 19-22 Oct (30): Thu 22 Oct at 18:00
        (sh(2026, 9, 7, 9), 30 * 8 * H, sh(2026, 10, 22, 18)),
        # 2,000 hours are 250 working days from Mon 5 Jan: 250 weekdays end on Fri 18 Dec (50 weeks);
        # the 5 holidays cost 5 days and the make-up Saturday gives one, so 4 more: Thu 24 Dec 18:00
        (sh(2026, 1, 5, 9), 2000 * H, sh(2026, 12, 24, 18)),
    ],
)
def test_add_and_elapsed_on_office_hours(office: BusinessCalendar, start: datetime, duration: timedelta,
                                         due: datetime) -> None:
    got = office.add(start, duration)
    assert got == due
    assert got.tzinfo is UTC
    assert office.elapsed(start, due) == duration


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # Saturday morning: the clock starts Monday 09:00
        (sh(2026, 9, 26, 10), H, sh(2026, 9, 28, 10)),
        # before opening and at lunch
        (sh(2026, 9, 28, 7, 15), 30 * M, sh(2026, 9, 28, 9, 30)),
        (sh(2026, 9, 28, 12, 30), 30 * M, sh(2026, 9, 28, 13, 30)),
        # on a holiday: the clock starts on Thu 8 Oct
        (sh(2026, 10, 1, 10), H, sh(2026, 10, 8, 10)),
        # zero: the instant the clock starts (the start itself in working time)
        (sh(2026, 9, 26, 10), timedelta(0), sh(2026, 9, 28, 9)),
        (sh(2026, 9, 28, 12), timedelta(0), sh(2026, 9, 28, 13)),
        (sh(2026, 9, 28, 18), timedelta(0), sh(2026, 9, 29, 9)),
        (sh(2026, 9, 28, 10, 17), timedelta(0), sh(2026, 9, 28, 10, 17)),
    ],
)
def test_clock_starts_at_the_next_working_instant(office: BusinessCalendar, start: datetime,
                                                  duration: timedelta, due: datetime) -> None:
    assert office.add(start, duration) == due
    assert office.elapsed(start, due) == duration


def test_next_working_is_add_zero(office: BusinessCalendar) -> None:
    assert office.next_working(sh(2026, 10, 9, 18, 30)) == sh(2026, 10, 10, 9)
    assert office.next_working(sh(2026, 10, 11, 9)) == sh(2026, 10, 12, 9)


@pytest.mark.parametrize(
    ("t", "working"),
    [
        (sh(2026, 9, 28, 8, 59, 59), False),
        (sh(2026, 9, 28, 9), True),
        (sh(2026, 9, 28, 11, 59), True),
        (sh(2026, 9, 28, 12), False),
        (sh(2026, 9, 28, 13), True),
        (sh(2026, 9, 28, 18), False),
        (sh(2026, 9, 26, 10), False),  # Saturday
        (sh(2026, 10, 1, 10), False),  # holiday
        (sh(2026, 10, 10, 10), True),  # make-up Saturday
        (sh(2026, 10, 10, 12, 30), False),  # its lunch break
        (sh(2026, 10, 11, 10), False),  # Sunday after it
        (utc(2026, 9, 28, 1), True),  # 09:00 in Shanghai
    ],
)
def test_is_working(office: BusinessCalendar, t: datetime, working: bool) -> None:
    assert office.is_working(t) is working


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (sh(2026, 9, 28, 10), sh(2026, 9, 28, 10), timedelta(0)),
        (sh(2026, 9, 28, 11), sh(2026, 9, 28, 10), timedelta(0)),  # end before start
        (sh(2026, 9, 28, 11, 30), sh(2026, 9, 28, 13, 30), H),  # lunch left out
        (sh(2026, 9, 26, 0), sh(2026, 9, 27, 23, 59), timedelta(0)),  # a weekend
        (sh(2026, 10, 1, 0), sh(2026, 10, 8, 0), timedelta(0)),  # 1-7 Oct: holidays and a weekend
        (sh(2026, 10, 1, 0), sh(2026, 10, 12, 0), 3 * 8 * H),  # 8, 9 and 10 Oct
        (sh(2026, 9, 25, 17), sh(2026, 9, 28, 10), 2 * H),
    ],
)
def test_elapsed(office: BusinessCalendar, start: datetime, end: datetime, expected: timedelta) -> None:
    assert office.elapsed(start, end) == expected


def test_stores_count_holidays(retail: BusinessCalendar) -> None:
    # cn_retail opens 10:00-22:00 every day, public holidays included: 36h from Mon 28 Sep 21:00 is
    # 1h on Monday, 12h each on Tuesday and Wednesday, 11h on Thursday 1 Oct (National Day)
    assert retail.add(sh(2026, 9, 28, 21), 36 * H) == sh(2026, 10, 1, 21)


# -- daylight saving time in Europe/Berlin (CET +01:00, CEST +02:00) -------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # spring forward on Sun 29 Mar: Fri 16:00-17:00 CET, Mon 09:00-12:00 CEST
        (be(2026, 3, 27, 16), 4 * H, be(2026, 3, 30, 12)),
        (utc(2026, 3, 27, 15), 4 * H, utc(2026, 3, 30, 10)),  # the same in UTC
        # fall back on Sun 25 Oct: Fri 16:00-17:00 CEST, Mon 09:00-12:00 CET
        (be(2026, 10, 23, 16), 4 * H, be(2026, 10, 26, 12)),
        (utc(2026, 10, 23, 14), 4 * H, utc(2026, 10, 26, 11)),
        # two weeks of 40h across the change: Mon 23 Mar 09:00 CET to Fri 3 Apr 17:00 CEST
        (be(2026, 3, 23, 9), 80 * H, be(2026, 4, 3, 17)),
        # 2,000 hours are 50 weeks of 40h from Mon 5 Jan, past both changes: Fri 18 Dec 17:00
        (be(2026, 1, 5, 9), 2000 * H, be(2026, 12, 18, 17)),
    ],
)
def test_dst_office_hours(start: datetime, duration: timedelta, due: datetime) -> None:
    assert BERLIN_OFFICE.add(start, duration) == due
    assert BERLIN_OFFICE.elapsed(start, due) == duration


def test_dst_working_hours_keep_their_wall_clock_times() -> None:
    # 09:00 is 08:00 UTC in winter and 07:00 UTC in summer
    assert BERLIN_OFFICE.intervals_on(date(2026, 3, 27)) == ((utc(2026, 3, 27, 8), utc(2026, 3, 27, 16)),)
    assert BERLIN_OFFICE.intervals_on(date(2026, 3, 30)) == ((utc(2026, 3, 30, 7), utc(2026, 3, 30, 15)),)
    assert BERLIN_OFFICE.is_working(utc(2026, 3, 30, 7))
    assert not BERLIN_OFFICE.is_working(utc(2026, 3, 27, 7, 30))


def test_dst_change_inside_a_working_range() -> None:
    night = berlin(sun=["01:00-04:00"])
    # 01:00 CET = 00:00Z to 04:00 CEST = 02:00Z: two hours
    assert night.intervals_on(date(2026, 3, 29)) == ((utc(2026, 3, 29, 0), utc(2026, 3, 29, 2)),)
    # 01:00 CEST = 23:00Z to 04:00 CET = 03:00Z: four hours
    assert night.intervals_on(date(2026, 10, 25)) == ((utc(2026, 10, 24, 23), utc(2026, 10, 25, 3)),)
    assert night.elapsed(be(2026, 3, 28), be(2026, 3, 30)) == 2 * H
    assert night.elapsed(be(2026, 10, 24), be(2026, 10, 26)) == 4 * H
    # 2h on 29 Mar, then 30m from 01:00 CEST on Sun 5 Apr (23:00Z on the 4th)
    assert night.add(be(2026, 3, 28, 12), 150 * M) == utc(2026, 4, 4, 23, 30)
    # a range starting in the skipped hour starts when the clock jumps (03:00 CEST = 01:00Z);
    # in the repeated hour it starts at the first 02:30 (CEST = 00:30Z)
    late = berlin(sun=["02:30-04:00"])
    assert late.intervals_on(date(2026, 3, 29)) == ((utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),)
    assert late.intervals_on(date(2026, 10, 25)) == ((utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3)),)


def test_dst_around_the_clock_counts_real_hours() -> None:
    # the spring day has 23 hours and the autumn day 25
    assert BERLIN_24X7.elapsed(be(2026, 3, 29), be(2026, 3, 30)) == 23 * H
    assert BERLIN_24X7.elapsed(be(2026, 10, 25), be(2026, 10, 26)) == 25 * H
    # Sat 12:00 CET + 24h is Sun 13:00 CEST
    assert BERLIN_24X7.add(be(2026, 3, 28, 12), 24 * H) == be(2026, 3, 29, 13)
    # 01:30 CEST + 1h is the first 02:30 (CEST), + 2h the second (CET); an ambiguous wall time never
    # compares equal across zones, so compare in UTC
    first, second = BERLIN_24X7.add(be(2026, 10, 25, 1, 30), H), BERLIN_24X7.add(be(2026, 10, 25, 1, 30), 2 * H)
    assert (first, second) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    assert first.astimezone(BERLIN).strftime("%H:%M %Z") == second.astimezone(BERLIN).strftime("%H:%M") + " CEST"


# -- around the clock ----------------------------------------------------------------------------


def test_always() -> None:
    cal = BusinessCalendar.always()
    t = sh(2026, 10, 1, 9)  # National Day means nothing here
    assert cal.add(t, 24 * H) == sh(2026, 10, 2, 9)
    assert cal.add(t, timedelta(0)) == t
    assert cal.elapsed(t, sh(2026, 10, 8, 9)) == 7 * 24 * H
    assert cal.is_working(sh(2026, 10, 3, 3))
    assert cal.week_total == 7 * 24 * H


def test_bad_input(office: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        office.add(datetime(2026, 9, 28, 9), H)
    with pytest.raises(ValueError, match="negative"):
        office.add(sh(2026, 9, 28, 9), -H)
    with pytest.raises(ValueError, match="working hours"):
        BusinessCalendar(UTC, [()] * 7)
    with pytest.raises(ValueError, match="ends before it begins"):
        due_with_pauses(office, sh(2026, 9, 28, 9), H, [(sh(2026, 9, 28, 11), sh(2026, 9, 28, 10))])


# -- pauses --------------------------------------------------------------------------------------

FRI = sh(2026, 9, 25, 16)
WEEKEND_PAUSE = (sh(2026, 9, 25, 17), sh(2026, 9, 28, 10))  # Fri 17:00 to Mon 10:00


def test_pause_over_a_weekend(office: BusinessCalendar) -> None:
    # without it: Fri 16:00-18:00, Mon 09:00-11:00
    assert due_with_pauses(office, FRI, 4 * H) == sh(2026, 9, 28, 11)
    # with it: Fri 16:00-17:00, paused until Mon 10:00, 10:00-12:00, lunch, 13:00-14:00
    assert due_with_pauses(office, FRI, 4 * H, [WEEKEND_PAUSE]) == sh(2026, 9, 28, 14)
    # at Mon 13:30: 1h + 2h + 30m
    assert consumed(office, FRI, sh(2026, 9, 28, 13, 30), [WEEKEND_PAUSE]) == 3 * H + 30 * M
    assert consumed(office, FRI, sh(2026, 9, 28, 13, 30)) == 5 * H + 30 * M


def test_open_pause_stops_the_clock(office: BusinessCalendar) -> None:
    start = sh(2026, 9, 28, 9)
    waiting = [(sh(2026, 9, 28, 10), None)]
    assert due_with_pauses(office, start, 4 * H, waiting) is None
    assert consumed(office, start, sh(2026, 9, 29, 15), waiting) == H
    # a target that ran out before the pause began keeps its due time
    assert due_with_pauses(office, start, H, [(sh(2026, 9, 28, 11), None)]) == sh(2026, 9, 28, 10)
    assert due_with_pauses(office, start, H, waiting) == sh(2026, 9, 28, 10)


def test_pauses_overlapping_unordered_and_before_start(office: BusinessCalendar) -> None:
    start = sh(2026, 9, 28, 9)
    pauses = [(sh(2026, 9, 28, 10, 30), sh(2026, 9, 28, 12)), (sh(2026, 9, 28, 10), sh(2026, 9, 28, 11))]
    # 09:00-10:00, paused 10:00-12:00, lunch, 13:00-14:00
    assert due_with_pauses(office, start, 2 * H, pauses) == sh(2026, 9, 28, 14)
    assert consumed(office, start, sh(2026, 9, 28, 15), pauses) == 3 * H
    # a pause from Sunday to Mon 10:00 holds a ticket raised on Saturday until 10:00
    early = [(sh(2026, 9, 27, 8), sh(2026, 9, 28, 10)), (sh(2026, 9, 20), sh(2026, 9, 21))]
    assert due_with_pauses(office, sh(2026, 9, 26, 10), H, early) == sh(2026, 9, 28, 11)


def test_zero_target_waits_for_the_clock_to_start(office: BusinessCalendar) -> None:
    sat = sh(2026, 9, 26, 10)
    assert due_with_pauses(office, sat, timedelta(0)) == sh(2026, 9, 28, 9)
    assert due_with_pauses(office, sat, timedelta(0), [(sh(2026, 9, 26, 11), sh(2026, 9, 29, 10))]) == sh(
        2026, 9, 29, 10
    )


# -- target status -------------------------------------------------------------------------------


def test_status_warning_after_a_paused_weekend(office: BusinessCalendar) -> None:
    # warn at 75 % of 4h = 3h: Fri 16:00-17:00, Mon 10:00-12:00
    s = target_status(office, FRI, 4 * H, now=sh(2026, 9, 28, 13, 30), pauses=[WEEKEND_PAUSE])
    assert (s.state, s.warn_at, s.due_at, s.consumed, s.percent) == (
        "warning", sh(2026, 9, 28, 12), sh(2026, 9, 28, 14), 3.5 * H, 87.5)
    # seen on Saturday, the pause is still going on: due and warning unknown
    s = target_status(office, FRI, 4 * H, now=sh(2026, 9, 26, 10), pauses=[WEEKEND_PAUSE])
    assert (s.state, s.warn_at, s.due_at, s.consumed, s.percent) == ("paused", None, None, H, 25.0)
    # a pause after now is not known yet
    s = target_status(office, FRI, 4 * H, now=sh(2026, 9, 25, 16, 30), pauses=[WEEKEND_PAUSE])
    assert (s.state, s.due_at) == ("running", sh(2026, 9, 28, 11))


def test_status_breached_stays_breached_when_paused(office: BusinessCalendar) -> None:
    start = sh(2026, 9, 28, 9)
    s = target_status(office, start, H, now=sh(2026, 9, 28, 15), pauses=[(sh(2026, 9, 28, 11), None)])
    assert (s.state, s.due_at, s.consumed) == ("breached", sh(2026, 9, 28, 10), 2 * H)
    assert s.is_final


@pytest.mark.parametrize(
    ("now", "met_at", "state"),
    [
        (sh(2026, 9, 28, 9, 30), None, "running"),
        (sh(2026, 9, 28, 9, 45), None, "warning"),  # 75 % of 1h
        (sh(2026, 9, 28, 10), None, "breached"),  # at the due instant
        (sh(2026, 9, 28, 12), sh(2026, 9, 28, 10), "met"),  # met at the due instant
        (sh(2026, 9, 28, 12), sh(2026, 9, 28, 9, 50), "met"),  # met after the warning
        (sh(2026, 9, 28, 12), sh(2026, 9, 28, 10, 1), "breached"),  # met late
        (sh(2026, 9, 28, 9, 30), sh(2026, 9, 28, 9, 40), "running"),  # a met_at after now is not yet
    ],
)
def test_status_states(office: BusinessCalendar, now: datetime, met_at: datetime | None, state: str) -> None:
    s = target_status(office, sh(2026, 9, 28, 9), H, now=now, met_at=met_at)
    assert s.state == state
    assert s.is_final is (state in ("met", "breached"))


def test_status_measures_to_the_met_time(office: BusinessCalendar) -> None:
    s = target_status(office, sh(2026, 9, 28, 9), 4 * H, now=sh(2026, 10, 12, 9), met_at=sh(2026, 9, 28, 13, 30))
    assert (s.state, s.consumed, s.percent) == ("met", 3.5 * H, 87.5)


# -- policies of the shipped definitions ---------------------------------------------------------


def only(targets: list[ResolvedTarget], target_id: str) -> ResolvedTarget:
    [found] = [t for t in targets if t.id == target_id]
    return found


def test_after_sales_warns_at_18h_and_breaches_at_24h(shipped: Catalog) -> None:
    targets = targets_for(shipped, "after_sales", "normal")
    assert [(t.id, t.metric, t.duration, t.warn_percent) for t in targets] == [
        ("first_answer", "first_response", 24 * H, 75),
        ("resolve", "resolution", 72 * H, 75),
    ]
    answer = only(targets, "first_answer")
    assert answer.pause_states == ("waiting_customer",)
    assert answer.warn_after == 18 * H
    created = sh(2026, 10, 1, 9)  # no calendar: National Day counts like any day
    assert answer.calendar.add(created, answer.warn_after) == sh(2026, 10, 2, 3)
    assert answer.due(created) == sh(2026, 10, 2, 9)
    states = {
        sh(2026, 10, 2, 2, 59, 59): "running",
        sh(2026, 10, 2, 3): "warning",
        sh(2026, 10, 2, 8, 59): "warning",
        sh(2026, 10, 2, 9): "breached",
    }
    for now, state in states.items():
        s = answer.status(created, now=now)
        assert (s.state, s.warn_at, s.due_at) == (state, sh(2026, 10, 2, 3), sh(2026, 10, 2, 9)), now
    assert answer.status(created, now=sh(2026, 10, 2, 3)).percent == 75.0
    assert answer.status(created, now=sh(2026, 10, 3), met_at=sh(2026, 10, 2, 8, 59)).state == "met"
    assert answer.status(created, now=sh(2026, 10, 3), met_at=sh(2026, 10, 2, 9, 1)).state == "breached"
    # three hours waiting for the customer push both back by three hours
    waiting = [(sh(2026, 10, 1, 12), sh(2026, 10, 1, 15))]
    s = answer.status(created, now=sh(2026, 10, 2, 5), pauses=waiting)
    assert (s.state, s.warn_at, s.due_at, s.consumed) == ("running", sh(2026, 10, 2, 6), sh(2026, 10, 2, 12), 17 * H)
    # resolution for low priority: 5d = 120 hours
    assert only(targets_for(shipped, "after_sales", "low"), "resolve").due(created) == sh(2026, 10, 6, 9)


def test_it_helpdesk_over_national_day(shipped: Catalog) -> None:
    created = sh(2026, 9, 30, 16)  # Wednesday before the holidays; 2h left that day
    normal = targets_for(shipped, "it_helpdesk", "normal")
    answer, fix = only(normal, "first_answer"), only(normal, "fix")
    assert answer.calendar.name == "cn_office"
    assert answer.pause_states == ("waiting_user",)
    # 4h: 2h Wednesday, 09:00-11:00 Thu 8 Oct; warning at 3h: 10:00
    s = answer.status(created, now=sh(2026, 10, 5, 12))
    assert (s.state, s.warn_at, s.due_at, s.percent) == ("running", sh(2026, 10, 8, 10), sh(2026, 10, 8, 11), 50.0)
    # 16h: 2h + 8h on 8 Oct + 09:00-12:00, 13:00-16:00 on 9 Oct; warning at 12h: 11:00 on 9 Oct
    s = fix.status(created, now=sh(2026, 10, 9, 11))
    assert (s.state, s.warn_at, s.due_at) == ("warning", sh(2026, 10, 9, 11), sh(2026, 10, 9, 16))
    # low, 40h: 2 + 8 (8 Oct) + 8 (9 Oct) + 8 (Sat 10 Oct) + 8 (12 Oct) + 6 (13 Oct, to 16:00);
    # warning at 30h: 26h to Saturday evening, then 09:00-12:00, 13:00-14:00 on Mon 12 Oct;
    # at Saturday noon 2 + 8 + 8 + 3 = 21h are used
    low_fix = only(targets_for(shipped, "it_helpdesk", "low"), "fix")
    assert low_fix.duration == 40 * H
    s = low_fix.status(created, now=sh(2026, 10, 10, 12))
    assert (s.state, s.warn_at, s.due_at, s.consumed) == ("running", sh(2026, 10, 12, 14), sh(2026, 10, 13, 16),
                                                          21 * H)


def test_approval_counts_the_make_up_saturday(shipped: Catalog) -> None:
    [decision] = targets_for(shipped, "expense_claim", "urgent")
    assert (decision.duration, decision.warn_percent, decision.pause_states) == (16 * H, 50, ("draft",))
    created = sh(2026, 10, 9, 14)
    # warning at 8h: 4h Friday, 09:00-12:00 and 13:00-14:00 on Sat 10 Oct
    # due at 16h: 4h Friday, 8h Saturday, 09:00-12:00 and 13:00-14:00 on Mon 12 Oct
    s = decision.status(created, now=sh(2026, 10, 10, 14))
    assert (s.state, s.warn_at, s.due_at) == ("warning", sh(2026, 10, 10, 14), sh(2026, 10, 12, 14))


def test_store_complaint_on_store_hours(shipped: Catalog) -> None:
    targets = targets_for(shipped, "store_complaint", "normal")
    answer, close = only(targets, "first_answer"), only(targets, "close_out")
    created = sh(2026, 9, 28, 21)
    # 2h at 50 %: warning when the store closes at 22:00, due 11:00 next morning
    s = answer.status(created, now=sh(2026, 9, 29, 9))
    assert (s.state, s.warn_at, s.due_at) == ("warning", sh(2026, 9, 28, 22), sh(2026, 9, 29, 11))
    assert close.due(created) == sh(2026, 10, 1, 21)


def test_policy_lookup(shipped: Catalog) -> None:
    assert targets_for(shipped, "material_request", "normal") == []
    [accept, fix] = targets_for(shipped, "equipment_repair", "high")
    assert (accept.duration, accept.warn_after, fix.duration) == (30 * M, 15 * M, 8 * H)
    assert accept.calendar.week_total == 7 * 24 * H
    assert only(targets_for(shipped, "equipment_repair", "normal"), "fix").duration == 24 * H  # 1d
    assert accept.on_breach[1].raise_priority == "urgent"
    with pytest.raises(KeyError):
        targets_for(shipped, "no_such_type", "normal")
    assert parse_within("1d2h30m", "low") == 26 * H + 30 * M
    assert parse_within({"low": "4h", "high": "1h"}, "high") == H
    with pytest.raises(KeyError):
        parse_within({"low": "4h"}, "high")


# -- properties ----------------------------------------------------------------------------------


def calendars(office: BusinessCalendar) -> list[BusinessCalendar]:
    return [office, BERLIN_OFFICE, BERLIN_LUNCH, BERLIN_24X7, berlin(sun=["01:00-04:00"]),
            BusinessCalendar.always()]


def cases(office: BusinessCalendar, n: int, max_hours: int, seed: int) -> Iterator[
        tuple[BusinessCalendar, datetime, timedelta]]:
    rng = random.Random(seed)
    cals = calendars(office)
    base = utc(2025, 1, 1)
    for _ in range(n):
        start = base + timedelta(seconds=rng.randrange(3 * 365 * 86400), microseconds=rng.randrange(10**6))
        yield rng.choice(cals), start, timedelta(minutes=rng.randrange(max_hours * 60), seconds=rng.randrange(60))


def test_elapsed_inverts_add(office: BusinessCalendar) -> None:
    rng = random.Random(7)
    for cal, start, d in cases(office, 400, 3000, seed=20261001):
        due = cal.add(start, d)
        assert due >= start
        assert cal.elapsed(start, due) == d, (cal, start, d)
        if d:
            assert cal.is_working(due - timedelta(microseconds=1)), (cal, start, d)
        # add undoes elapsed up to the time the clock stands still
        end = start + timedelta(hours=rng.randrange(2000), minutes=rng.randrange(60))
        used = cal.elapsed(start, end)
        back = cal.add(start, used)
        if used:
            assert back <= end
            assert cal.elapsed(back, end) == timedelta(0)
        else:  # the clock had not started by `end`
            assert back == cal.next_working(start) >= end


def test_whole_week_jumps_give_the_day_by_day_result(office: BusinessCalendar,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sample = list(cases(office, 150, 800, seed=42))
    fast = [(cal.add(start, d), cal.elapsed(start, start + 3 * d)) for cal, start, d in sample]
    monkeypatch.setattr(BusinessCalendar, "_skip_weeks", lambda self, day, limit: 0)
    slow = [(cal.add(start, d), cal.elapsed(start, start + 3 * d)) for cal, start, d in sample]
    assert fast == slow


@pytest.mark.parametrize("cal_name", ["office", "berlin"])
def test_long_durations_skip_whole_weeks(office: BusinessCalendar, monkeypatch: pytest.MonkeyPatch,
                                         cal_name: str) -> None:
    cal = office if cal_name == "office" else BERLIN_OFFICE
    days: list[date] = []
    original = BusinessCalendar._day

    def counting(self: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
        days.append(day)
        return original(self, day)

    monkeypatch.setattr(BusinessCalendar, "_day", counting)
    start = datetime(2026, 1, 5, 9, tzinfo=cal.timezone)
    due = cal.add(start, 2000 * H)  # about 350 days later
    assert len(days) < 45, len(days)
    days.clear()
    assert cal.elapsed(start, due) == 2000 * H
    assert len(days) < 45, len(days)
