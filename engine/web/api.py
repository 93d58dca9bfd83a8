"""REST API under /api/v1: the same services and permission checks as the pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from engine.render.i18n import COOKIE as LANG_COOKIE
from engine.render.i18n import LANGUAGES, negotiate
from engine.render.report_view import ReportView, report_csv, report_json, report_view
from engine.runtime.auth.login import verify_login
from engine.runtime.auth.tokens import actor_for_token
from engine.runtime.errors import InvalidInput, PermissionDenied
from engine.runtime.model import Actor, TicketSnapshot
from engine.runtime.notify import inbox
from engine.runtime.permissions import can_create, can_note, is_admin, scope_rules, visible_types
from engine.runtime.reports import check_range_override, report_for, report_zone, visible_reports
from engine.runtime.service import TicketService
from engine.runtime.storage import load_actors
from engine.runtime.storage.queries import SORTS, TicketFilter, list_tickets
from engine.runtime.storage.reports import people_of, run_report
from engine.schema import Catalog
from engine.schema.kinds.report import CompiledReport, TimeRange
from engine.schema.model import label_text

from . import sessions
from .attachments import AttachmentsController

__all__ = ["ROUTES", "current_actor", "reader_report", "report_summary", "request_lang", "ticket_json"]


class CreateTicket(msgspec.Struct, forbid_unknown_fields=True):
    """A new ticket: its type, title and the type's own fields."""

    type: str
    title: str = ""
    fields: dict[str, Any] = {}
    priority: str | None = None
    org_unit: str | None = None


class EditTicket(msgspec.Struct, forbid_unknown_fields=True):
    fields: dict[str, Any] | None = None
    title: str | None = None
    priority: str | None = None
    row_version: int | None = None


class DoTransition(msgspec.Struct, forbid_unknown_fields=True):
    fields: dict[str, Any] = {}
    comment: str | None = None
    row_version: int | None = None


class AssignTicket(msgspec.Struct, forbid_unknown_fields=True):
    assignee: str | None = None
    team: str | None = None
    row_version: int | None = None


class NewComment(msgspec.Struct, forbid_unknown_fields=True):
    body: str
    internal: bool = False


class ApprovalDecision(msgspec.Struct, forbid_unknown_fields=True):
    decision: str
    comment: str | None = None


async def current_actor(request: Request[Any, Any, Any]) -> Actor:
    """The caller: `Authorization: Bearer <token>` for integrations, or the session cookie of a signed-in
    person, whose unsafe requests must carry the session's CSRF token (header X-CSRF-Token or form `_csrf`)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        actor = await actor_for_token(token.strip())
        if actor is not None:
            return actor
        raise NotAuthorizedException("the token is unknown, revoked or its user is inactive")
    session = sessions.decode(request.cookies.get(sessions.COOKIE))
    if session is not None:
        if request.method in sessions.UNSAFE and not session.csrf_ok(
            request.headers.get(sessions.CSRF_HEADER) or request.scope.get("state", {}).get("csrf_form")
        ):
            raise PermissionDenied("the CSRF token is missing or wrong; reload the page and try again")
        actors = await load_actors([session.user_id], active_only=True)
        if session.user_id in actors:
            return actors[session.user_id]
    raise NotAuthorizedException("sign in or send Authorization: Bearer <token>")


def service(state: State) -> TicketService:
    svc: TicketService = state.service
    return svc


def ticket_json(ticket: TicketSnapshot, view: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "type": ticket.type,
        "title": ticket.title,
        "state": ticket.state,
        "state_category": ticket.state_category,
        "priority": ticket.priority,
        "requester": ticket.requester,
        "assignee": ticket.assignee,
        "team": ticket.team,
        "org_unit": ticket.org_unit,
        "fields": view["fields"],
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "resolved_at": ticket.resolved_at,
        "first_response_at": ticket.first_response_at,
        "response_due_at": ticket.response_due_at,
        "resolution_due_at": ticket.resolution_due_at,
        "definition_version": ticket.definition_version,
        "row_version": ticket.row_version,
        "transitions": view["transitions"],
    }


class TypesController(Controller):
    path = "/api/v1/types"

    @get("/")
    async def list_types(self, request: Request[Any, Any, Any], state: State) -> list[dict[str, Any]]:
        """Ticket types the caller may see or raise, each with the JSON Schema of its fields."""
        actor = await current_actor(request)
        catalog = service(state).catalog
        names = set(visible_types(catalog, actor)) | {n for n in catalog.types if can_create(catalog, actor, n)}
        out = []
        for name in sorted(names):
            t = catalog.types[name]
            out.append(
                {
                    "name": name,
                    "label": {"en": t.label("en"), "zh": t.label("zh")},
                    "flow": t.flow.name,
                    "default_priority": t.spec.default_priority,
                    "can_create": can_create(catalog, actor, name),
                    "schema": t.json_schema,
                }
            )
        return out


class TicketsController(Controller):
    path = "/api/v1/tickets"

    @post("/", status_code=201)
    async def create(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: JSONBody[CreateTicket],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[dict[str, Any]]:
        """Raise a ticket. A retried request with the same Idempotency-Key returns the first ticket (200)."""
        actor = await current_actor(request)
        svc = service(state)
        key = idempotency_key.strip()[:200] if idempotency_key else None
        ticket, new = await svc.create(
            actor,
            data.type,
            data.title,
            data.fields,
            priority=data.priority,
            org_unit=data.org_unit,
            idempotency_key=key or None,
        )
        body = ticket_json(ticket, await svc.view(actor, ticket))
        return Response(body, status_code=201 if new else 200, headers={"Location": f"/api/v1/tickets/{ticket.id}"})

    @get("/")
    async def list_tickets(
        self,
        request: Request[Any, Any, Any],
        state: State,
        type: FromQuery[list[str] | None] = None,
        state_: Annotated[list[str] | None, QueryParameter(name="state")] = None,
        category: FromQuery[list[str] | None] = None,
        assignee: FromQuery[str | None] = None,
        unassigned: FromQuery[bool] = False,
        team: FromQuery[list[str] | None] = None,
        org_unit: FromQuery[list[str] | None] = None,
        created_from: FromQuery[datetime | None] = None,
        created_to: FromQuery[datetime | None] = None,
        q: FromQuery[str | None] = None,
        sla: FromQuery[str | None] = None,
        sort: FromQuery[str] = "-created_at",
        limit: FromQuery[int] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Tickets the caller may see (the scope is part of the SQL), filtered, sorted, one page at a time.

        ``sla=overdue`` keeps tickets with an SLA target past due; ``sla=due_soon`` those due within 4 hours.
        """
        actor = await current_actor(request)
        svc = service(state)
        if sort not in SORTS:
            raise InvalidInput([("sort", f"must be one of: {', '.join(SORTS)}")])
        filt = TicketFilter(
            type=type or (),
            state=state_ or (),
            state_category=category or (),
            assignee=actor.username if assignee == "me" else assignee,
            unassigned=unassigned,
            team=team or (),
            org_unit=org_unit or (),
            created_from=created_from,
            created_to=created_to,
            q=q,
            sort=sort,
            sla=sla or None,
        )
        rows, nxt = await list_tickets(scope_rules(svc.catalog, actor), filt, limit=limit, cursor=cursor)
        items = [ticket_json(t, await svc.view(actor, t, listed=True)) for t in rows]
        return {"items": items, "next_cursor": nxt}

    @get("/{ticket_id:int}")
    async def read(self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]) -> dict[str, Any]:
        """One ticket with the transitions the caller may perform now."""
        actor = await current_actor(request)
        svc = service(state)
        ticket = await svc.get(actor, ticket_id)
        body = ticket_json(ticket, await svc.view(actor, ticket))
        body["approvals"] = await svc.approval_rows(ticket.id)
        body["sla"] = await svc.sla_status(ticket)
        return body

    @patch("/{ticket_id:int}")
    async def edit(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int], data: JSONBody[EditTicket]
    ) -> dict[str, Any]:
        actor = await current_actor(request)
        svc = service(state)
        ticket = await svc.edit(
            actor, ticket_id, data.fields, title=data.title, priority=data.priority, row_version=data.row_version
        )
        return ticket_json(ticket, await svc.view(actor, ticket))

    @post("/{ticket_id:int}/transitions/{transition_id:str}", status_code=200)
    async def transition(
        self,
        request: Request[Any, Any, Any],
        state: State,
        ticket_id: FromPath[int],
        transition_id: FromPath[str],
        data: JSONBody[DoTransition | None] = None,
    ) -> dict[str, Any]:
        """Perform a transition; 409 when the ticket moved on meanwhile or the step is not open now."""
        actor = await current_actor(request)
        svc = service(state)
        body = data or DoTransition()
        ticket = await svc.transition(actor, ticket_id, transition_id, body.fields, body.comment, body.row_version)
        return ticket_json(ticket, await svc.view(actor, ticket))

    @post("/{ticket_id:int}/assign", status_code=200)
    async def assign(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int], data: JSONBody[AssignTicket]
    ) -> dict[str, Any]:
        actor = await current_actor(request)
        svc = service(state)
        ticket = await svc.assign(
            actor, ticket_id, assignee=data.assignee, team=data.team, row_version=data.row_version
        )
        return ticket_json(ticket, await svc.view(actor, ticket))

    @post("/{ticket_id:int}/comments", status_code=201)
    async def comment(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int], data: JSONBody[NewComment]
    ) -> dict[str, Any]:
        actor = await current_actor(request)
        comment_id = await service(state).comment(actor, ticket_id, data.body, internal=data.internal)
        return {"id": comment_id}

    @get("/{ticket_id:int}/comments")
    async def list_comments(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]
    ) -> list[dict[str, Any]]:
        """Comments in order; internal notes only for those who may write them."""
        actor = await current_actor(request)
        return await service(state).comments(actor, ticket_id)

    @get("/{ticket_id:int}/approvals")
    async def approvals(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]
    ) -> list[dict[str, Any]]:
        actor = await current_actor(request)
        svc = service(state)
        ticket = await svc.get(actor, ticket_id)
        return await svc.approval_rows(ticket.id)

    @get("/{ticket_id:int}/notifications")
    async def notifications(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]
    ) -> list[dict[str, Any]]:
        """What was sent about the ticket, newest first: every delivery for staff who may write internal
        notes on it, only what was sent to the caller for anyone else who may see it."""
        actor = await current_actor(request)
        svc = service(state)
        ticket = await svc.get(actor, ticket_id)
        staff = can_note(await svc.catalogs.for_ticket(ticket), actor, ticket)
        rows = await inbox.ticket_deliveries(ticket.id, None if staff else actor.id)
        return [r.json(full=staff) for r in rows]

    @post("/{ticket_id:int}/approvals", status_code=200)
    async def decide(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int], data: JSONBody[ApprovalDecision]
    ) -> dict[str, Any]:
        """Approve or reject the level of the ticket's approval that awaits the caller."""
        actor = await current_actor(request)
        svc = service(state)
        ticket = await svc.decide(actor, ticket_id, data.decision, data.comment)
        return ticket_json(ticket, await svc.view(actor, ticket))

    @get("/{ticket_id:int}/events")
    async def events(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]
    ) -> list[dict[str, Any]]:
        """The audit trail and timeline: who, when, what, before → after."""
        actor = await current_actor(request)
        return await service(state).events(actor, ticket_id)


class NotificationsController(Controller):
    """The caller's own in-app notifications: the bell's list and count."""

    path = "/api/v1/notifications"

    @get("/")
    async def list_notifications(
        self,
        request: Request[Any, Any, Any],
        unread: FromQuery[bool] = False,
        limit: FromQuery[int] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """The caller's notifications, newest first (``unread=true``: only unread ones), at most 100 a page."""
        actor = await current_actor(request)
        items, nxt = await inbox.list_notifications(actor.id, unread_only=unread, limit=limit, cursor=cursor)
        return {"items": [i.json() for i in items], "next_cursor": nxt}

    @get("/unread-count")
    async def unread_count(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """How many are unread, counted up to 100: ``capped`` means there may be more (shown as 99+)."""
        actor = await current_actor(request)
        n = await inbox.unread_count(actor.id)
        return {"unread": n, "capped": n > inbox.UNREAD_CAP}

    @post("/{notification_id:int}/read", status_code=200)
    async def mark_read(
        self, request: Request[Any, Any, Any], state: State, notification_id: FromPath[int]
    ) -> dict[str, Any]:
        """Mark one of the caller's notifications read; 404 for anyone else's."""
        actor = await current_actor(request)
        return (await inbox.mark_read(actor.id, notification_id, service(state).now())).json()

    @post("/read-all", status_code=200)
    async def mark_all_read(self, request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
        """Mark every unread notification of the caller read; how many that were."""
        actor = await current_actor(request)
        return {"marked": await inbox.mark_all_read(actor.id, service(state).now())}


class OutboxController(Controller):
    """Admins: every message the notification worker sends, dead letters first in mind."""

    path = "/api/v1/outbox"

    @staticmethod
    async def _admin(request: Request[Any, Any, Any], state: State) -> Actor:
        actor = await current_actor(request)
        if not is_admin(service(state).catalog, actor):
            raise PermissionDenied("only admins may see the notification outbox")
        return actor

    @get("/")
    async def list_messages(
        self,
        request: Request[Any, Any, Any],
        state: State,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Outbox messages newest first, all or of one ``status`` (dead, pending, sent), at most 100 a page."""
        await self._admin(request, state)
        items, nxt = await inbox.outbox_messages(status, limit=limit, cursor=cursor)
        return {"items": [i.json() for i in items], "next_cursor": nxt}

    @post("/{message_id:int}/retry", status_code=200)
    async def retry(self, request: Request[Any, Any, Any], state: State, message_id: FromPath[int]) -> dict[str, Any]:
        """Queue a dead message for another round of attempts (409 unless it is dead)."""
        await self._admin(request, state)
        return (await inbox.retry_dead(message_id, service(state).now())).json()


def request_lang(request: Request[Any, Any, Any], chosen: str | None = None) -> str:
    """The language of labels: ``lang`` if given, else the language switch's cookie, else Accept-Language."""
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


async def reader_report(catalog: Catalog, actor: Actor, report_id: str, lang: str, range_: str | None = None,
                        from_: str | None = None, to: str | None = None) -> ReportView:
    """One report for one reader, cut to their row scope, labelled in ``lang``; NotFound when not theirs."""
    report = report_for(catalog, actor, report_id)
    chosen = check_range_override(range_, from_, to)
    zone = report_zone()
    now = datetime.now(UTC)
    result = await run_report(catalog, report, scope_rules(catalog, actor), now, zone, chosen)
    return report_view(catalog, result, lang, await people_of(result), now, zone.key)


def report_summary(report: CompiledReport) -> dict[str, Any]:
    """What a report is, without running it."""
    spec = report.spec
    range_: str | dict[str, str] = (spec.range if not isinstance(spec.range, TimeRange)
                                    else {"from": spec.range.from_, "to": spec.range.to})
    return {
        "id": report.name,
        "label": {"en": label_text(spec.label, "en"), "zh": label_text(spec.label, "zh")},
        "description": {"en": label_text(spec.description, "en"), "zh": label_text(spec.description, "zh")},
        "types": list(report.types),
        "range": range_,
        "time_field": spec.time_field,
        "dimensions": [d.id for d in report.dimensions],
        "measures": list(report.measures),
        "chart": report.chart_type,
        "url": f"/api/v1/reports/{report.name}",
    }


class ReportsController(Controller):
    path = "/api/v1/reports"

    @get("/")
    async def list_reports(self, request: Request[Any, Any, Any], state: State) -> list[dict[str, Any]]:
        """The reports the caller may open (their roles, or every report for admins)."""
        actor = await current_actor(request)
        return [report_summary(r) for r in visible_reports(service(state).catalog, actor)]

    @get("/{report_id:str}")
    async def read(
        self,
        request: Request[Any, Any, Any],
        state: State,
        report_id: FromPath[str],
        format: FromQuery[str] = "json",
        lang: FromQuery[str | None] = None,
        range_: Annotated[str | None, QueryParameter(name="range")] = None,
        from_: Annotated[str | None, QueryParameter(name="from")] = None,
        to: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """One report, computed now over the caller's row scope: JSON (exact figures) or CSV (the table, UTF-8
        with BOM). ``range`` (today, last_7_days, …) or ``from`` and ``to`` (YYYY-MM-DD) override its range."""
        actor = await current_actor(request)
        if format not in ("json", "csv"):
            raise InvalidInput([("format", "must be json or csv")])
        view = await reader_report(service(state).catalog, actor, report_id, request_lang(request, lang),
                                   range_, from_, to)
        if format == "json":
            return Response(report_json(view), media_type="application/json")
        span = f"{view.range_first}_{view.range_last}" if view.range_first else "all"
        return Response(report_csv(view), media_type="text/csv",  # litestar adds "; charset=utf-8"
                        headers={"Content-Disposition": f'attachment; filename="{view.id}_{span}.csv"'})


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


def _me(actor: Actor, session: sessions.Session) -> dict[str, Any]:
    return {
        "username": actor.username,
        "display_name": actor.display_name,
        "roles": sorted(actor.roles),
        "teams": sorted(actor.teams),
        "org_unit": actor.org_unit,
        "csrf_token": session.csrf,
    }


class SessionController(Controller):
    """Sign in and out of the web with a session cookie."""

    path = "/api/v1/session"

    @post("/", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any], data: JSONBody[Credentials]) -> Response[dict[str, Any]]:
        """Check the password (repeated failures lock the account for a while) and start a new session."""
        ip = request.client.host if request.client else None
        result = await verify_login(data.username.strip(), data.password, ip=ip)
        if result.outcome == "locked" and result.retry_after is not None:
            seconds = max(1, int(result.retry_after.total_seconds()))
            raise TooManyRequestsException(
                f"too many failed sign-ins; try again in {seconds // 60 + 1} minutes",
                headers={"Retry-After": str(seconds)},
            )
        if not result.ok or result.actor is None:
            raise NotAuthorizedException("wrong username or password")
        session = sessions.new_session(result.actor.id)
        return Response(_me(result.actor, session), headers={"Set-Cookie": sessions.cookie_header(session)})

    @get("/")
    async def whoami(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        actor = await current_actor(request)
        session = sessions.decode(request.cookies.get(sessions.COOKIE))
        return _me(actor, session) if session else {**_me(actor, sessions.new_session(0)), "csrf_token": None}

    @delete("/", status_code=200)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        await current_actor(request)  # checks the CSRF token of the session it ends
        return Response({"signed_out": True}, headers={"Set-Cookie": sessions.clear_cookie_header()})


@get("/api/v1/healthz")
async def healthz(state: State) -> dict[str, Any]:
    return {"status": "ok", "definition_version": service(state).catalog.version}


@get("/healthz", include_in_schema=False)
async def healthz_root(state: State) -> dict[str, Any]:
    return {"status": "ok"}


ROUTES: list[Any] = [
    TypesController,
    TicketsController,
    AttachmentsController,
    NotificationsController,
    OutboxController,
    SessionController,
    ReportsController,
    healthz,
    healthz_root,
]
