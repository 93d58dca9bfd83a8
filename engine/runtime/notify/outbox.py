"""The notification outbox: turn events into messages, deliver them, retry, dead-letter.

An event that some rule listens to is written with an ``event`` outbox row in the same
transaction (see ``engine.runtime.storage.tickets``). The worker then:

1. **expands** event rows (:meth:`Outbox.expand`): the rules that apply, their condition on the
   ticket, the recipients, one rendered ``message`` row per recipient and personal channel and one
   per chat channel; in-app messages land in the recipients' notification lists at once. The
   event row is marked done in the same transaction, so an event is expanded once.
2. **delivers** message rows (:meth:`Outbox.deliver`): a batch is claimed with a lease
   (``locked_until``) and an attempt counted before anything is sent; each message goes out with
   its stable key as delivery id; success marks it sent, a retryable failure schedules the next
   attempt with exponential backoff, a permanent failure or the last attempt dead-letters it with
   the error for admins. A worker killed mid-delivery leaves its lease to expire, and another
   attempt goes out with the same delivery id, so an idempotent receiver keeps one copy.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.schema import Catalog
from engine.schema.conditions import evaluate
from engine.schema.message_templates import TemplateRenderError
from engine.schema.model import Party

from .. import storage
from ..model import TicketSnapshot
from ..parties import lookup
from ..storage.sql import fetch, sqlite_time
from ..storage.tables import Ticket
from .channels import Deliverer
from .compose import SLA_BODY, SLA_SUBJECT, EventInfo, Text, render, template_context
from .events import notification_events
from .message import DeliveryError, Message
from .settings import NotifySettings, channel_variable

__all__ = ["DeliveryResult", "Outbox", "default_language", "unconfigured_channels"]

PERSONAL = ("email", "in_app")


def default_language() -> str:
    """The language of chat messages and of users who chose none: ``GONGDAN_LANGUAGE`` or English."""
    lang = (os.environ.get("GONGDAN_LANGUAGE") or "en").lower()
    return "zh" if lang.startswith("zh") else "en"


def unconfigured_channels(catalog: Catalog, settings: NotifySettings) -> list[str]:
    """What start-up should warn about: channels the rules use whose messages would go nowhere."""
    used = {c for r in catalog.notifications for c in r.rule.channels}
    for sla in catalog.slas.values():
        for target in sla.targets:
            for action in (*target.on_warning, *target.on_breach):
                if action.notify:
                    used.update(getattr(action, "channels", None) or PERSONAL)
    out = []
    if "email" in used and settings.smtp is None:
        out.append("e-mail is not configured (GONGDAN_SMTP_HOST): e-mail notifications are not sent")
    for name in sorted(used - {"email", "in_app"}):
        if settings.webhook(name) is None:
            out.append(f"channel '{name}' has no URL ({channel_variable(name)}): its messages are not sent")
    return out


@dataclass
class DeliveryResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0


@dataclass(frozen=True)
class _Person:
    id: int
    username: str
    display_name: str
    email: str | None
    lang: str


@dataclass
class _Planned:
    """Rows one expansion writes."""

    messages: list[tuple[Any, ...]] = field(default_factory=list)
    in_app: list[tuple[str, int, int | None, str, str]] = field(default_factory=list)  # key, user, ticket, ...


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value) if value else {}
    return value if isinstance(value, dict) else {}


class Outbox:
    """Expansion and delivery for one running server or worker process."""

    def __init__(self, catalogs: Any, settings: NotifySettings, deliverer: Deliverer | None = None) -> None:
        self.catalogs = catalogs
        self.settings = settings
        self.deliverer = deliverer or Deliverer(settings)

    async def aclose(self) -> None:
        await self.deliverer.aclose()

    # -- expansion ---------------------------------------------------------------------------

    async def expand(self, now: datetime, limit: int = 100) -> int:
        """Expand up to ``limit`` pending event rows into messages; how many were expanded.

        The work (recipients, templates) is done before the write transaction, which then only
        claims the rows still pending and writes their messages: SQLite's single write lock, which
        every request that changes a ticket needs too, is held for the inserts alone. Two workers
        may plan the same rows; the claim lets one of them write them.
        """
        postgres = storage.is_postgres()
        pending = await fetch(
            "SELECT id, ticket_id, event_id FROM notification_outbox WHERE status = 'pending' "
            "AND row_kind = 'event' ORDER BY next_attempt_at, id LIMIT {}", limit)
        if not pending:
            return 0
        event_ids = [r["event_id"] for r in pending]
        events = {r["id"]: r for r in await fetch(
            "SELECT e.id, e.ticket_id, e.kind, e.from_state, e.to_state, e.data, e.at, e.actor_id, u.username, "
            "u.display_name FROM ticket_events e LEFT JOIN users u ON u.id = e.actor_id WHERE e.id IN ("
            + ", ".join(["{}"] * len(event_ids)) + ")", *event_ids)}
        ticket_ids = sorted({r["ticket_id"] for r in pending})
        tickets = {
            row["id"]: storage.snapshot_from_row(row)
            for row in await storage.ticket_select().where(Ticket.id.is_in(ticket_ids)).run()
        }
        approvers = await _pending_approvers(ticket_ids)
        planned = _Planned()
        for row in pending:
            event = events.get(row["event_id"])
            ticket = tickets.get(row["ticket_id"])
            if event is None or ticket is None:
                continue
            catalog = await self.catalogs.for_version(ticket.definition_version)
            await self._expand_one(catalog, ticket, event, approvers.get(ticket.id, ()), now, planned)
        ids = [r["id"] for r in pending]
        async with storage.transaction():
            claimed = await fetch("UPDATE notification_outbox SET status = 'done' WHERE status = 'pending' AND id IN ("
                                  + ", ".join(["{}"] * len(ids)) + ") RETURNING event_id", *ids)
            mine = {r["event_id"] for r in claimed}
            planned.messages = [m for m in planned.messages if m[2] in mine]
            kept = {m[0] for m in planned.messages}
            planned.in_app = [n for n in planned.in_app if n[0] in kept]
            await _write(planned, now, postgres)
        return len(claimed)

    async def _expand_one(self, catalog: Catalog, ticket: TicketSnapshot, event: Mapping[str, Any],
                          approvers: Sequence[int], now: datetime, planned: _Planned) -> None:
        data = _json(event["data"])
        kinds = notification_events(event["kind"], data)
        actor_id = event["actor_id"]
        seen: set[tuple[str, str]] = set()  # a rule on both transitioned and entered fires once
        for kind in kinds:
            info = EventInfo(kind=kind, actor=event["username"], actor_name=event["display_name"],
                             from_state=event["from_state"], to_state=event["to_state"], data=data)
            for compiled in catalog.rules_for(kind, ticket.type, event["to_state"]):
                rule = compiled.rule
                if (compiled.document, rule.id) in seen:
                    continue
                seen.add((compiled.document, rule.id))
                if compiled.when is not None and not evaluate(compiled.when, ticket.values()):
                    continue
                people, addresses = await self._recipients(catalog, ticket, rule.to, actor_id, approvers)
                if rule.exclude_actor and actor_id is not None:
                    people = [p for p in people if p.id != actor_id]
                await self._plan(catalog, ticket, info, event, f"{compiled.document}/{rule.id}", rule.channels,
                                 people, addresses, rule.subject, rule.body, planned, now)
        if event["kind"] in ("sla_warning", "sla_breached"):
            info = EventInfo(kind=event["kind"], data=data)
            for i, action in enumerate(_sla_actions(catalog, ticket, data)):
                if not action.notify:
                    continue
                people, addresses = await self._recipients(catalog, ticket, action.notify, None, approvers)
                channels = tuple(getattr(action, "channels", None) or PERSONAL)
                await self._plan(catalog, ticket, info, event, f"sla/{data.get('target')}/{data.get('threshold')}/{i}",
                                 channels, people, addresses, SLA_SUBJECT, SLA_BODY, planned, now)

    async def _recipients(self, catalog: Catalog, ticket: TicketSnapshot, parties: Sequence[Any],
                          actor_id: int | None, approvers: Sequence[int]) -> tuple[list[_Person], list[str]]:
        from ..service import resolve_party  # the service owns the directory queries for parties

        ids: list[int] = []
        usernames: list[str] = []
        teams: list[str] = []
        addresses: list[str] = []
        for p in parties:
            address = getattr(p, "address", None)
            relation = getattr(p, "relation", None)
            plain = not (p.role or p.team or p.user or p.org)
            if address:
                addresses.append(address)
            elif relation == "approvers":
                ids.extend(approvers)
            elif relation == "actor":
                if actor_id is not None:
                    ids.append(actor_id)
            elif plain and relation in ("requester", "assignee"):
                # the common cases need no directory lookup: the ticket names the person
                who = ticket.requester if relation == "requester" else ticket.assignee
                if who:
                    usernames.append(who)
            elif plain and relation == "team_member":
                if ticket.team:
                    teams.append(ticket.team)
            elif relation is None and p.team and not (p.role or p.user or p.org):
                teams.append(p.team)
            else:
                party = Party(role=p.role, team=p.team, user=p.user, relation=relation, org=p.org)
                ids.extend(a.id for a in await resolve_party(lookup(catalog, party, ticket)))
        return await _people(ids, usernames, teams), addresses

    async def _plan(self, catalog: Catalog, ticket: TicketSnapshot, info: EventInfo, event: Mapping[str, Any],
                    source: str, channels: Sequence[str], people: Sequence[_Person], addresses: Sequence[str],
                    subject: Text | None, body: Text, planned: _Planned, now: datetime) -> None:
        names = await _names(ticket)
        base = dict(ticket_id=ticket.id, event_id=event["id"], source=source[:250])

        def text(lang: str, person: _Person | None) -> tuple[str, str, str | None]:
            ctx = template_context(catalog, ticket, info, lang=lang, base_url=self.settings.base_url, names=names,
                                   recipient=(person.username, person.display_name) if person else None)
            try:
                s, b = render(subject, body, ctx)
                return s, b, None
            except TemplateRenderError as exc:
                return f"{ticket.number} {ticket.title}", "", f"template error in {source}: {exc}"

        for channel in channels:
            if not self.configured(channel):
                continue  # said once at start-up (unconfigured_channels); nothing to send it through
            if channel == "in_app":
                for person in people:
                    s, b, error = text(person.lang, person)
                    key = uuid.uuid4().hex
                    planned.messages.append(_message(key, base, channel, person.id, None, person.lang, s, b,
                                                     "dead" if error else "sent", error, now))
                    if not error:
                        planned.in_app.append((key, person.id, ticket.id, s, b))
            elif channel == "email":
                for person in people:
                    if not person.email:
                        continue
                    s, b, error = text(person.lang, person)
                    planned.messages.append(_message(uuid.uuid4().hex, base, channel, person.id, person.email,
                                                     person.lang, s, b, "dead" if error else "pending", error, now))
                for address in addresses:
                    lang = default_language()
                    s, b, error = text(lang, None)
                    planned.messages.append(_message(uuid.uuid4().hex, base, channel, None, address, lang, s, b,
                                                     "dead" if error else "pending", error, now))
            else:
                lang = default_language()
                s, b, error = text(lang, None)
                planned.messages.append(_message(uuid.uuid4().hex, base, channel, None, None, lang, s, b,
                                                 "dead" if error else "pending", error, now))

    def configured(self, channel: str) -> bool:
        """Whether messages of ``channel`` can go anywhere: SMTP for e-mail, a URL for a webhook."""
        if channel == "in_app":
            return True
        if channel == "email":
            return self.settings.smtp is not None
        return self.settings.webhook(channel) is not None

    # -- delivery ----------------------------------------------------------------------------

    async def claim(self, now: datetime, limit: int) -> list[Mapping[str, Any]]:
        """Reserve up to ``limit`` due messages for this worker (lease) and count the attempt."""
        postgres = storage.is_postgres()
        at = now if postgres else sqlite_time(now)
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        async with storage.transaction():
            rows = await fetch(
                "SELECT id, key, ticket_id, event_id, source, channel, address, subject, body, attempts, created_at, "
                "recipient_id FROM notification_outbox WHERE status = 'pending' AND row_kind = 'message' "
                "AND next_attempt_at <= {} AND (locked_until IS NULL OR locked_until <= {}) "
                "ORDER BY next_attempt_at, id LIMIT {}" + (" FOR UPDATE SKIP LOCKED" if postgres else ""),
                at, at, limit)
            if rows:
                ids = [r["id"] for r in rows]
                await fetch("UPDATE notification_outbox SET locked_until = {}, attempts = attempts + 1 WHERE id IN ("
                            + ", ".join(["{}"] * len(ids)) + ")", lease if postgres else sqlite_time(lease), *ids)
        return list(rows)

    def _message(self, catalog: Catalog, row: Mapping[str, Any], names: Mapping[int, str]) -> Message:
        channel = row["channel"]
        fmt: Any = "email"
        if channel != "email":
            spec = catalog.channels.get(channel)
            if spec is None:
                raise DeliveryError(f"channel '{channel}' is no longer defined", retryable=False)
            fmt = spec.format
        url = f"{self.settings.base_url.rstrip('/')}/tickets/{row['ticket_id']}" if row["ticket_id"] else None
        return Message(
            id=row["key"], channel=channel, format=fmt, subject=row["subject"], body=row["body"],
            to=row["address"], to_name=names.get(row["recipient_id"]) if row["recipient_id"] else None, url=url,
            data={"ticket_id": row["ticket_id"], "event_id": row["event_id"], "source": row["source"]},
            created_at=_time(row["created_at"]),
        )

    async def deliver(self, now: datetime, limit: int = 500) -> DeliveryResult:
        """Send one claimed batch of due messages, concurrently; record each outcome."""
        rows = await self.claim(now, limit)
        result = DeliveryResult()
        if not rows:
            return result
        catalog: Catalog = self.catalogs.current
        names = {p.id: p.display_name for p in await _people({r["recipient_id"] for r in rows if r["recipient_id"]})}
        # a fixed set of senders taking messages in turn: each has at most one request in flight
        pending = list(reversed(rows))
        outcomes: list[tuple[Mapping[str, Any], DeliveryError | None]] = []

        async def sender() -> None:
            while pending:
                row = pending.pop()
                try:
                    await self.deliverer.send(self._message(catalog, row, names))
                    outcomes.append((row, None))
                except DeliveryError as exc:
                    outcomes.append((row, exc))

        await asyncio.gather(*(sender() for _ in range(max(1, min(self.settings.concurrency, len(rows))))))
        await self._record(outcomes, now, result)
        return result

    async def _record(self, outcomes: Sequence[tuple[Mapping[str, Any], DeliveryError | None]], now: datetime,
                      result: DeliveryResult) -> None:
        postgres = storage.is_postgres()
        at: Any = now if postgres else sqlite_time(now)
        sent = [row["id"] for row, error in outcomes if error is None]
        async with storage.transaction():
            if sent:
                await fetch("UPDATE notification_outbox SET status = 'sent', sent_at = {}, locked_until = NULL, "
                            "last_error = NULL WHERE id IN (" + ", ".join(["{}"] * len(sent)) + ")", at, *sent)
            result.sent += len(sent)
            for row, error in outcomes:
                if error is None:
                    continue
                attempts = int(row["attempts"]) + 1
                if error.retryable and attempts < self.settings.max_attempts:
                    wait = max(self.settings.backoff(attempts), error.retry_after or 0)
                    later = now + timedelta(seconds=wait)
                    await fetch("UPDATE notification_outbox SET next_attempt_at = {}, locked_until = NULL, "
                                "last_error = {} WHERE id = {}", later if postgres else sqlite_time(later),
                                str(error)[:2000], row["id"])
                    result.retried += 1
                else:
                    await fetch("UPDATE notification_outbox SET status = 'dead', locked_until = NULL, "
                                "last_error = {} WHERE id = {}", str(error)[:2000], row["id"])
                    result.dead += 1


def _message(key: str, base: Mapping[str, Any], channel: str, recipient_id: int | None, address: str | None,
             lang: str, subject: str, body: str, status: str, error: str | None, now: datetime) -> tuple[Any, ...]:
    return (key, base["ticket_id"], base["event_id"], base["source"], channel, recipient_id, address, lang,
            subject, body, status, error, now, now if status == "sent" else None)


async def _write(planned: _Planned, now: datetime, postgres: bool) -> None:
    if planned.messages:
        cols = ("key", "row_kind", "ticket_id", "event_id", "source", "channel", "recipient_id", "address", "lang",
                "subject", "body", "status", "last_error", "next_attempt_at", "created_at", "sent_at", "attempts")
        for chunk in _chunks(planned.messages, 1000):
            args: list[Any] = []
            for (key, ticket_id, event_id, source, channel, rid, address, lang, subject, body, status, error, at,
                 sent_at) in chunk:
                t = at if postgres else sqlite_time(at)
                args.extend((key, "message", ticket_id, event_id, source, channel, rid, address, lang, subject, body,
                             status, error, t, t, sent_at if postgres else sqlite_time(sent_at),
                             1 if status == "sent" else 0))
            row = "(" + ", ".join(["{}"] * len(cols)) + ")"
            await fetch(f"INSERT INTO notification_outbox ({', '.join(cols)}) VALUES "
                        + ", ".join([row] * len(chunk)), *args)
    if planned.in_app:
        keys = [k for k, *_ in planned.in_app]
        ids = {r["key"]: r["id"] for r in await fetch(
            "SELECT id, key FROM notification_outbox WHERE key IN (" + ", ".join(["{}"] * len(keys)) + ")", *keys)}
        args = []
        for key, user_id, ticket_id, subject, body in planned.in_app:
            args.extend((user_id, ticket_id, ids[key], subject, body, now if postgres else sqlite_time(now)))
        await fetch("INSERT INTO notifications (user_id, ticket_id, outbox_id, subject, body, created_at) VALUES "
                    + ", ".join(["({}, {}, {}, {}, {}, {})"] * len(planned.in_app)), *args)


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _sla_actions(catalog: Catalog, ticket: TicketSnapshot, data: Mapping[str, Any]) -> tuple[Any, ...]:
    ctype = catalog.types.get(ticket.type)
    policy = catalog.slas.get(ctype.spec.sla) if ctype and ctype.spec.sla else None
    if policy is None:
        return ()
    for target in policy.targets:
        if target.id == data.get("target"):
            return tuple(target.on_breach if data.get("threshold") == "breach" else target.on_warning)
    return ()


async def _people(ids: Sequence[int] | set[int], usernames: Sequence[str] = (),
                  teams: Sequence[str] = ()) -> list[_Person]:
    """Active users among ``ids``, ``usernames`` and the members of ``teams``, in one query."""
    unique, names, groups = sorted(set(ids)), sorted(set(usernames)), sorted(set(teams))
    where: list[str] = []
    args: list[Any] = []
    for column, values in (("id", unique), ("username", names)):
        if values:
            where.append(f"{column} IN ({', '.join(['{}'] * len(values))})")
            args.extend(values)
    if groups:
        where.append(f"id IN (SELECT user_id FROM team_members WHERE team IN ({', '.join(['{}'] * len(groups))}))")
        args.extend(groups)
    if not where:
        return []
    rows = await fetch("SELECT id, username, display_name, email, language FROM users WHERE active = {} AND ("
                       + " OR ".join(where) + ")", True, *args)
    default = default_language()
    return [_Person(r["id"], r["username"], r["display_name"] or r["username"], r["email"],
                    "zh" if (r["language"] or default).startswith("zh") else "en") for r in rows]


async def _names(ticket: TicketSnapshot) -> dict[str, str]:
    names = [n for n in (ticket.requester, ticket.assignee) if n]
    rows = await fetch("SELECT username, display_name FROM users WHERE username IN ("
                       + ", ".join(["{}"] * len(names)) + ")", *names) if names else []
    return {r["username"]: r["display_name"] or r["username"] for r in rows}


async def _pending_approvers(ticket_ids: Sequence[int]) -> dict[int, list[int]]:
    if not ticket_ids:
        return {}
    rows = await fetch("SELECT ticket_id, approver_id FROM approvals WHERE decision = 'pending' AND ticket_id IN ("
                       + ", ".join(["{}"] * len(ticket_ids)) + ")", *ticket_ids)
    out: dict[int, list[int]] = {}
    for r in rows:
        out.setdefault(r["ticket_id"], []).append(r["approver_id"])
    return out
