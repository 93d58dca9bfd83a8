"""Ticket services: decide with the pure rules, then apply the plan in one transaction.

Every channel (REST API, pages, CLI) goes through these functions, so one set of rules holds
everywhere. A ticket is judged by the definition version it was created under.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from piccolo.query.functions.aggregate import Max

from engine.schema import Catalog
from engine.schema.compiler import catalog_from_snapshot

from . import slaclock, storage
from .approvals import ApprovalRow, decide_approval
from .attachments import link_attachments
from .changes import decide_assign, decide_comment, decide_edit
from .decide import available_transitions, decide_create, decide_transition
from .errors import InvalidInput, NotFound, TransitionNotAllowed
from .masking import mask_fields, mask_value, masked_fields
from .model import Actor, TicketSnapshot
from .notify.events import listened
from .parties import PartyLookup
from .permissions import can_note, can_view
from .plans import ApprovalStep, Event, assigned_event
from .routing import Candidate, RouteDecision, RouteRequest, decide_route
from .storage.tables import Approval, Comment, Ticket, TicketEvent, User

__all__ = ["Catalogs", "TicketService"]


@dataclass
class Catalogs:
    """The running Catalog plus older versions, loaded on demand for tickets raised under them."""

    current: Catalog
    _older: dict[str, Catalog] = field(default_factory=dict)

    async def for_ticket(self, ticket: TicketSnapshot) -> Catalog:
        return await self.for_version(ticket.definition_version)

    async def for_version(self, version: str) -> Catalog:
        """The catalog of a definition version (the running one when it was never recorded)."""
        if version == self.current.version:
            return self.current
        if version not in self._older:
            snapshot = await storage.definition_snapshot(version)
            if snapshot is None:  # the version was never recorded: judge by the running rules
                return self.current
            self._older[version] = catalog_from_snapshot(snapshot.encode("utf-8"))
        return self._older[version]


def _now() -> datetime:
    return datetime.now(UTC)


async def _user_ids(usernames: Sequence[str]) -> dict[str, int]:
    if not usernames:
        return {}
    rows = await User.select(User.id, User.username).where(User.username.is_in(list(usernames))).run()
    return {r["username"]: r["id"] for r in rows}


async def resolve_party(lookup: PartyLookup) -> list[Actor]:
    """Active users a PartyLookup names, found in SQL (the nearest org unit first when asked)."""
    if lookup.nobody:
        return []
    roles = sorted(lookup.roles)
    first_role = roles[0] if roles else None
    units: list[Sequence[str] | None] = (
        [[u] for u in lookup.org_units] if lookup.nearest and lookup.org_units else [lookup.org_units]
    )
    for unit_set in units:
        found = await storage.find_users(role=first_role, team=lookup.team, org_units=unit_set)
        found = [a for a in found if set(roles) <= a.roles and (lookup.users is None or a.username in lookup.users)]
        if found:
            return found
    return []


async def _route(request: RouteRequest, claims: storage.Claims, known: dict[str, int] | None = None) -> RouteDecision:
    """Where a ticket goes: the candidates, their loads and last assignments come from one query.

    The chosen user is added to ``claims`` before anything else runs, so that the routing of a
    concurrent write counts this assignment (see storage.inflight)."""
    candidates: list[Candidate] = []
    ids: dict[str, int] = {}
    lookup = request.candidates
    if request.needs_candidates and not lookup.nobody:
        roles = sorted(lookup.roles)
        users = sorted(lookup.users) if lookup.users is not None else None
        unit_sets: list[Sequence[str] | None] = (
            [[u] for u in lookup.org_units] if lookup.nearest and lookup.org_units else [lookup.org_units]
        )
        for units in unit_sets:
            found = await storage.route_candidates(roles=roles, team=lookup.team, org_units=units, usernames=users)
            if found:
                candidates = [Candidate(c.username, c.open_count, c.last_assigned or None) for c in found]
                ids = {c.username: c.id for c in found}
                if known is not None:  # the caller needs the chosen user's id: it is here already
                    known.update(ids)
                break
    decision = decide_route(request, candidates)
    if decision.assignee is not None and decision.assignee in ids:
        claims.add(ids[decision.assignee])
    return decision


def _events(
    events: Sequence[Event],
    actor: Actor | None,
    from_state: str | None = None,
    to_state: str | None = None,
    *,
    catalog: Catalog | None = None,
    type_name: str = "",
    at: datetime | None = None,
) -> list[storage.NewEvent]:
    """Events to store at ``at`` (default: when written); with ``catalog``, those a notification rule
    listens to get an outbox row."""
    return [
        storage.NewEvent(
            kind=e.kind,
            actor_id=actor.id if actor else None,
            from_state=from_state,
            to_state=to_state,
            data=dict(e.data),
            notify=catalog is not None and listened(catalog, type_name, e.kind, e.data, to_state),
            at=at,
        )
        for e in events
    ]


def sla_changes(
    catalog: Catalog,
    ticket: TicketSnapshot,
    *,
    at: datetime,
    state: str | None = None,
    priority: str | None = None,
    responded: bool = False,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
) -> dict[str, Any]:
    """The SLA columns after a change of state, priority or first response at ``at``."""
    state = state or ticket.state
    priority = priority or ticket.priority
    clocks = slaclock.advance(catalog, ticket.type, priority, state, slaclock.load(ticket.sla), at=at,
                              responded=responded)
    return slaclock.columns(
        catalog, ticket.type, priority, clocks, created_at=ticket.created_at or at,
        first_response_at=first_response_at or ticket.first_response_at, resolved_at=resolved_at,
    ).as_changes()


async def _open_approval(ticket_id: int, step: ApprovalStep, requester: str) -> None:
    # Nobody approves their own request: a manager's claim goes to the other approvers of the level.
    people = [p for p in await resolve_party(step.approvers) if p.username != requester]
    if not people:
        raise TransitionNotAllowed(
            f"approval '{step.approval}' level '{step.level}' has no approver to ask; "
            "(the requester cannot approve their own request); ask an administrator to grant the approver role"
        )
    rows = (
        await Approval.select(Max(Approval.round, alias="r"))
        .where((Approval.ticket_id == ticket_id) & (Approval.approval_id == step.approval))
        .run()
    )
    round_ = rows[0]["r"] or 1 if rows else 1
    await Approval.insert(
        *[
            Approval(
                ticket_id=ticket_id, approval_id=step.approval, level_id=step.level, approver_id=p.id, round=round_
            )
            for p in people
        ]
    ).run()


class TicketService:
    """The closed loop — raise, assign, handle, archive — for one running definition set."""

    def __init__(self, catalogs: Catalogs, clock: Callable[[], datetime] | None = None) -> None:
        self.catalogs = catalogs
        # What "now" is for due times and the instants the service records (tests inject one).
        self.now = clock or _now

    @property
    def catalog(self) -> Catalog:
        return self.catalogs.current

    async def get(self, actor: Actor, ticket_id: int, *, for_update: bool = False) -> TicketSnapshot:
        """The ticket if the actor may see it; NotFound otherwise (its existence is not leaked)."""
        if not 0 < ticket_id < 2**31:  # ids are 32-bit serials; anything else cannot exist
            raise NotFound(f"ticket {ticket_id} not found")
        ticket = await storage.fetch_ticket(ticket_id, for_update=for_update)
        if ticket is None or not can_view(await self.catalogs.for_ticket(ticket), actor, ticket):
            raise NotFound(f"ticket {ticket_id} not found")
        return ticket

    async def view(self, actor: Actor, ticket: TicketSnapshot, *, listed: bool = False) -> dict[str, Any]:
        """What the actor may see of a ticket: masked fields and the transitions open to them now.

        ``listed``: the ticket comes from a list in the actor's scope (visible by construction).
        """
        catalog = await self.catalogs.for_ticket(ticket)
        return {
            "fields": mask_fields(catalog, actor, ticket.type, ticket.fields, requester=ticket.requester),
            "transitions": [t.id for t in available_transitions(catalog, actor, ticket, visible=listed)],
        }

    async def sla_status(self, ticket: TicketSnapshot) -> list[dict[str, Any]]:
        """Each SLA target of the ticket with its due time and status now."""
        catalog = await self.catalogs.for_ticket(ticket)
        return slaclock.report(catalog, ticket.type, ticket.priority, slaclock.load(ticket.sla), self.now())

    async def create(
        self,
        actor: Actor,
        type_name: str,
        title: str,
        fields: Mapping[str, Any],
        *,
        priority: str | None = None,
        org_unit: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[TicketSnapshot, bool]:
        """Raise a ticket; returns it and whether it is new (False: an idempotent retry)."""
        if idempotency_key is not None:
            existing = await storage.ticket_for_idempotency_key(actor.id, idempotency_key)
            if existing is not None:
                return await self.get(actor, existing), False
        plan = decide_create(self.catalog, actor, type_name, title, fields, priority, org_unit)
        ctype = self.catalog.types[type_name]
        flow = ctype.flow
        # On PostgreSQL a plain create (no key, no approval, no files) is one routing read and one
        # INSERT statement that writes the ticket with its events atomically: a transaction around
        # them adds two round trips and no guarantee (routing reads committed data either way).
        plain = (
            idempotency_key is None
            and plan.approval is None
            and not any(plan.fields.get(f.id) for f in ctype.spec.fields if f.type == "attachment")
            and storage.is_postgres()
        )
        try:
            async with storage.claims() as claims, contextlib.nullcontext() if plain else storage.transaction():
                ids: dict[str, int] = {}
                decision = await _route(plan.route, claims, ids) if plan.route is not None else None
                if decision is not None and decision.assignee and decision.assignee not in ids:
                    ids = await _user_ids([decision.assignee])
                at = self.now()
                events = _events(plan.events, actor, to_state=plan.state, catalog=self.catalog, type_name=type_name,
                                 at=at)
                if decision is not None:
                    ev = assigned_event((None, decision.team), (None, decision.assignee))
                    if ev is not None:
                        events.append(
                            storage.NewEvent(
                                kind=ev.kind,
                                actor_id=None,
                                data={**ev.data, "rule": decision.rule_id, "strategy": decision.strategy},
                                notify=listened(self.catalog, type_name, ev.kind, ev.data, None),
                                at=at,
                            )
                        )
                clocks = slaclock.start(self.catalog, type_name, plan.priority, plan.state, at)
                sla = slaclock.columns(self.catalog, type_name, plan.priority, clocks, created_at=at)
                ticket = await storage.insert_ticket(
                    storage.NewTicket(
                        type=plan.type,
                        title=plan.title,
                        state=plan.state,
                        state_category=flow.category(plan.state),
                        priority=plan.priority,
                        requester_id=actor.id,
                        definition_version=plan.definition_version,
                        fields=plan.fields,
                        org_unit=plan.org_unit,
                        team=decision.team if decision else None,
                        assignee_id=ids.get(decision.assignee) if decision and decision.assignee else None,
                        requester_username=actor.username,
                        assignee_username=decision.assignee if decision else None,
                        created_at=at,
                        sla=sla.sla,
                        sla_next_at=sla.sla_next_at,
                        response_due_at=sla.response_due_at,
                        resolution_due_at=sla.resolution_due_at,
                    ),
                    events,
                    idempotency_key=idempotency_key,
                )
                await link_attachments(ctype, actor, ticket.id, {}, plan.fields)
                if plan.approval is not None:
                    await _open_approval(ticket.id, plan.approval, ticket.requester)
        except storage.DuplicateRequest as dup:
            if dup.ticket_id is None:
                found = await storage.ticket_for_idempotency_key(actor.id, dup.key)
                if found is None:
                    raise
                return await self.get(actor, found), False
            return await self.get(actor, dup.ticket_id), False
        return ticket, True

    async def transition(
        self,
        actor: Actor,
        ticket_id: int,
        transition_id: str,
        fields: Mapping[str, Any] | None = None,
        comment: str | None = None,
        row_version: int | None = None,
    ) -> TicketSnapshot:
        """Move a ticket along its flow; exactly one of two concurrent moves wins, the other gets 409."""
        async with storage.claims() as claims, storage.transaction():
            ticket = await self.get(actor, ticket_id, for_update=True)
            catalog = await self.catalogs.for_ticket(ticket)
            plan = decide_transition(catalog, actor, ticket, transition_id, fields, comment)
            await link_attachments(catalog.types[ticket.type], actor, ticket.id, ticket.fields, plan.fields)
            expected = row_version if row_version is not None else plan.row_version
            flow = catalog.types[ticket.type].flow
            changes: dict[str, Any] = {
                "state": plan.to_state,
                "state_category": flow.category(plan.to_state),
                "fields": dict(plan.fields),
                "priority": plan.priority,
            }
            now = self.now()
            if flow.is_closing(plan.to_state) and not flow.is_closing(plan.from_state):
                changes["resolved_at"] = now
            elif not flow.is_closing(plan.to_state):
                changes["resolved_at"] = None
                if flow.is_closing(plan.from_state):
                    changes["reopen_count"] = ticket.reopen_count + 1
            responded = ticket.first_response_at is None and actor.username != ticket.requester
            if responded:
                changes["first_response_at"] = now
            changes.update(sla_changes(
                catalog, ticket, at=now, state=plan.to_state, priority=plan.priority, responded=responded,
                first_response_at=changes.get("first_response_at"),
                resolved_at=changes.get("resolved_at", ticket.resolved_at),
            ))
            events = _events(plan.events, actor, plan.from_state, plan.to_state, catalog=catalog,
                             type_name=ticket.type, at=now)
            team, assignee = ticket.team, ticket.assignee
            if plan.unassign:
                assignee = None
            if plan.assignee is not None:
                assignee = plan.assignee
            if plan.route is not None:
                decision = await _route(plan.route, claims)
                team = decision.team or team
                assignee = decision.assignee if decision.assignee is not None else (None if plan.unassign else assignee)
            ev = assigned_event((ticket.team, team), (ticket.assignee, assignee))
            if ev is not None:
                events.append(storage.NewEvent(kind=ev.kind, actor_id=actor.id, data=dict(ev.data), at=now,
                                               notify=listened(catalog, ticket.type, ev.kind, ev.data, None)))
                ids = await _user_ids([assignee] if assignee else [])
                changes["team"] = team
                changes["assignee_id"] = ids.get(assignee) if assignee else None
            if plan.comment:
                await Comment.insert(
                    Comment(ticket_id=ticket.id, author_id=actor.id, body=plan.comment, internal=False)
                ).run()
            if plan.cancel_approval:
                await (
                    Approval.update({Approval.decision: "cancelled", Approval.decided_at: now})
                    .where((Approval.ticket_id == ticket.id) & (Approval.decision == "pending"))
                    .run()
                )
            if plan.approval is not None:
                await _open_approval(ticket.id, plan.approval, ticket.requester)
            return await storage.update_ticket(ticket.id, expected, changes, events)

    async def edit(
        self,
        actor: Actor,
        ticket_id: int,
        fields: Mapping[str, Any] | None = None,
        *,
        title: str | None = None,
        priority: str | None = None,
        row_version: int | None = None,
    ) -> TicketSnapshot:
        async with storage.transaction():
            ticket = await self.get(actor, ticket_id, for_update=True)
            plan = decide_edit(
                await self.catalogs.for_ticket(ticket), actor, ticket, fields, title=title, priority=priority
            )
            if not plan.events:
                return ticket
            catalog = await self.catalogs.for_ticket(ticket)
            ctype = catalog.types[ticket.type]
            await link_attachments(ctype, actor, ticket.id, ticket.fields, plan.fields)
            changes = {"fields": dict(plan.fields), "title": plan.title, "priority": plan.priority}
            if plan.priority != ticket.priority:  # the targets' durations follow the priority
                changes.update(sla_changes(catalog, ticket, at=self.now(), priority=plan.priority,
                                           resolved_at=ticket.resolved_at))
            return await storage.update_ticket(
                ticket.id, row_version or plan.row_version, changes,
                _events(plan.events, actor, catalog=catalog, type_name=ticket.type, at=self.now()),
            )

    async def assign(
        self, actor: Actor, ticket_id: int, *, assignee: str | None, team: str | None, row_version: int | None = None
    ) -> TicketSnapshot:
        async with storage.transaction():
            ticket = await self.get(actor, ticket_id, for_update=True)
            catalog = await self.catalogs.for_ticket(ticket)
            plan = decide_assign(catalog, actor, ticket, assignee=assignee, team=team)
            ids = await _user_ids([assignee] if assignee else [])
            if assignee and assignee not in ids:
                raise InvalidInput([("assignee", f"unknown user '{assignee}'")])
            if not plan.events:
                return ticket
            changes = {"team": plan.team, "assignee_id": ids.get(plan.assignee) if plan.assignee else None}
            return await storage.update_ticket(
                ticket.id, row_version or plan.row_version, changes,
                _events(plan.events, actor, catalog=catalog, type_name=ticket.type, at=self.now()),
            )

    async def comment(self, actor: Actor, ticket_id: int, body: str, *, internal: bool = False) -> int:
        async with storage.transaction():
            ticket = await self.get(actor, ticket_id)
            catalog = await self.catalogs.for_ticket(ticket)
            plan = decide_comment(catalog, actor, ticket, body, internal)
            responded = not plan.internal and ticket.first_response_at is None and actor.username != ticket.requester
            if responded:  # the first response stops SLA clocks: lock the row against a concurrent change
                ticket = await self.get(actor, ticket_id, for_update=True)
            rows = (
                await Comment.insert(
                    Comment(ticket_id=ticket.id, author_id=actor.id, body=plan.body, internal=plan.internal)
                )
                .returning(Comment.id)
                .run()
            )
            await storage.append_events(ticket.id, _events(plan.events, actor, catalog=catalog, at=self.now(),
                                                           type_name=ticket.type))
            if responded and ticket.first_response_at is None:
                now = self.now()
                changes = {"first_response_at": now, **sla_changes(catalog, ticket, at=now, responded=True,
                                                                   first_response_at=now,
                                                                   resolved_at=ticket.resolved_at)}
                due = changes.pop("sla_next_at")
                await Ticket.update({Ticket._meta.get_column_by_name(k): v for k, v in changes.items()}).where(
                    Ticket.id == ticket.id).run()
                await storage.set_sla_due(ticket.id, due)
            comment_id: int = rows[0]["id"]
            return comment_id

    async def comments(self, actor: Actor, ticket_id: int) -> list[dict[str, Any]]:
        """Public comments, plus internal notes for those who may write them."""
        ticket = await self.get(actor, ticket_id)
        where: Any = Comment.ticket_id == ticket.id
        if not can_note(await self.catalogs.for_ticket(ticket), actor, ticket):
            where = where & (Comment.internal == False)  # noqa: E712 - piccolo builds SQL from ==
        return list(
            await Comment.select(
                Comment.id,
                Comment.body,
                Comment.internal,
                Comment.created_at,
                Comment.author_id.username.as_alias("author"),
            )
            .where(where)
            .order_by(Comment.id)
            .run()
        )

    async def approval_rows(self, ticket_id: int) -> list[dict[str, Any]]:
        return list(
            await Approval.select(
                Approval.id,
                Approval.approval_id,
                Approval.level_id,
                Approval.decision,
                Approval.comment,
                Approval.decided_at,
                Approval.round,
                Approval.approver_id.username.as_alias("approver"),
            )
            .where(Approval.ticket_id == ticket_id)
            .order_by(Approval.id)
            .run()
        )

    async def decide(self, actor: Actor, ticket_id: int, decision: str, comment: str | None = None) -> TicketSnapshot:
        """An approver approves or rejects the pending level of the ticket's approval."""
        if decision not in ("approve", "reject"):
            raise InvalidInput([("decision", "must be approve or reject")])
        async with storage.transaction():
            ticket = await self.get(actor, ticket_id, for_update=True)
            catalog = await self.catalogs.for_ticket(ticket)
            approval = catalog.types[ticket.type].flow.approvals.get(ticket.state)
            raw = await self.approval_rows(ticket.id) if approval is not None else []
            latest = max((r["round"] for r in raw if r["approval_id"] == (approval.id if approval else "")), default=1)
            rows = [
                ApprovalRow(r["level_id"], r["approver"], r["decision"])
                for r in raw
                if approval is not None and r["approval_id"] == approval.id and r["round"] == latest
            ]
            plan = decide_approval(catalog, actor, ticket, rows, decision, comment)
            now = self.now()
            await (
                Approval.update(
                    {Approval.decision: plan.decision, Approval.comment: plan.comment, Approval.decided_at: now}
                )
                .where(
                    (Approval.ticket_id == ticket.id)
                    & (Approval.level_id == plan.level)
                    & (Approval.approver_id == actor.id)
                    & (Approval.decision == "pending")
                )
                .run()
            )
            if plan.level_done:
                await (
                    Approval.update({Approval.decision: "cancelled", Approval.decided_at: now})
                    .where((Approval.ticket_id == ticket.id) & (Approval.decision == "pending"))
                    .run()
                )
            if plan.next_step is not None:
                await _open_approval(ticket.id, plan.next_step, ticket.requester)
            changes: dict[str, Any] = {}
            flow = catalog.types[ticket.type].flow
            if plan.to_state is not None:
                changes = {"state": plan.to_state, "state_category": flow.category(plan.to_state)}
                if flow.is_closing(plan.to_state):
                    changes["resolved_at"] = now
                responded = ticket.first_response_at is None and actor.username != ticket.requester
                if responded:
                    changes["first_response_at"] = now
                changes.update(sla_changes(catalog, ticket, at=now, state=plan.to_state, responded=responded,
                                           first_response_at=changes.get("first_response_at"),
                                           resolved_at=changes.get("resolved_at", ticket.resolved_at)))
            return await storage.update_ticket(
                ticket.id, plan.row_version, changes,
                _events(plan.events, actor, ticket.state, plan.to_state, catalog=catalog, type_name=ticket.type,
                        at=now),
            )

    async def events(self, actor: Actor, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's timeline: events and comments (internal notes only for those who may write them)."""
        ticket = await self.get(actor, ticket_id)
        rows = (
            await TicketEvent.select(
                TicketEvent.id,
                TicketEvent.at,
                TicketEvent.kind,
                TicketEvent.from_state,
                TicketEvent.to_state,
                TicketEvent.data,
                TicketEvent.actor_id.username.as_alias("actor"),
            )
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id)
            .output(load_json=True)
            .run()
        )
        catalog = await self.catalogs.for_ticket(ticket)
        if not can_note(catalog, actor, ticket):
            rows = [r for r in rows if not (r["kind"] == "comment" and (r["data"] or {}).get("internal"))]
        hidden = masked_fields(catalog, actor, ticket.type, ticket.requester)
        if hidden:
            ctype = catalog.types[ticket.type]
            for row in rows:
                row["data"] = _mask_data(row["data"], {f: ctype.fields[f] for f in hidden if f in ctype.fields})
        return list(rows)


def _mask_data(data: Any, hidden: Mapping[str, Any]) -> Any:
    """Event data with every value of a sensitive field masked, wherever in the data it stands."""
    if isinstance(data, list):
        return [_mask_data(x, hidden) for x in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in hidden:
            if isinstance(value, dict) and set(value) <= {"before", "after"}:
                out[key] = {k: mask_value(hidden[key], v) for k, v in value.items()}
            else:
                out[key] = mask_value(hidden[key], value)
        else:
            out[key] = _mask_data(value, hidden)
    return out
