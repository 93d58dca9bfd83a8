"""A ticket's SLA clocks: what is stored per target, how a change moves them, what a sweep fires.

Each target of the ticket type's SLA policy has a clock, kept in the ticket's ``sla`` column as
JSON (:func:`dump` / :func:`load`): when it started, its pauses, when it was met, and when its
warning and breach fired. The due and warning instants are never stored as truth: they follow
from the clock, the policy and the ticket's current priority (:mod:`engine.runtime.sla`), and are
copied into indexed columns (:class:`Columns`) for lists, filters and the sweep.

- :func:`start` makes the clocks of a new ticket;
- :func:`advance` moves them when the ticket changes state or gets its first response: a pause
  opens on entering a ``pause_in`` state and closes on leaving it; reaching a closing state meets
  every target (a resolution answers the requester too); reopening un-meets the resolution
  targets and counts the closed spell as a pause, so the requester's wait is measured without it;
- :func:`fire` is the sweep's decision at ``now``: which thresholds (warning, breach) are due and
  not yet fired, and the actions they carry. Marking them fired in the same write that records
  their events is what makes each fire exactly once.

Nothing here reads the clock or the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import msgspec

from engine.schema import Catalog
from engine.schema.kinds.sla import Action

from .sla import Pause, ResolvedTarget, consumed, due_with_pauses, targets_for

__all__ = [
    "Clock", "Columns", "Fired", "advance", "columns", "dump", "encode", "fire", "load", "raised_priority",
    "reassigned_team", "report", "start",
]

Threshold = Literal["warning", "breach"]
Timing = tuple[datetime | None, datetime | None]  # a target's due and warning instants
_PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


@dataclass(frozen=True)
class Clock:
    """One target's clock on one ticket."""

    target: str
    metric: str
    started_at: datetime
    pauses: tuple[Pause, ...] = ()
    met_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    # The due time a met or breached target was judged by: a later priority change does not move it.
    due_at: datetime | None = None

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None


class _StoredClock(msgspec.Struct, omit_defaults=True):
    metric: str
    start: datetime
    pauses: list[tuple[datetime, datetime | None]] = []
    met: datetime | None = None
    warned: datetime | None = None
    breached: datetime | None = None
    due: datetime | None = None


class _Stored(msgspec.Struct):
    targets: dict[str, _StoredClock] = {}


_decode = msgspec.json.Decoder(_Stored).decode
_encode = msgspec.json.Encoder().encode


def load(raw: Mapping[str, Any] | str | bytes | None) -> dict[str, Clock]:
    """The clocks stored in a ticket's ``sla`` column (its JSON text, or the decoded value), by target id."""
    if not raw:
        return {}
    stored = _decode(raw) if isinstance(raw, str | bytes) else msgspec.convert(raw, _Stored, strict=False)
    return {
        target: Clock(target=target, metric=c.metric, started_at=c.start, pauses=tuple(c.pauses), met_at=c.met,
                      warned_at=c.warned, breached_at=c.breached, due_at=c.due)
        for target, c in stored.targets.items()
    }


def _stored(clocks: Mapping[str, Clock]) -> _Stored:
    return _Stored(targets={
        c.target: _StoredClock(metric=c.metric, start=c.started_at, pauses=list(c.pauses), met=c.met_at,
                               warned=c.warned_at, breached=c.breached_at, due=c.due_at)
        for c in clocks.values()
    })


def dump(clocks: Mapping[str, Clock]) -> dict[str, Any]:
    """The ticket's ``sla`` column as a JSON-ready value."""
    value: dict[str, Any] = msgspec.to_builtins(_stored(clocks))
    return value


def encode(clocks: Mapping[str, Clock]) -> str:
    """The ticket's ``sla`` column as JSON text."""
    return _encode(_stored(clocks)).decode()


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def start(catalog: Catalog, type_name: str, priority: str, state: str, at: datetime) -> dict[str, Clock]:
    """The clocks of a ticket raised at ``at`` (none when its type has no SLA)."""
    clocks = {t.id: Clock(target=t.id, metric=t.metric, started_at=at) for t in targets_for(catalog, type_name,
                                                                                           priority)}
    return advance(catalog, type_name, priority, state, clocks, at=at)


def advance(
    catalog: Catalog,
    type_name: str,
    priority: str,
    state: str,
    clocks: Mapping[str, Clock],
    *,
    at: datetime,
    responded: bool = False,
) -> dict[str, Clock]:
    """The clocks after the ticket is in ``state`` at ``at`` (and, with ``responded``, got its first
    response then). Targets the policy no longer has are dropped; new ones start at ``at``."""
    flow = catalog.types[type_name].flow
    closing = flow.is_closing(state)
    out: dict[str, Clock] = {}
    for target in targets_for(catalog, type_name, priority):
        clock = clocks.get(target.id) or Clock(target=target.id, metric=target.metric, started_at=at)
        pauses = list(clock.pauses)
        met_at = clock.met_at
        frozen = clock.due_at
        if met_at is not None and not closing and target.metric == "resolution":
            pauses.append((met_at, at))  # reopened: the closed spell does not count against the team
            met_at = None
            frozen = clock.due_at if clock.breached_at is not None else None
        waiting = state in target.pause_states and not closing
        if pauses and pauses[-1][1] is None and not waiting:
            pauses[-1] = (pauses[-1][0], at)
        elif waiting and not (pauses and pauses[-1][1] is None) and met_at is None:
            pauses.append((at, None))
        if met_at is None and (closing or (responded and target.metric == "first_response")):
            met_at = at
            if frozen is None:
                frozen = target.due(clock.started_at, pauses)
        kept = tuple(pauses)
        if kept == clock.pauses and met_at is clock.met_at and frozen is clock.due_at:
            out[target.id] = clock  # unchanged (a new ticket's clocks, most moves): no copy
        else:
            out[target.id] = replace(clock, pauses=kept, met_at=met_at, due_at=frozen)
    return out


@dataclass(frozen=True)
class Columns:
    """What the ticket row keeps for lists, filters, the sweep and reports."""

    clocks: Mapping[str, Clock]
    sla_next_at: datetime | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_seconds: int | None
    resolution_seconds: int | None

    @property
    def sla(self) -> dict[str, Any]:
        return dump(self.clocks)

    @property
    def sla_json(self) -> str:
        return encode(self.clocks)

    def as_changes(self) -> dict[str, Any]:
        return {
            "sla": self.sla, "sla_next_at": self.sla_next_at, "response_due_at": self.response_due_at,
            "resolution_due_at": self.resolution_due_at, "first_response_seconds": self.first_response_seconds,
            "resolution_seconds": self.resolution_seconds,
        }


def _resolved(catalog: Catalog, type_name: str, priority: str) -> dict[str, ResolvedTarget]:
    return {t.id: t for t in targets_for(catalog, type_name, priority)}


def _earliest(values: Iterable[datetime | None]) -> datetime | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def columns(
    catalog: Catalog,
    type_name: str,
    priority: str,
    clocks: Mapping[str, Clock],
    *,
    created_at: datetime,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    timing: Mapping[str, Timing] | None = None,
) -> Columns:
    """The row's SLA columns for these clocks at the ticket's current priority.

    Due columns: the earliest due instant of the metric's targets (kept once met, so reports can
    compare; NULL while paused). Durations: business seconds without pauses on the policy's
    calendar, wall-clock seconds when the type has no SLA. ``timing``: the targets' (due, warn)
    instants when the caller computed them already for these clocks and this priority.
    """
    targets = _resolved(catalog, type_name, priority)
    due: dict[str, list[datetime | None]] = {"first_response": [], "resolution": []}
    seconds: dict[str, int | None] = {"first_response": None, "resolution": None}
    upcoming: list[datetime | None] = []
    for clock in clocks.values():
        target = targets.get(clock.target)
        if target is None:
            continue
        known = timing.get(clock.target) if timing is not None else None
        if clock.due_at is not None:
            due_at: datetime | None = clock.due_at
        elif known is not None:
            due_at = known[0]
        else:
            due_at = target.due(clock.started_at, clock.pauses)
        due[target.metric].append(due_at)
        if clock.met_at is not None:
            if seconds[target.metric] is None:
                used = consumed(target.calendar, clock.started_at, clock.met_at, clock.pauses)
                seconds[target.metric] = int(used.total_seconds())
            continue
        if clock.warned_at is None and clock.breached_at is None:
            upcoming.append(known[1] if known is not None else _warn_at(target, clock))
        if clock.breached_at is None:
            upcoming.append(due_at)
    if not targets:
        if first_response_at is not None:
            seconds["first_response"] = int((first_response_at - created_at).total_seconds())
        if resolved_at is not None:
            seconds["resolution"] = int((resolved_at - created_at).total_seconds())
    return Columns(
        clocks=clocks,
        sla_next_at=_earliest(upcoming),
        response_due_at=_earliest(due["first_response"]),
        resolution_due_at=_earliest(due["resolution"]),
        first_response_seconds=seconds["first_response"],
        resolution_seconds=seconds["resolution"],
    )


def _warn_at(target: ResolvedTarget, clock: Clock) -> datetime | None:
    return due_with_pauses(target.calendar, clock.started_at, target.warn_after, clock.pauses)


def report(catalog: Catalog, type_name: str, priority: str, clocks: Mapping[str, Clock],
           now: datetime) -> list[dict[str, Any]]:
    """Each target's due time and status at ``now``, JSON-ready, in the policy's order.

    ``status``: running, paused, warning, breached or met (see :mod:`engine.runtime.sla`).
    """
    out: list[dict[str, Any]] = []
    for target in targets_for(catalog, type_name, priority):
        clock = clocks.get(target.id)
        if clock is None:
            continue
        st = target.status(clock.started_at, now=now, pauses=clock.pauses, met_at=clock.met_at)
        out.append({
            "target": target.id,
            "policy": target.policy,
            "metric": target.metric,
            "status": st.state,
            "due_at": _iso(clock.due_at or st.due_at),
            "warn_at": _iso(st.warn_at),
            "met_at": _iso(clock.met_at),
            "paused": clock.paused,
            "percent_used": round(st.percent, 1),
            "warned_at": _iso(clock.warned_at),
            "breached_at": _iso(clock.breached_at),
        })
    return out


@dataclass(frozen=True)
class Fired:
    """A threshold of one target that the sweep records now."""

    target: str
    metric: str
    threshold: Threshold
    due_at: datetime | None
    actions: tuple[Action, ...]


def fire(
    catalog: Catalog, type_name: str, priority: str, clocks: Mapping[str, Clock], now: datetime
) -> tuple[dict[str, Clock], list[Fired], dict[str, Timing]]:
    """The thresholds due at ``now`` and not fired yet, in order, the clocks marking them fired, and
    the (due, warn) instants of the targets not yet met (for :func:`columns` at the same priority).

    A sweep that comes late fires a missed warning before the breach, each once.
    """
    targets = _resolved(catalog, type_name, priority)
    out = dict(clocks)
    fired: list[Fired] = []
    timing: dict[str, Timing] = {}
    for clock in clocks.values():
        target = targets.get(clock.target)
        if target is None or clock.met_at is not None:
            continue
        due_at = target.due(clock.started_at, clock.pauses)
        warn_at = _warn_at(target, clock)
        timing[clock.target] = (due_at, warn_at)
        new = clock
        if clock.warned_at is None and clock.breached_at is None and warn_at is not None and warn_at <= now:
            new = replace(new, warned_at=now)
            fired.append(Fired(target.id, target.metric, "warning", due_at, target.on_warning))
        if clock.breached_at is None and due_at is not None and due_at <= now:
            new = replace(new, breached_at=now, due_at=due_at)
            fired.append(Fired(target.id, target.metric, "breach", due_at, target.on_breach))
        out[clock.target] = new
    return out, fired, timing


def raised_priority(current: str, actions: Sequence[Action]) -> str:
    """The priority after ``raise_priority`` actions: never lowered."""
    best = current
    for action in actions:
        p = action.raise_priority
        if p is not None and _PRIORITY_RANK.get(p, 0) > _PRIORITY_RANK.get(best, 0):
            best = p
    return best


def reassigned_team(actions: Sequence[Action]) -> str | None:
    """The team the last ``reassign`` action names, if any."""
    team = None
    for action in actions:
        if action.reassign is not None:
            team = action.reassign
    return team
