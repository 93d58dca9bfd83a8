"""Calendar (business hours) and SLA (response and resolution targets with warnings and breach actions)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Annotated, Literal

from msgspec import Meta

from ..diagnostics import did_you_mean
from ..model import PRIORITIES, Base, Id, Label, Name, Party, Priority
from .base import Context, KindInfo, Loaded, document_type
from .channel import PERSONAL_CHANNELS, check_channel_names
from .flow import CLOSING
from .flow_checks import _check_party, _World

__all__ = ["CALENDAR_KIND", "SLA_KIND", "CalendarSpec", "SlaSpec", "Target", "parse_duration", "parse_hours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?$")
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

Duration = Annotated[
    str, Meta(description="A duration such as 30m, 4h, 1d (a day is 24 hours of the calendar), 1h30m.")
]


class Week(Base, frozen=True, kw_only=True):
    """Working hours per weekday, e.g. mon: ["09:00-12:00", "13:00-18:00"]; an empty list is a day off."""

    mon: list[str] = []
    tue: list[str] = []
    wed: list[str] = []
    thu: list[str] = []
    fri: list[str] = []
    sat: list[str] = []
    sun: list[str] = []


class CalendarSpec(Base, frozen=True, kw_only=True):
    """Business time: the clock of an SLA runs only inside working hours."""

    label: Label | None = None
    timezone: Annotated[str, Meta(description="IANA time zone, e.g. Asia/Shanghai.")]
    week: Week
    holidays: Annotated[list[str], Meta(description="Dates (YYYY-MM-DD) that are days off.")] = []
    working_days: Annotated[
        list[str],
        Meta(description="Make-up working days (YYYY-MM-DD) on a weekend; they use the hours of 'makeup_hours_from'."),
    ] = []
    makeup_hours_from: Literal["mon", "tue", "wed", "thu", "fri"] = "mon"


class Action(Base, frozen=True, kw_only=True):
    """Something done when an SLA target warns or breaches; give one or more of the keys."""

    notify: Annotated[list[Party], Meta(description="People to notify.")] = []
    channels: Annotated[
        tuple[Name, ...],
        Meta(
            description=(
                "How 'notify' reaches people: email, in_app, and Channel definitions (chat groups, which get one "
                "post whatever 'notify' says)."
            )
        ),
    ] = ("in_app", "email")
    reassign: Annotated[Id | None, Meta(description="Move the ticket to this team's queue.")] = None
    raise_priority: Annotated[Priority | None, Meta(description="Raise the priority to at least this.")] = None


class Target(Base, frozen=True, kw_only=True):
    """One SLA target: how long until the first response or the resolution."""

    id: Id
    metric: Annotated[
        Literal["first_response", "resolution"],
        Meta(
            description=(
                "first_response: until someone other than the requester comments publicly or moves the ticket; "
                "resolution: until it reaches a resolved/closed state."
            )
        ),
    ]
    within: Annotated[Duration | dict[Priority, Duration], Meta(description="One duration, or one per priority.")]
    warn_at: Annotated[int, Meta(description="Warn when this percentage of the time is used.")] = 75
    on_warning: list[Action] = []
    on_breach: list[Action] = []


class SlaSpec(Base, frozen=True, kw_only=True):
    """An SLA policy; ticket types name it in their 'sla' key."""

    label: Label | None = None
    calendar: Annotated[Name | None, Meta(description="Calendar name; none means around the clock.")] = None
    pause_in: Annotated[list[Id], Meta(description="States in which the clock stops.")] = []
    targets: Annotated[list[Target], Meta(min_length=1)]


def parse_duration(text: str) -> int | None:
    """Minutes in a duration such as '1d2h30m', or None when it is not one."""
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi = (int(x) if x else 0 for x in m.groups())
    total = d * 24 * 60 + h * 60 + mi
    return total or None


def parse_hours(text: str) -> tuple[int, int] | None:
    """Start and end minute of a range such as '09:00-12:00', or None when it is not one."""
    m = _HOURS.match(text)
    if not m:
        return None
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        return None
    start, end = h1 * 60 + m1, h2 * 60 + m2
    return (start, end) if start < end else None


def _check_date(ctx: Context, d: Loaded, at: tuple[str | int, ...], text: str) -> None:
    try:
        dt.date.fromisoformat(str(text))
    except ValueError:
        ctx.report(d.diag("E606", at, f"'{text}' is not a date", "write dates as YYYY-MM-DD"))


def check_calendars(ctx: Context) -> None:
    for d in ctx.of("Calendar"):
        spec: CalendarSpec = d.spec
        try:
            zoneinfo.ZoneInfo(spec.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            ctx.report(
                d.diag(
                    "E603",
                    ("spec", "timezone"),
                    f"unknown time zone '{spec.timezone}'",
                    "use an IANA name such as Asia/Shanghai or Europe/Berlin",
                )
            )
        for day in DAYS:
            ranges: list[tuple[int, int]] = []
            for i, text in enumerate(getattr(spec.week, day)):
                parsed = parse_hours(text)
                if parsed is None:
                    ctx.report(
                        d.diag(
                            "E604",
                            ("spec", "week", day, i),
                            f"'{text}' is not a range of working hours",
                            "write HH:MM-HH:MM with the start before the end, e.g. 09:00-12:00",
                        )
                    )
                    continue
                if any(parsed[0] < b and a < parsed[1] for a, b in ranges):
                    ctx.report(d.diag("E604", ("spec", "week", day, i), f"'{text}' overlaps another range of {day}"))
                ranges.append(parsed)
        if not any(getattr(spec.week, day) for day in DAYS):
            ctx.report(
                d.diag(
                    "E604",
                    ("spec", "week"),
                    f"calendar '{d.name}' has no working hours at all",
                    "give at least one day a range such as 09:00-18:00",
                )
            )
        for key in ("holidays", "working_days"):
            for i, text in enumerate(getattr(spec, key)):
                _check_date(ctx, d, ("spec", key, i), text)


def check_slas(ctx: Context) -> None:
    calendars = ctx.named("Calendar")
    flows = ctx.named("Flow")
    w = _World(ctx)
    channels = ctx.named("Channel")
    bound: dict[str, list[Loaded]] = {}
    for t in ctx.of("TicketType"):
        if t.spec.sla:
            bound.setdefault(t.spec.sla, []).append(t)
    for d in ctx.of("SLA"):
        spec: SlaSpec = d.spec
        if spec.calendar is not None and spec.calendar not in calendars:
            ctx.report(
                d.diag(
                    "E601",
                    ("spec", "calendar"),
                    f"SLA '{d.name}' uses unknown calendar '{spec.calendar}'",
                    did_you_mean(spec.calendar, calendars),
                )
            )
        for t in bound.get(d.name, []):
            flow = flows.get(t.spec.flow)
            if flow is None:
                continue
            states = {s.id: s.category for s in flow.spec.states}
            for i, state in enumerate(spec.pause_in):
                if state not in states:
                    ctx.report(
                        d.diag(
                            "E203",
                            ("spec", "pause_in", i),
                            f"pause state '{state}' is not in flow '{flow.name}' of ticket type '{t.name}'",
                            did_you_mean(state, states),
                        )
                    )
                elif states[state] in CLOSING:
                    ctx.report(
                        d.diag(
                            "E104",
                            ("spec", "pause_in", i),
                            f"pause state '{state}' is a {states[state]} state; the clock already stops there",
                        )
                    )
        ids: set[tuple[str, str]] = set()
        for i, target in enumerate(spec.targets):
            at: tuple[str | int, ...] = ("spec", "targets", i)
            if target.id in {x for x, _ in ids}:
                ctx.report(d.diag("E105", (*at, "id"), f"target '{target.id}' is declared twice"))
            ids.add((target.id, target.metric))
            within = target.within if isinstance(target.within, dict) else {"": target.within}
            for prio, text in within.items():
                where = (*at, "within", prio) if prio else (*at, "within")
                if parse_duration(text) is None:
                    ctx.report(d.diag("E602", where, f"'{text}' is not a duration", "write e.g. 30m, 4h, 1d or 1h30m"))
            if isinstance(target.within, dict):
                missing = [p for p in PRIORITIES if p not in target.within]
                if missing:
                    ctx.report(
                        d.diag(
                            "E103",
                            (*at, "within"),
                            f"target '{target.id}' gives no time for priority {', '.join(missing)}",
                            "give every priority a time, or one duration for all",
                        )
                    )
            if not 0 < target.warn_at < 100:
                ctx.report(
                    d.diag("E605", (*at, "warn_at"), f"warn_at {target.warn_at} must be between 1 and 99 (percent)")
                )
            for key in ("on_warning", "on_breach"):
                for j, action in enumerate(getattr(target, key)):
                    aat = (*at, key, j)
                    for k, party in enumerate(action.notify):
                        _check_party(ctx, d, (*aat, "notify", k), party, w, f"{key} of target '{target.id}'")
                    if action.reassign is not None and action.reassign not in w.teams:
                        ctx.report(
                            d.diag(
                                "E307",
                                (*aat, "reassign"),
                                f"reassigns to unknown team '{action.reassign}'",
                                did_you_mean(action.reassign, w.teams),
                            )
                        )
                    what = f"{key} of target '{target.id}'"
                    check_channel_names(ctx, d, (*aat, "channels"), action.channels, channels, what)
                    # A chat channel posts to its group even when 'notify' names nobody.
                    posts = any(c not in PERSONAL_CHANNELS for c in action.channels)
                    if not (action.notify or action.reassign or action.raise_priority or posts):
                        ctx.report(
                            d.diag("E103", aat, "action does nothing", "give notify, reassign or raise_priority")
                        )


CALENDAR_KIND = KindInfo(
    name="Calendar",
    folder="calendars",
    spec=CalendarSpec,
    document=document_type("Calendar", CalendarSpec, "A business calendar: time zone, weekly hours, holidays."),
    check=check_calendars,
)
SLA_KIND = KindInfo(
    name="SLA",
    folder="sla",
    spec=SlaSpec,
    document=document_type("SLA", SlaSpec, "An SLA policy: targets, pauses, warnings and breach actions."),
    check=check_slas,
)
