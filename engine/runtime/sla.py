"""SLA clocks: business time, pauses, warnings and breaches, computed from given instants.

Nothing here reads the clock or the database: every function takes the instants it needs
(``start``, ``now``, pause intervals, the time a target was met). Datetimes must be timezone-aware;
the results are in UTC.

**Business time.** A calendar's working time is a set of intervals of real time. A working range
such as ``09:00-12:00`` on a date runs from the first instant the calendar's wall clock shows
09:00 on that date to the first instant it shows 12:00; when daylight saving time skips a wall
time, the range starts or ends at the instant the clock jumps past it. Business time is the real
time that falls inside working intervals, so a range that contains a DST change lasts one hour
less or more than its wall-clock length. A date's ranges are:

- none on a holiday (a holiday wins over a make-up day listed on the same date);
- on a make-up working day (``working_days``), the ranges of ``makeup_hours_from``;
- otherwise the ranges of its weekday in ``week``.

A policy without a calendar runs around the clock (``BusinessCalendar.always()``): business time
is wall time. A duration's day is 24 hours of business time, not a working day.

**The clock.** ``add(start, d)`` is the instant at which the clock, started at ``start``, has run
for ``d``. The clock starts at the first working instant at or after ``start``, so a ticket raised
at night or at the weekend starts counting when work resumes, and a zero duration gives that
instant. For a positive duration the result is the earliest instant the duration is used up: a
target that runs out at the end of the morning range is due at 12:00, not at 13:00 after lunch.
``elapsed(start, end)`` is the business time between two instants (zero when ``end`` is not after
``start``); ``elapsed(start, add(start, d)) == d`` always holds. Both walk the dates concerned and
jump over runs of whole weeks that hold no holiday, make-up day or UTC-offset change, so their
cost grows with the special days in the span, not with its length: 2,000 hours is a few dozen days
looked at.

**Pauses.** While a ticket is in a pause state (``pause_in``) its clock stops. Pauses are given as
``(begin, end)`` intervals, ``end`` None for a pause still going on; they may overlap and may begin
before ``start``. The due time is pushed back by the business time a pause covers. While a pause
is open the due time is unknown (None), unless the target ran out before the pause began.

**Targets.** A target is due at ``due_at``, the instant its duration of running clock is used up;
it warns at ``warn_at``, the instant ``warn_at`` percent of the duration is used up (24h at 75 %:
after 18 hours). State of a target, first match wins:

- ``met``: met (first response or resolution) at or before ``due_at``;
- ``breached``: met after ``due_at``, or not met and ``now`` is at or after ``due_at``;
- ``paused``: a pause is open;
- ``warning``: ``now`` is at or after ``warn_at``;
- ``running``: otherwise (also at night: the clock is merely not moving).

Times are exact to the microsecond and nothing is rounded: durations are whole minutes and the
warn percentage is a whole number, so the warning offset is a multiple of 0.6 seconds. States
compare instants, never floating-point percentages; ``percent`` is for display.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from engine.schema import Catalog
from engine.schema.kinds.sla import DAYS, Action, CalendarSpec, SlaSpec, parse_duration, parse_hours

__all__ = [
    "BusinessCalendar",
    "Pause",
    "ResolvedTarget",
    "TargetState",
    "TargetStatus",
    "consumed",
    "due_with_pauses",
    "parse_within",
    "target_status",
    "targets_for",
]

Pause = tuple[datetime, datetime | None]
TargetState = Literal["running", "paused", "warning", "breached", "met"]
Ranges = tuple[tuple[int, int], ...]  # minutes since local midnight, [start, end), sorted

_ZERO = timedelta(0)
_TINY = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_SAMPLE = timedelta(hours=3)  # UTC offsets are sampled this often to find their changes


def _aware(t: datetime, what: str = "datetime") -> datetime:
    if t.tzinfo is UTC:  # the usual case: already what is returned
        return t
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {t!r}")
    return t.astimezone(UTC)


def _local_to_utc(tz: tzinfo, wall: datetime) -> datetime:
    """The first instant the wall clock of ``tz`` shows ``wall`` (or, when skipped, jumps past it)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # A skipped wall time (a DST gap): with fold=1 it maps to an instant before the jump, with
    # fold=0 to one after it. Transitions fall on whole seconds; find the jump by bisection.
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo_s, hi_s = 0, int((first - lo).total_seconds())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if (lo + timedelta(seconds=mid)).astimezone(tz).replace(tzinfo=None) >= wall:
            hi_s = mid
        else:
            lo_s = mid
    return lo + timedelta(seconds=hi_s)


@functools.lru_cache(maxsize=256)
def _offset_change_dates(tz: tzinfo, year: int) -> tuple[date, ...]:
    """Local dates of ``year`` within a day of a change of the UTC offset of ``tz``, sorted."""
    marked: set[date] = set()
    t = datetime(year - 1, 12, 29, tzinfo=UTC)
    stop = datetime(year + 1, 1, 3, tzinfo=UTC)
    before = t.astimezone(tz)
    while t < stop:
        t += _SAMPLE
        after = t.astimezone(tz)
        if after.utcoffset() != before.utcoffset():
            for d in (before.date(), after.date()):
                marked.update((d - _DAY, d, d + _DAY))
        before = after
    return tuple(sorted(d for d in marked if d.year == year))


class BusinessCalendar:
    """Working intervals of a calendar, and business-time arithmetic on them."""

    __slots__ = ("_always", "_days", "_holidays", "_makeup", "_makeup_ranges", "_special", "_tz", "_week",
                 "_week_total", "name")

    def __init__(
        self,
        tz: tzinfo,
        week: Sequence[Ranges],
        *,
        holidays: Iterable[date] = (),
        working_days: Iterable[date] = (),
        makeup_hours_from: int = 0,
        name: str | None = None,
    ) -> None:
        """``week``: seven tuples of (start, end) minutes since local midnight, Monday first."""
        if len(week) != 7:
            raise ValueError("week needs seven days, Monday first")
        days: list[Ranges] = []
        for ranges in week:
            ordered = tuple(sorted(ranges))
            for a, b in ordered:
                if not 0 <= a < b <= 24 * 60:
                    raise ValueError(f"({a}, {b}) is not a range of minutes within a day")
            if any(ordered[i][1] > ordered[i + 1][0] for i in range(len(ordered) - 1)):
                raise ValueError(f"ranges overlap: {ordered}")
            days.append(ordered)
        total = sum(b - a for ranges in days for a, b in ranges)
        if total == 0:
            raise ValueError("a calendar needs working hours on at least one weekday")
        self.name = name
        self._tz = tz
        self._week = tuple(days)
        self._week_total = timedelta(minutes=total)
        self._holidays = frozenset(holidays)
        self._makeup = frozenset(working_days)
        self._makeup_ranges = self._week[makeup_hours_from]
        self._special = tuple(sorted(self._holidays | self._makeup))
        self._always = tz is UTC and all(r == ((0, 24 * 60),) for r in days) and not self._special
        self._days: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    @classmethod
    def from_spec(cls, spec: CalendarSpec, name: str | None = None) -> BusinessCalendar:
        """The calendar a Calendar definition declares (assumed checked: valid zone, ranges and dates)."""
        week: list[Ranges] = []
        for day in DAYS:
            ranges: list[tuple[int, int]] = []
            for text in getattr(spec.week, day):
                parsed = parse_hours(text)
                if parsed is None:
                    raise ValueError(f"'{text}' is not a range of working hours")
                ranges.append(parsed)
            week.append(tuple(ranges))
        return cls(
            ZoneInfo(spec.timezone),
            week,
            holidays=(date.fromisoformat(d) for d in spec.holidays),
            working_days=(date.fromisoformat(d) for d in spec.working_days),
            makeup_hours_from=DAYS.index(spec.makeup_hours_from),
            name=name,
        )

    @classmethod
    def always(cls) -> BusinessCalendar:
        """Around the clock: every instant is working time (a policy without a calendar)."""
        return cls(UTC, [((0, 24 * 60),)] * 7, name=None)

    @property
    def timezone(self) -> tzinfo:
        return self._tz

    @property
    def week_total(self) -> timedelta:
        """Business time in a week without holidays, make-up days or UTC-offset changes."""
        return self._week_total

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name or ('24x7' if self._always else str(self._tz))})"

    # -- working intervals -------------------------------------------------------------------------

    def ranges_on(self, day: date) -> Ranges:
        """The working ranges of a local date, in minutes since its midnight."""
        if day in self._holidays:
            return ()
        if day in self._makeup:
            return self._makeup_ranges
        return self._week[day.weekday()]

    def intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working intervals of a local date as UTC instants [begin, end), in order."""
        return self._day(day)

    def _day(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        # a pure function of the date: remembered, as every ticket's clock asks for the same few days
        known = self._days.get(day)
        if known is None:
            if len(self._days) > 4096:
                self._days.clear()
            known = self._days[day] = self._compute_day(day)
        return known

    def _compute_day(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        ranges = self.ranges_on(day)
        if not ranges:
            return ()
        base = datetime.combine(day, time())
        out = []
        for a, b in ranges:
            begin = _local_to_utc(self._tz, base + timedelta(minutes=a))
            end = _local_to_utc(self._tz, base + timedelta(minutes=b))
            if begin < end:
                out.append((begin, end))
        return tuple(out)

    def _midnight(self, day: date) -> datetime:
        return _local_to_utc(self._tz, datetime.combine(day, time()))

    def _local_date(self, t: datetime) -> date:
        return t.astimezone(self._tz).date()

    def _plain_until(self, day: date) -> date:
        """A date after ``day`` such that every date in [day, it) is plain: its business time is its
        weekday's nominal hours (no holiday, make-up day or UTC-offset change near it)."""
        found: list[date] = [date(day.year + 2, 1, 1)]
        i = bisect.bisect_left(self._special, day)
        if i < len(self._special):
            found.append(self._special[i])
        if not isinstance(self._tz, type(UTC)):
            for year in (day.year, day.year + 1):
                changes = _offset_change_dates(self._tz, year)
                j = bisect.bisect_left(changes, day)
                if j < len(changes):
                    found.append(changes[j])
                    break
        return min(found)

    def _skip_weeks(self, day: date, limit: int) -> int:
        """How many whole plain weeks, at most ``limit``, start at ``day``."""
        if limit <= 0:
            return 0
        return min(limit, (self._plain_until(day) - day).days // 7)

    # -- queries -----------------------------------------------------------------------------------

    def is_working(self, t: datetime) -> bool:
        """Whether ``t`` lies in a working interval (begin included, end excluded)."""
        t = _aware(t)
        if self._always:
            return True
        d = self._local_date(t)
        return any(b <= t < e for day in (d - _DAY, d, d + _DAY) for b, e in self._day(day))

    def next_working(self, t: datetime) -> datetime:
        """``t`` when it is working time, else the start of the next working interval."""
        return self.add(t, _ZERO)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant the clock started at ``start`` has run for ``duration`` of business time."""
        start = _aware(start, "start")
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        if self._always:
            return start + duration
        remaining = duration
        cur = start
        first = self._local_date(start)
        day = first - _DAY
        while True:
            if remaining > self._week_total and day > first and self._midnight(day) >= cur:
                weeks = self._skip_weeks(day, (remaining - _TINY) // self._week_total)
                if weeks:
                    day += 7 * weeks * _DAY
                    remaining -= weeks * self._week_total
                    cur = self._midnight(day)
            for begin, end in self._day(day):
                if end <= cur:
                    continue
                begin = max(begin, cur)
                if not remaining:
                    return begin
                if end - begin >= remaining:
                    return begin + remaining
                remaining -= end - begin
                cur = end
            day += _DAY

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero when ``end`` is not after ``start``."""
        start, end = _aware(start, "start"), _aware(end, "end")
        if end <= start:
            return _ZERO
        if self._always:
            return end - start
        total = _ZERO
        day = self._local_date(start) - _DAY
        last = self._local_date(end) + _DAY
        while day <= last:
            limit = (last - day).days // 7 - 1
            if limit > 0 and self._midnight(day) >= start:
                weeks = self._skip_weeks(day, limit)
                if weeks and self._midnight(day + 7 * weeks * _DAY) <= end:
                    day += 7 * weeks * _DAY
                    total += weeks * self._week_total
            for begin, stop in self._day(day):
                if stop <= start:
                    continue
                if begin >= end:
                    return total
                total += min(stop, end) - max(begin, start)
            day += _DAY
        return total


# -- pauses and targets ----------------------------------------------------------------------------


def _pauses(start: datetime, pauses: Iterable[Pause]) -> list[Pause]:
    """Pauses clipped to begin no earlier than ``start``, in order, overlapping ones merged."""
    clean: list[Pause] = []
    for begin, end in pauses:
        b = max(_aware(begin, "pause begin"), start)
        e = None if end is None else _aware(end, "pause end")
        if e is not None and e < _aware(begin):
            raise ValueError(f"pause ends before it begins: {begin} .. {end}")
        if e is not None and e <= b:
            continue
        clean.append((b, e))
    clean.sort(key=lambda p: p[0])
    merged: list[Pause] = []
    for b, e in clean:
        if merged:
            pb, pe = merged[-1]
            if pe is None:
                break
            if b <= pe:
                merged[-1] = (pb, None if e is None else max(pe, e))
                continue
        merged.append((b, e))
    return merged


def due_with_pauses(calendar: BusinessCalendar, start: datetime, target: timedelta,
                    pauses: Iterable[Pause] = ()) -> datetime | None:
    """The instant ``target`` of running clock is used up; None while an open pause holds the clock
    before that."""
    start = _aware(start, "start")
    if target < _ZERO:
        raise ValueError(f"target must not be negative, got {target}")
    remaining = target
    cur = start
    for begin, end in _pauses(start, pauses):
        if begin > cur:
            run = calendar.elapsed(cur, begin)
            # a zero target is reached when the clock starts, which must happen before the pause
            if (remaining and run >= remaining) or (not remaining and run):
                return calendar.add(cur, remaining)
            remaining -= run
        if end is None:
            return None
        cur = max(cur, end)
    return calendar.add(cur, remaining)


def consumed(calendar: BusinessCalendar, start: datetime, now: datetime,
             pauses: Iterable[Pause] = ()) -> timedelta:
    """Business time the clock has run from ``start`` to ``now``, leaving out the pauses."""
    start, now = _aware(start, "start"), _aware(now, "now")
    total = _ZERO
    cur = start
    for begin, end in _pauses(start, pauses):
        if begin >= now:
            break
        total += calendar.elapsed(cur, begin)
        cur = now if end is None else max(cur, min(end, now))
    return total + calendar.elapsed(cur, now)


@dataclass(frozen=True)
class TargetStatus:
    """Where one target stands at ``now``."""

    state: TargetState
    due_at: datetime | None  # None while an open pause holds the clock
    warn_at: datetime | None
    consumed: timedelta  # running clock up to now, or up to when the target was met
    percent: float  # consumed as a percentage of the target; above 100 once breached

    @property
    def is_final(self) -> bool:
        """Met or breached: the state can no longer change."""
        return self.state in ("met", "breached")


def _known_at(horizon: datetime, pauses: Iterable[Pause]) -> list[Pause]:
    """The pauses as known at ``horizon``: later ones left out, one still going on then is open."""
    out: list[Pause] = []
    for begin, end in pauses:
        if _aware(begin, "pause begin") > horizon:
            continue
        out.append((begin, None if end is None or _aware(end, "pause end") > horizon else end))
    return out


def target_status(
    calendar: BusinessCalendar,
    start: datetime,
    target: timedelta,
    *,
    now: datetime,
    pauses: Iterable[Pause] = (),
    met_at: datetime | None = None,
    warn_percent: int = 75,
) -> TargetStatus:
    """The state, due and warning instants and use of one target at ``now``.

    ``met_at``: when the target's metric happened (first response, resolution); a time after ``now``
    is ignored. Pauses beginning after ``now`` (or after ``met_at``) are ignored, and one ending after
    it counts as still open.
    """
    if target <= _ZERO:
        raise ValueError(f"target must be positive, got {target}")
    if not 0 <= warn_percent <= 100:
        raise ValueError(f"warn_percent must be between 0 and 100, got {warn_percent}")
    start, now = _aware(start, "start"), _aware(now, "now")
    met = met_at is not None and _aware(met_at, "met_at") <= now
    horizon = _aware(met_at) if met_at is not None and met else now
    known = _known_at(horizon, pauses)
    due = due_with_pauses(calendar, start, target, known)
    warn = due_with_pauses(calendar, start, target * warn_percent / 100, known)
    used = consumed(calendar, start, horizon, known)
    state: TargetState
    if met:
        state = "met" if due is None or horizon <= due else "breached"
    elif due is not None and now >= due:
        state = "breached"
    elif any(end is None for _, end in _pauses(start, known)):
        state = "paused"
    elif warn is not None and now >= warn:
        state = "warning"
    else:
        state = "running"
    return TargetStatus(state=state, due_at=due, warn_at=warn, consumed=used, percent=used / target * 100)


# -- policies --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedTarget:
    """One target of a ticket's SLA policy, for the ticket's priority."""

    policy: str
    id: str
    metric: Literal["first_response", "resolution"]
    duration: timedelta
    warn_percent: int
    calendar: BusinessCalendar
    pause_states: tuple[str, ...]
    on_warning: tuple[Action, ...] = ()
    on_breach: tuple[Action, ...] = ()

    @property
    def warn_after(self) -> timedelta:
        """Business time after which the warning fires."""
        return self.duration * self.warn_percent / 100

    def due(self, start: datetime, pauses: Iterable[Pause] = ()) -> datetime | None:
        return due_with_pauses(self.calendar, start, self.duration, pauses)

    def status(self, start: datetime, *, now: datetime, pauses: Iterable[Pause] = (),
               met_at: datetime | None = None) -> TargetStatus:
        return target_status(self.calendar, start, self.duration, now=now, pauses=pauses, met_at=met_at,
                             warn_percent=self.warn_percent)


def parse_within(within: str | Mapping[Any, str], priority: str) -> timedelta:
    """The duration a target's ``within`` gives a priority."""
    if isinstance(within, str):
        text = within
    else:
        if priority not in within:
            raise KeyError(f"no time for priority '{priority}'")
        text = within[priority]
    minutes = parse_duration(text)
    if minutes is None:
        raise ValueError(f"'{text}' is not a duration")
    return timedelta(minutes=minutes)


# Derived from immutable catalogs: built once per (catalog version, …) and reused, so the
# calendars' own day caches stay warm across tickets. Bounded: a server runs few versions.
_CALENDARS: dict[tuple[str, str], BusinessCalendar] = {}
_TARGETS: dict[tuple[str, str, str], tuple[ResolvedTarget, ...]] = {}
_CACHE_LIMIT = 4096


def _calendar(catalog: Catalog, spec: SlaSpec) -> BusinessCalendar:
    if spec.calendar is None:
        return BusinessCalendar.always()
    key = (catalog.version, spec.calendar)
    found = _CALENDARS.get(key)
    if found is None:
        if len(_CALENDARS) > _CACHE_LIMIT:
            _CALENDARS.clear()
        found = _CALENDARS[key] = BusinessCalendar.from_spec(catalog.calendars[spec.calendar], name=spec.calendar)
    return found


def targets_for(catalog: Catalog, type_name: str, priority: str) -> list[ResolvedTarget]:
    """The SLA targets of a ticket type at a priority, in declaration order; [] when it has no SLA.

    Raises KeyError for an unknown ticket type.
    """
    key = (catalog.version, type_name, priority)
    found = _TARGETS.get(key)
    if found is None:
        if len(_TARGETS) > _CACHE_LIMIT:
            _TARGETS.clear()
        found = _TARGETS[key] = tuple(_targets_for(catalog, type_name, priority))
    return list(found)


def _targets_for(catalog: Catalog, type_name: str, priority: str) -> list[ResolvedTarget]:
    ctype = catalog.types[type_name]
    if ctype.spec.sla is None:
        return []
    policy = catalog.slas[ctype.spec.sla]
    calendar = _calendar(catalog, policy)
    return [
        ResolvedTarget(
            policy=ctype.spec.sla,
            id=t.id,
            metric=t.metric,
            duration=parse_within(t.within, priority),
            warn_percent=t.warn_at,
            calendar=calendar,
            pause_states=tuple(policy.pause_in),
            on_warning=tuple(t.on_warning),
            on_breach=tuple(t.on_breach),
        )
        for t in policy.targets
    ]
