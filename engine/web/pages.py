"""The staff pages: sign in, my work, ticket list, new ticket, ticket detail, approvals, notifications,
reports, definitions and the notification outbox for admins.

Every page is generated from the Catalog and calls the same services and permission checks as
the API (:class:`~engine.runtime.service.TicketService`, :mod:`engine.runtime.permissions`).
Pages are plain HTML forms that work without JavaScript; HTMX (served from our own static files)
swaps the parts that change — the list's table, the new-ticket fields, a transition's small form
— when it is there. Requests from HTMX carry ``HX-Request``; the handlers then answer with the
fragment instead of the whole page.

Security: the session cookie (see :mod:`engine.web.sessions`) signs the person in; every form
carries the session's CSRF token in ``_csrf`` and every unsafe request is refused without it.
Templates autoescape everything, and every page is sent with a Content-Security-Policy that
allows only the site's own scripts, styles and images.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.params import FromPath
from litestar.response import Redirect
from markupsafe import Markup

from engine.render import forms
from engine.render.diagram import flow_svg
from engine.render.i18n import COOKIE as LANG_COOKIE
from engine.render.i18n import LANGUAGES, N_, SORT_LABELS, negotiate, translations
from engine.render.report_view import RANGE_LABELS, ReportView, view_chart
from engine.render.templates import TZ_COOKIE, error_text, local_time, render, viewer_zone
from engine.runtime.attachments import AttachmentInfo
from engine.runtime.auth.login import verify_login
from engine.runtime.errors import GongdanError, InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from engine.runtime.model import Actor, TicketSnapshot
from engine.runtime.notify import inbox
from engine.runtime.permissions import can, can_create, can_note, is_admin, scope_rules, visible_types
from engine.runtime.reports import visible_reports
from engine.runtime.service import TicketService
from engine.runtime.storage import load_actors
from engine.runtime.storage.inbox import awaiting_approval, count_awaiting_approval, count_upto
from engine.runtime.storage.queries import SLA_FILTERS, SORTS, TicketFilter, list_tickets
from engine.schema.catalog import Catalog, CompiledType
from engine.schema.kinds.flow import Transition
from engine.schema.model import PRIORITIES, label_text

from . import sessions
from .api import reader_report
from .attachments import attachment_service

__all__ = ["PAGE_ROUTES", "SECURITY_HEADERS", "html_error"]

log = logging.getLogger("gongdan.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
LOGIN_COOKIE = "gongdan_login"  # the CSRF token of the sign-in form, before there is a session
OPEN_CATEGORIES = ("open", "active", "waiting")
CATEGORIES = ("open", "active", "waiting", "resolved", "closed", "cancelled")
CSRF_FIELD = "_csrf"


# ---------------------------------------------------------------- request context


@dataclass
class Page:
    """What every page knows about the request: who, in which language, with which CSRF token."""

    request: Request[Any, Any, Any]
    lang: str
    actor: Actor | None = None
    session: sessions.Session | None = None
    catalog: Catalog | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    unread: int = 0  # the bell's count, up to 100 (shown as 99+)

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    @property
    def zone(self) -> Any:
        """The viewer's time zone (reported by the browser), else the site's."""
        return viewer_zone(self.request.cookies.get(TZ_COOKIE))

    def time(self, value: Any) -> str:
        """A stored time as this viewer reads it."""
        return local_time(value, zone=self.zone)

    def _(self, message: str) -> str:
        return translations(self.lang).gettext(message)

    def render(self, template: str, status: int = 200, **context: Any) -> Response[str]:
        """A page (or, for HTMX, whatever the template renders for it) with the security headers."""
        base = {
            "me": self.actor,
            "csrf": self.session.csrf if self.session else "",
            "languages": LANGUAGES,
            "path": self.request.url.path,
            "full_path": _full_path(self.request),
            "htmx": self.htmx,
            "catalog": self.catalog,
            "is_admin": bool(self.actor and self.catalog and is_admin(self.catalog, self.actor)),
            "has_reports": bool(self.actor and self.catalog and visible_reports(self.catalog, self.actor)),
            "org_label": (lambda u: self.catalog.org.label(u, self.lang) if self.catalog and u else (u or "")),
            "team_label": self._team_label,
            "type_label": self._type_label,
            "state_label": self._state_label,
            "priorities": PRIORITIES,
            "nav": context.pop("nav", ""),
            "unread": self.unread,
            "zone": self.zone,
        }
        html = render(self.lang, template, {**base, **context})
        headers = {**SECURITY_HEADERS, "Content-Language": "zh-CN" if self.lang == "zh" else "en",
                   "Vary": "Cookie, HX-Request, Accept-Language", **self.extra_headers}
        return Response(html, status_code=status, media_type="text/html; charset=utf-8", headers=headers)

    def _team_label(self, team: str | None) -> str:
        if not team or self.catalog is None or team not in self.catalog.teams:
            return team or ""
        return label_text(self.catalog.teams[team].label, self.lang, team)

    def _type_label(self, type_name: str) -> str:
        if self.catalog is None or type_name not in self.catalog.types:
            return type_name
        return self.catalog.types[type_name].label(self.lang)

    def _state_label(self, ticket_type: str, state: str) -> str:
        if self.catalog is None or ticket_type not in self.catalog.types:
            return state
        st = self.catalog.types[ticket_type].flow.states.get(state)
        return label_text(st.label, self.lang, state) if st else state


def _full_path(request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _local_next(target: str | None, default: str = "/") -> str:
    """Only paths on this site: no scheme, no host, no protocol-relative ``//``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _service(state: State) -> TicketService:
    svc: TicketService = state.service
    return svc


async def _page(request: Request[Any, Any, Any], state: State, *, signed_in: bool = True) -> Page:
    lang = negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    page = Page(request, lang, catalog=_service(state).catalog)
    session = sessions.decode(request.cookies.get(sessions.COOKIE))
    if session is not None:
        actors = await load_actors([session.user_id], active_only=True)
        if session.user_id in actors:
            page.actor, page.session = actors[session.user_id], session
    if signed_in and page.actor is None:
        raise SignInRequired(_full_path(request))
    if page.actor is not None and not page.htmx:  # fragments have no header, so no bell
        page.unread = await inbox.unread_count(page.actor.id)
    return page


class SignInRequired(NotAuthorizedException):
    def __init__(self, next_path: str) -> None:
        super().__init__("sign in")
        self.next_path = next_path


async def _form(request: Request[Any, Any, Any], page: Page) -> Any:
    """The posted form, after checking its CSRF token against the session's."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if page.session is None or not page.session.csrf_ok(token if isinstance(token, str) else None):
        raise PermissionDenied(page._("The form has expired. Reload the page and try again."))
    return form


def _see_other(location: str, headers: Mapping[str, str] | None = None) -> Response[Any]:
    """After a successful post: 303 to the result (HTMX follows it with HX-Redirect)."""
    return Response(b"", status_code=303, headers={"Location": location, **(headers or {})})


def _hx_or_redirect(page: Page, location: str) -> Response[Any]:
    if page.htmx:
        return Response(b"", status_code=200, headers={"HX-Redirect": location})
    return _see_other(location)


# ---------------------------------------------------------------- errors as pages


def html_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors on pages: sign-in redirect, or a calm page saying what happened (never a traceback)."""
    if isinstance(exc, SignInRequired):
        if request.method == "GET":
            return Redirect(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)
        return Redirect("/login", status_code=303)
    lang = negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    page = Page(request, lang)
    status, message = 500, page._("Something went wrong on our side. Please try again.")
    if isinstance(exc, GongdanError):
        status = exc.status
        message = error_text(exc.message, page._)
        if isinstance(exc, NotFound):
            message = page._("This page does not exist, or you may not see it.")
    elif isinstance(exc, NotAuthorizedException):
        status, message = 401, page._("Please sign in.")
    elif hasattr(exc, "status_code") and 400 <= int(exc.status_code) < 500:
        status = int(exc.status_code)
        message = page._("This request could not be handled.") if status != 404 else page._(
            "This page does not exist, or you may not see it."
        )
    else:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
    page.session = sessions.decode(request.cookies.get(sessions.COOKIE))
    try:
        return page.render("error.html", status=status, status_code=status, message=message)
    except Exception:  # the error page itself failed: still no traceback for the visitor
        log.exception("error page failed")
        return Response("Error", status_code=status, media_type="text/plain")


# ---------------------------------------------------------------- presenting tickets


def _display(catalog: Catalog, ctype: CompiledType, fid: str, value: Any, lang: str,
             files: Mapping[str, AttachmentInfo], _: Any) -> dict[str, Any]:
    """One field value as the detail page shows it."""
    f = ctype.fields.get(fid)
    out: dict[str, Any] = {"id": fid, "label": label_text(f.label, lang, fid) if f else fid, "text": "",
                           "files": [], "long": False}
    if f is None:
        out["text"] = str(value)
        return out
    options = {v: lab for v, lab in forms._options(catalog, ctype, f, lang)}
    if f.type == "attachment" and isinstance(value, list):
        out["files"] = [files[str(v)] for v in value if str(v) in files]
        out["text"] = "" if out["files"] else ", ".join(str(v) for v in value)
    elif f.type == "boolean":
        out["text"] = _("Yes") if value is True else _("No") if value is False else str(value)
    elif isinstance(value, list):
        out["text"] = ", ".join(options.get(str(v), str(v)) for v in value)
    elif f.type in ("select", "team", "org_unit"):
        out["text"] = options.get(str(value), str(value))
    elif f.type == "money" and isinstance(value, int | float) and not isinstance(value, bool):
        out["text"] = f"{value:,.2f}" + (f" {f.currency}" if f.currency else "")
    elif f.type == "datetime" and isinstance(value, str):
        out["text"] = value.replace("T", " ")[:16]
    else:
        out["text"] = str(value)
    out["long"] = f.type == "textarea"
    return out


def _transition_view(page: Page, ctype: CompiledType, tr: Transition) -> dict[str, Any]:
    needs_form = bool(tr.require) or tr.comment == "required"
    return {"id": tr.id, "label": label_text(tr.label, page.lang, tr.id), "needs_form": needs_form,
            "comment": tr.comment, "to": tr.to,
            "to_category": ctype.flow.category(tr.to)}


def _timeline_entry(page: Page, catalog: Catalog, ticket: TicketSnapshot, ev: Mapping[str, Any]) -> dict[str, Any]:
    """An event as one line of the timeline: who, when, what, before → after."""
    _ = page._
    ctype = catalog.types.get(ticket.type)
    data = ev.get("data") or {}
    kind = ev["kind"]
    text, details, body = "", [], ""
    if kind == "created":
        text = _("raised the ticket")
    elif kind == "transition":
        tr = ctype.flow.transitions.get(data.get("transition") or "") if ctype else None
        to = page._state_label(ticket.type, ev.get("to_state") or data.get("to") or "")
        if tr is not None:
            text = _("%(step)s → %(state)s") % {"step": label_text(tr.label, page.lang, tr.id), "state": to}
        else:
            text = _("moved to %(state)s") % {"state": to}
        body = data.get("comment") or ""
    elif kind == "assigned":
        parts = []
        if "team" in data:
            parts.append(_("team: %(team)s") % {"team": page._team_label((data["team"] or {}).get("after")) or "—"})
        if "assignee" in data:
            parts.append(_("assignee: %(user)s") % {"user": (data["assignee"] or {}).get("after") or "—"})
        text = _("assigned") + " — " + ", ".join(parts)
        if data.get("rule"):
            details.append(_("by routing rule %(rule)s (%(strategy)s)") % {"rule": data["rule"],
                                                                           "strategy": data.get("strategy", "")})
        if data.get("sla"):
            details.append(_by_sla(page, catalog, ctype, data["sla"]))
    elif kind == "comment":
        text = _("added an internal note") if data.get("internal") else _("commented")
        body = data.get("body") or ""
    elif kind == "fields_changed":
        text = _("changed fields")
        for fid, change in (data.get("changes") or {}).items():
            f = ctype.fields.get(fid) if ctype else None
            label = label_text(f.label, page.lang, fid) if f else fid
            before = change.get("before") if isinstance(change, dict) else None
            after = change.get("after") if isinstance(change, dict) else change
            details.append(f"{label}: {_short(before)} → {_short(after)}")
    elif kind == "title_changed":
        text = _("changed the title")
        details.append(f"{_short(data.get('before'))} → {_short(data.get('after'))}")
    elif kind == "priority_changed":
        # a person's edit records {before, after}; an SLA action {priority: {before, after}, sla: target}
        prio: Mapping[str, Any] = data["priority"] if isinstance(data.get("priority"), dict) else data
        text = _("changed the priority")
        details.append(f"{_(str(prio.get('before')))} → {_(str(prio.get('after')))}")
        if data.get("sla"):
            details.append(_by_sla(page, catalog, ctype, data["sla"]))
    elif kind in ("sla_warning", "sla_breached"):
        values = {"target": _metric_label(page, data.get("metric"), data.get("target")),
                  "time": page.time(data.get("due_at"))}
        if kind == "sla_warning":
            text = _("SLA warning: %(target)s is due %(time)s") % values
        else:
            text = _("SLA breached: %(target)s was due %(time)s") % values
    elif kind == "approval_started":
        text = _("approval requested (%(level)s)") % {"level": _level_label(page, ctype, data)}
    elif kind == "approval_decided":
        verdict = _("approved") if data.get("decision") == "approve" else _("rejected")
        text = f"{verdict} ({_level_label(page, ctype, data)})"
        body = data.get("comment") or ""
    elif kind == "approval_finished":
        text = _("approval finished: %(outcome)s") % {"outcome": _(str(data.get("outcome", "")))}
    elif kind == "approval_cancelled":
        text = _("approval cancelled")
    else:
        text = kind
    return {"at": ev.get("at"), "actor": ev.get("actor") or _("System"), "text": text, "details": details,
            "body": body, "kind": kind, "internal": bool(data.get("internal"))}


def _metric_label(page: Page, metric: Any, default: Any = "") -> str:
    """An SLA target by what it measures, as a phrase inside a sentence."""
    if metric == "first_response":
        return page._("first response")
    if metric == "resolution":
        return page._("resolution")
    return str(default or metric or "")


def _target_metric(catalog: Catalog, ctype: CompiledType | None, target: str) -> str | None:
    policy = catalog.slas.get(ctype.spec.sla) if ctype is not None and ctype.spec.sla else None
    for t in policy.targets if policy is not None else ():
        if t.id == target:
            return t.metric
    return None


def _by_sla(page: Page, catalog: Catalog, ctype: CompiledType | None, target: Any) -> str:
    """Why the system changed the ticket: the SLA target whose action it was."""
    label = _metric_label(page, _target_metric(catalog, ctype, str(target)), target)
    return page._("by the SLA rule for %(target)s") % {"target": label}


def _level_label(page: Page, ctype: CompiledType | None, data: Mapping[str, Any]) -> str:
    if ctype is None:
        return str(data.get("level", ""))
    for approval in ctype.flow.approvals.values():
        if approval.id == data.get("approval"):
            for level in approval.levels:
                if level.id == data.get("level"):
                    return label_text(level.label, page.lang, level.id)
    return str(data.get("level", ""))


def _short(value: Any) -> str:
    if value is None or value == "":
        return "—"
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= 80 else text[:77] + "…"


# ---------------------------------------------------------------- list filters


def _filter_from_query(page: Page, query: Mapping[str, Any]) -> tuple[TicketFilter, dict[str, Any]]:
    """The list's filter from the URL (so it can be bookmarked), and the values to show in the form."""
    catalog = page.catalog
    assert catalog is not None and page.actor is not None

    def one(name: str) -> str:
        value = query.get(name)
        return value.strip() if isinstance(value, str) else ""

    sort = one("sort") or "-created_at"
    if sort not in SORTS:
        sort = "-created_at"
    org = one("org_unit")
    units: tuple[str, ...] = catalog.org.subtree(org) if org in catalog.org.units else ()
    assignee = one("assignee")
    category = one("category")
    sla = one("sla")
    shown = {
        "type": one("type"), "state": one("state"), "category": category, "assignee": assignee,
        "team": one("team"), "org_unit": org if units else "", "q": one("q")[:200], "sort": sort,
        "sla": sla if sla in SLA_FILTERS else "",
    }
    filt = TicketFilter(
        type=(shown["type"],) if shown["type"] in catalog.types else (),
        state=(shown["state"],) if shown["state"] else (),
        state_category=OPEN_CATEGORIES if category == "open_all" else ((category,) if category in CATEGORIES else ()),
        assignee=page.actor.username if assignee == "me" else (assignee or None) if assignee != "none" else None,
        unassigned=assignee == "none",
        team=(shown["team"],) if shown["team"] in catalog.teams else (),
        org_unit=units,
        q=shown["q"] or None,
        sort=sort,  # type: ignore[arg-type]
        sla=shown["sla"] or None,
    )
    return filt, shown


def _states_for(catalog: Catalog, types: list[str], lang: str) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for name in types:
        for sid, st in catalog.types[name].flow.states.items():
            seen.setdefault(sid, label_text(st.label, lang, sid))
    return sorted(seen.items(), key=lambda kv: kv[1])


# ---------------------------------------------------------------- controllers


class AuthPages(Controller):
    """Sign in and out; the language switch."""

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        page = await _page(request, state, signed_in=False)
        if page.actor is not None:
            return _see_other(_local_next(request.query_params.get("next")))
        return _login_page(page, request.query_params.get("next") or "/")

    @post("/login")
    async def login(self, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        page = await _page(request, state, signed_in=False)
        form = await request.form()
        next_path = _local_next(str(form.get("next") or "/"))
        token, cookie = form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE)
        if not (isinstance(token, str) and cookie and secrets.compare_digest(token, cookie)):
            return _login_page(page, next_path, page._("The form has expired. Please sign in again."), 400)
        username = str(form.get("username") or "").strip()
        ip = request.client.host if request.client else None
        result = await verify_login(username, str(form.get("password") or ""), ip=ip)
        if result.outcome == "locked" and result.retry_after is not None:
            minutes = max(1, int(result.retry_after.total_seconds()) // 60 + 1)
            message = page._("Too many failed sign-ins. Try again in %(minutes)s minutes.") % {"minutes": minutes}
            return _login_page(page, next_path, message, 429, username)
        if not result.ok or result.actor is None:
            return _login_page(page, next_path, page._("Wrong username or password."), 401, username)
        session = sessions.new_session(result.actor.id)  # a new session id and CSRF token at every sign-in
        headers = {"Set-Cookie": sessions.cookie_header(session)}
        response = _see_other(next_path, headers)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        page = await _page(request, state, signed_in=False)
        if page.session is not None:
            await _form(request, page)
        return _see_other("/login", {"Set-Cookie": sessions.clear_cookie_header()})

    @get("/lang/{code:str}")
    async def language(self, request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
        target = _local_next(request.query_params.get("next"))
        response = _see_other(target)
        if code in LANGUAGES:
            response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/", httponly=True, samesite="lax")
        return response


def _login_page(page: Page, next_path: str, error: str = "", status: int = 200, username: str = "") -> Response[str]:
    token = secrets.token_urlsafe(24)
    response = page.render("login.html", status=status, next=_local_next(next_path), error=error,
                           login_token=token, username=username)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True, samesite="strict")
    return response


class WorkPages(Controller):
    """My work, the ticket list and the approvals inbox."""

    @get("/")
    async def home(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _page(request, state)
        actor, catalog = page.actor, page.catalog
        assert actor is not None and catalog is not None
        rules = scope_rules(catalog, actor)
        queues: list[dict[str, Any]] = []

        async def queue(key: str, title: str, filt: TicketFilter, link: dict[str, str]) -> None:
            rows, _ = await list_tickets(rules, filt, limit=5)
            count = len(rows) if len(rows) < 5 else await count_upto(rules, filt)
            queues.append({"key": key, "title": title, "rows": rows, "count": count,
                           "link": "/tickets?" + urlencode(link)})

        await queue("assigned", page._("Assigned to me"),
                    TicketFilter(assignee=actor.username, state_category=OPEN_CATEGORIES),
                    {"assignee": "me", "category": "open_all"})
        # Only someone with work assigned can have overdue work: an empty queue costs no second count.
        overdue = await count_upto(rules, TicketFilter(assignee=actor.username, state_category=OPEN_CATEGORIES,
                                                       sla="overdue")) if queues[0]["count"] else 0
        if actor.teams:
            await queue("team", page._("My teams' unassigned queue"),
                        TicketFilter(team=sorted(actor.teams), unassigned=True, state_category=OPEN_CATEGORIES),
                        {"assignee": "none", "category": "open_all"})
        pending = await awaiting_approval(actor.id, actor.username, limit=5)
        approvals = len(pending) if len(pending) < 5 else await count_awaiting_approval(actor.id)
        queues.append({"key": "approvals", "title": page._("Awaiting my approval"), "rows": pending,
                       "count": approvals, "link": "/approvals"})
        await queue("mine", page._("My requests"),
                    TicketFilter(requester=actor.username, state_category=(*OPEN_CATEGORIES, "resolved")),
                    {"q": "", "category": "open_all"})
        queues[-1]["link"] = "/tickets?mine=1"
        creatable = [n for n in catalog.types if can_create(catalog, actor, n)]
        overdue_link = "/tickets?" + urlencode({"assignee": "me", "category": "open_all", "sla": "overdue"})
        return page.render("home.html", queues=queues, creatable=creatable, nav="home", overdue=overdue,
                           overdue_link=overdue_link)

    @get("/tickets")
    async def ticket_list(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _page(request, state)
        actor, catalog = page.actor, page.catalog
        assert actor is not None and catalog is not None
        query = dict(request.query_params)
        filt, shown = _filter_from_query(page, query)
        if query.get("mine") == "1":
            filt = TicketFilter(**{**filt.__dict__, "requester": actor.username})
            shown["mine"] = "1"
        cursor = request.query_params.get("cursor") or None
        rows, next_cursor = await list_tickets(scope_rules(catalog, actor), filt, limit=50, cursor=cursor)
        types = sorted(visible_types(catalog, actor), key=page._type_label)
        params = {k: v for k, v in shown.items() if v}
        context: dict[str, Any] = {
            "rows": rows, "shown": shown, "types": types, "states": _states_for(catalog, types, page.lang),
            "categories": CATEGORIES, "teams": sorted(catalog.teams), "sorts": SORTS, "sort_labels": SORT_LABELS,
            "org_units": [(u, catalog.org.label(u, page.lang)) for u in catalog.org.units],
            "next_link": "/tickets?" + urlencode({**params, "cursor": next_cursor}) if next_cursor else "",
            "first_link": "/tickets?" + urlencode(params) if cursor else "",
            "nav": "tickets",
        }
        if page.htmx and request.headers.get("hx-target") == "results":
            return page.render("_ticket_table.html", **context)
        return page.render("tickets.html", **context)

    @get("/approvals")
    async def approvals(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _page(request, state)
        assert page.actor is not None
        rows = await awaiting_approval(page.actor.id, page.actor.username, limit=200)
        return page.render("approvals.html", rows=rows, nav="approvals")


async def _attachment_infos(state: State, actor: Actor, ticket_id: int) -> dict[str, AttachmentInfo]:
    infos = await attachment_service(state).for_ticket(actor, ticket_id)
    return {str(i.id): i for i in infos}


class NewTicketPages(Controller):
    """Choose a type → fill its generated form → the new ticket."""

    @get("/tickets/new")
    async def choose(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _page(request, state)
        catalog, actor = page.catalog, page.actor
        assert catalog is not None and actor is not None
        names = sorted((n for n in catalog.types if can_create(catalog, actor, n)), key=page._type_label)
        types = [{"name": n, "label": page._type_label(n),
                  "description": label_text(catalog.types[n].spec.description, page.lang)} for n in names]
        return page.render("new_choose.html", types=types, nav="new")

    @get("/tickets/new/{type_name:str}")
    async def form(self, request: Request[Any, Any, Any], state: State, type_name: FromPath[str]) -> Response[str]:
        page = await _page(request, state)
        ctype = _creatable(page, type_name)
        return _new_form(page, ctype, {}, "", ctype.spec.default_priority)

    @post("/tickets/new/{type_name:str}")
    async def create(self, request: Request[Any, Any, Any], state: State, type_name: FromPath[str]) -> Response[Any]:
        page = await _page(request, state)
        ctype = _creatable(page, type_name)
        assert page.actor is not None
        form = await _form(request, page)
        values, problems = forms.parse_fields(ctype, form, page._)
        title = str(form.get("title") or "")
        priority = str(form.get("priority") or ctype.spec.default_priority)
        kept = await _kept_files(state, page.actor, ctype, values)
        if form.get("_refresh"):  # a value changed: show the fields that now apply, create nothing
            if page.htmx:
                before = (set(form.getall(forms.PRESENT, [])), set(form.getall("_required", [])))
                return _new_form(page, ctype, values, title, priority, files=kept, changed_since=before)
            return _new_form(page, ctype, values, title, priority, files=kept)
        values = forms.visible_values(ctype, values, state=ctype.flow.initial, priority=priority)
        upload_errors = await _store_uploads(state, page.actor, ctype, form, values, kept)
        problems.update(upload_errors)
        if problems:
            return _new_form(page, ctype, values, title, priority, errors=problems, files=kept, status=422)
        data = {k: v for k, v in values.items() if v is not None}
        try:
            ticket, _ = await _service(state).create(page.actor, ctype.name, title, data, priority=priority)
        except InvalidInput as exc:
            errors, general = forms.field_errors((e.field, e.message) for e in exc.errors)
            return _new_form(page, ctype, values, title, priority, errors=errors, general=general,
                             files=kept, status=422)
        return _see_other(f"/tickets/{ticket.id}?created=1")


def _creatable(page: Page, type_name: str) -> CompiledType:
    catalog, actor = page.catalog, page.actor
    assert catalog is not None and actor is not None
    if type_name not in catalog.types or not can_create(catalog, actor, type_name):
        raise NotFound(f"ticket type '{type_name}' not found")
    return catalog.types[type_name]


async def _kept_files(state: State, actor: Actor, ctype: CompiledType,
                      values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Files uploaded by an earlier submission of this form, kept so nobody uploads twice."""
    kept: dict[str, list[dict[str, Any]]] = {}
    service = attachment_service(state)
    for fid, f in ctype.fields.items():
        if f.type != "attachment" or not values.get(fid):
            continue
        ok = []
        for value in values[fid]:
            try:
                stored = await service.open(actor, int(value))
            except (ValueError, GongdanError):
                continue
            if stored.info.uploaded_by == actor.username and stored.info.field == fid:
                ok.append(stored.info.json())
        kept[fid] = ok
        values[fid] = [i["id"] for i in ok] or None
    return kept


async def _store_uploads(state: State, actor: Actor, ctype: CompiledType, form: Any, values: dict[str, Any],
                         kept: dict[str, list[dict[str, Any]]], ticket_id: int | None = None) -> dict[str, str]:
    """Store the files posted for attachment fields and put their ids in the values."""
    problems: dict[str, str] = {}
    service = attachment_service(state)
    for fid, f in ctype.fields.items():
        if f.type != "attachment":
            continue
        for upload in form.getall(forms.FILE_PREFIX + fid, []):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue
            try:
                info = await service.upload(
                    actor, upload.file, filename=upload.filename, declared_type=upload.content_type,
                    type_name=None if ticket_id else ctype.name, field_id=fid, ticket_id=ticket_id,
                )
            except GongdanError as exc:
                problems[fid] = exc.errors[0].message if exc.errors else exc.message
                continue
            finally:
                await upload.close()
            kept.setdefault(fid, []).append(info.json())
            values[fid] = [*(values.get(fid) or []), info.json()["id"]]
    return problems


def _new_form(page: Page, ctype: CompiledType, values: dict[str, Any], title: str, priority: str, *,
              errors: Mapping[str, str] | None = None, general: list[str] | None = None,
              files: Mapping[str, list[dict[str, Any]]] | None = None, status: int = 200,
              changed_since: tuple[set[str], set[str]] | None = None) -> Response[str]:
    """The generated form; with ``changed_since`` (the fields shown and required before) only the
    fields whose visibility or required marker changed, as out-of-band swaps for HTMX."""
    assert page.catalog is not None
    errors = {k: error_text(v, page._) for k, v in (errors or {}).items()}
    widgets = forms.widgets(page.catalog, ctype, page.lang, values, state=ctype.flow.initial,
                            priority=priority if priority in PRIORITIES else ctype.spec.default_priority,
                            errors=errors, files=files, include_hidden=True)
    if changed_since is not None:
        shown, required = changed_since
        changed = [w for w in widgets
                   if w.visible != (w.id in shown) or (w.visible and w.required != (w.id in required))]
        return page.render("_field_swaps.html", widgets=changed, action=f"/tickets/new/{ctype.name}")
    title_spec = ctype.spec.title
    context = {
        "ctype": ctype, "type_label": page._type_label, "widgets": widgets, "title": title,
        "title_label": label_text(title_spec.label if title_spec else None, page.lang) or page._("Title"),
        "title_placeholder": label_text(title_spec.placeholder if title_spec else None, page.lang),
        "title_max": title_spec.max_length if title_spec else 200, "priority": priority,
        "errors": errors, "general": [error_text(g, page._) for g in general or []],
        "sections": _sections(ctype, widgets, page.lang), "nav": "new",
    }
    return page.render("new_form.html", status=status, **context)


def _sections(ctype: CompiledType, widgets: list[forms.Widget], lang: str) -> list[dict[str, Any]]:
    """The widgets grouped by the type's layout sections (one untitled group without a layout)."""
    by_id = {w.id: w for w in widgets}
    if not ctype.spec.layout:
        return [{"label": "", "widgets": widgets}]
    out, placed = [], set()
    for section in ctype.spec.layout:
        ws = [by_id[i] for i in section.fields if i in by_id]
        placed.update(section.fields)
        if ws:
            out.append({"label": label_text(section.label, lang), "widgets": ws})
    rest = [w for w in widgets if w.id not in placed]
    if rest:
        out.append({"label": "", "widgets": rest})
    return out


class TicketPages(Controller):
    """One ticket: what it says, what happened, and what this person may do with it now."""

    @get("/tickets/{ticket_id:int}")
    async def detail(self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]) -> Response[str]:
        page = await _page(request, state)
        notice = page._("Ticket raised.") if request.query_params.get("created") else ""
        return await _detail(page, state, ticket_id, notice=notice)

    @get("/tickets/{ticket_id:int}/do/{transition_id:str}")
    async def transition_form(self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int],
                              transition_id: FromPath[str]) -> Response[str]:
        page = await _page(request, state)
        return await _transition_page(page, state, ticket_id, transition_id, {}, "")

    @post("/tickets/{ticket_id:int}/do/{transition_id:str}")
    async def transition(self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int],
                         transition_id: FromPath[str]) -> Response[Any]:
        page = await _page(request, state)
        assert page.actor is not None
        form = await _form(request, page)
        svc = _service(state)
        ticket = await svc.get(page.actor, ticket_id)
        catalog = await svc.catalogs.for_ticket(ticket)
        ctype = catalog.types[ticket.type]
        values, problems = forms.parse_fields(ctype, form, page._)
        comment = str(form.get("comment") or "").strip() or None
        kept = await _kept_files(state, page.actor, ctype, values)
        problems.update(await _store_uploads(state, page.actor, ctype, form, values, kept, ticket_id=ticket.id))
        row_version = _int(form.get("row_version"))
        if problems:
            return await _transition_page(page, state, ticket_id, transition_id, values, comment or "",
                                          errors=problems, status=422, files=kept)
        data = {k: v for k, v in values.items() if v is not None}
        try:
            await svc.transition(page.actor, ticket_id, transition_id, data, comment, row_version)
        except InvalidInput as exc:
            errors, general = forms.field_errors((e.field, e.message) for e in exc.errors)
            return await _transition_page(page, state, ticket_id, transition_id, values, comment or "",
                                          errors=errors, general=general, status=422, files=kept)
        except GongdanError as exc:
            return await _detail(page, state, ticket_id, error=error_text(exc.message, page._), status=exc.status)
        return _hx_or_redirect(page, f"/tickets/{ticket_id}")

    @post("/tickets/{ticket_id:int}/comment")
    async def comment(self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]) -> Response[Any]:
        page = await _page(request, state)
        assert page.actor is not None
        form = await _form(request, page)
        body = str(form.get("body") or "")
        try:
            await _service(state).comment(page.actor, ticket_id, body, internal=form.get("internal") == "true")
        except InvalidInput as exc:
            message = _problem_text(page, exc)
            return await _detail(page, state, ticket_id, error=page._("Comment: %(problem)s") % {"problem": message},
                                 status=422, comment=body)
        return _see_other(f"/tickets/{ticket_id}#timeline")

    @post("/tickets/{ticket_id:int}/assign")
    async def assign(self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]) -> Response[Any]:
        page = await _page(request, state)
        assert page.actor is not None
        form = await _form(request, page)
        assignee = str(form.get("assignee") or "").strip() or None
        team = str(form.get("team") or "").strip() or None
        if form.get("take"):
            assignee = page.actor.username
        try:
            await _service(state).assign(page.actor, ticket_id, assignee=assignee, team=team,
                                         row_version=_int(form.get("row_version")))
        except GongdanError as exc:
            message = _problem_text(page, exc)
            return await _detail(page, state, ticket_id, error=message, status=exc.status)
        return _see_other(f"/tickets/{ticket_id}")

    @post("/tickets/{ticket_id:int}/decide")
    async def decide(self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]) -> Response[Any]:
        page = await _page(request, state)
        assert page.actor is not None
        form = await _form(request, page)
        decision = str(form.get("decision") or "")
        comment = str(form.get("comment") or "").strip() or None
        try:
            await _service(state).decide(page.actor, ticket_id, decision, comment)
        except GongdanError as exc:
            message = _problem_text(page, exc)
            return await _detail(page, state, ticket_id, error=message, status=exc.status)
        back = _local_next(str(form.get("next") or ""), f"/tickets/{ticket_id}")
        return _see_other(back)


def _problem_text(page: Page, exc: GongdanError) -> str:
    """A refusal as one line in the page's language: the first field error, else the message."""
    return error_text(exc.errors[0].message if exc.errors else exc.message, page._)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


async def _detail(page: Page, state: State, ticket_id: int, *, notice: str = "", error: str = "",
                  status: int = 200, comment: str = "") -> Response[str]:
    actor = page.actor
    assert actor is not None
    svc = _service(state)
    ticket = await svc.get(actor, ticket_id)
    catalog = await svc.catalogs.for_ticket(ticket)
    ctype = catalog.types[ticket.type]
    view = await svc.view(actor, ticket)
    files = await _attachment_infos(state, actor, ticket.id)
    shown = [_display(catalog, ctype, f.id, view["fields"][f.id], page.lang, files, page._)
             for f in forms.ordered_fields(ctype) if f.id in view["fields"]]
    transitions = [_transition_view(page, ctype, ctype.flow.transitions[t]) for t in view["transitions"]]
    events = await svc.events(actor, ticket.id)
    timeline = [_timeline_entry(page, catalog, ticket, ev) for ev in events]
    approvals = await svc.approval_rows(ticket.id)
    my_pending = [a for a in approvals if a["approver"] == actor.username and a["decision"] == "pending"]
    approval = ctype.flow.approvals.get(ticket.state)
    linked = {str(v) for f in ctype.spec.fields if f.type == "attachment"
              for v in (view["fields"].get(f.id) or []) if isinstance(view["fields"].get(f.id), list)}
    staff = can_note(catalog, actor, ticket)
    deliveries = [_delivery_view(page, catalog, d) for d in await inbox.ticket_deliveries(ticket.id)] if staff else []
    context = {
        "t": ticket, "ctype": ctype, "fields": shown, "transitions": transitions, "timeline": timeline,
        "approvals": approvals, "my_pending": my_pending, "approval": approval,
        "level_label": lambda a: _level_label(page, ctype, {"approval": a["approval_id"], "level": a["level_id"]}),
        "can_assign": can(catalog, actor, "assign", ticket), "can_comment": can(catalog, actor, "comment", ticket),
        "can_note": staff, "sla": _sla_view(page, await svc.sla_status(ticket)), "deliveries": deliveries,
        "other_files": [i for k, i in files.items() if k not in linked],
        "teams": sorted(catalog.teams), "notice": notice, "error": error, "comment": comment,
        "category": ticket.state_category or ctype.flow.category(ticket.state), "nav": "tickets",
        "diagram": _diagram(catalog, ctype.flow.name, page.lang, ticket.state),
    }
    return page.render("ticket.html", status=status, **context)


_SLA_STATES = {"running": N_("On track"), "paused": N_("Paused"), "warning": N_("At risk"),
               "breached": N_("Breached"), "met": N_("Met")}


def _sla_view(page: Page, report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each SLA target of the ticket as the SLA block shows it."""
    out = []
    for r in report:
        metric = r.get("metric")
        label = (page._("First response") if metric == "first_response" else page._("Resolution")
                 if metric == "resolution" else str(r.get("target")))
        status = str(r.get("status"))
        late = status == "breached" and bool(r.get("met_at"))
        out.append({**r, "label": label, "status_label": page._("Met late") if late else page._(
            _SLA_STATES.get(status, status))})
    return out


_DELIVERY_STATES = {"pending": N_("Sending"), "sent": N_("Sent"), "dead": N_("Failed")}


def _channel_label(page: Page, catalog: Catalog | None, channel: str) -> str:
    if channel == "email":
        return page._("E-mail")
    if channel == "in_app":
        return page._("In-app")
    spec = catalog.channels.get(channel) if catalog is not None else None
    return label_text(spec.label, page.lang, channel) if spec is not None else channel


def _delivery_view(page: Page, catalog: Catalog | None, d: inbox.Delivery) -> dict[str, Any]:
    """One outbox message as the ticket page and the admin page list it."""
    if d.recipient:
        to = d.recipient_name if d.recipient_name == d.recipient else f"{d.recipient_name} ({d.recipient})"
    else:
        to = d.address or page._("the group")
    return {"id": d.id, "ticket_id": d.ticket_id, "ticket_number": d.ticket_number,
            "channel": _channel_label(page, catalog, d.channel), "to": to, "address": d.address,
            "status": d.status, "status_label": page._(_DELIVERY_STATES.get(d.status, d.status)),
            "when": d.sent_at or d.created_at, "created_at": d.created_at, "attempts": d.attempts,
            "error": d.last_error or "", "subject": d.subject, "next_attempt_at": d.next_attempt_at}


_DIAGRAMS: dict[tuple[str, str, str, str | None], Markup] = {}


def _diagram(catalog: Catalog, flow: str, lang: str, current: str | None = None) -> Markup:
    """A flow's diagram, drawn once per definition version, language and current state."""
    key = (catalog.version, flow, lang, current)
    if key not in _DIAGRAMS:
        if len(_DIAGRAMS) > 2000:  # old definition versions
            _DIAGRAMS.clear()
        _DIAGRAMS[key] = flow_svg(catalog.flows[flow], lang, current=current)
    return _DIAGRAMS[key]


async def _transition_page(page: Page, state: State, ticket_id: int, transition_id: str, values: dict[str, Any],
                           comment: str, *, errors: Mapping[str, str] | None = None,
                           general: list[str] | None = None, status: int = 200,
                           files: Mapping[str, list[dict[str, Any]]] | None = None) -> Response[str]:
    actor = page.actor
    assert actor is not None
    svc = _service(state)
    ticket = await svc.get(actor, ticket_id)
    catalog = await svc.catalogs.for_ticket(ticket)
    ctype = catalog.types[ticket.type]
    view = await svc.view(actor, ticket)
    if transition_id not in view["transitions"]:
        return await _detail(page, state, ticket_id, status=409,
                             error=page._("This step is not open to you now; the ticket may have moved on."))
    tr = ctype.flow.transitions[transition_id]
    current = {**ticket.fields, **{k: v for k, v in values.items() if v is not None}}
    errors = {k: error_text(v, page._) for k, v in (errors or {}).items()}
    existing = await _attachment_infos(state, actor, ticket.id)
    file_map = dict(files or {})
    for fid in tr.require:
        if fid not in file_map and isinstance(current.get(fid), list):
            file_map[fid] = [existing[str(v)].json() for v in current[fid] if str(v) in existing]
    widgets = forms.widgets(catalog, ctype, page.lang, current, state=tr.to, priority=ticket.priority,
                            only=tr.require, require=tr.require, errors=errors, files=file_map)
    context = {"t": ticket, "tr": _transition_view(page, ctype, tr), "widgets": widgets, "comment": comment,
               "errors": errors, "general": [error_text(g, page._) for g in general or []], "nav": "tickets"}
    template = "_transition_form.html" if page.htmx else "transition.html"
    return page.render(template, status=status, **context)


class DefinitionPages(Controller):
    """The running definitions for admins: types and fields, flows as diagrams, roles × permissions."""

    @get("/definitions")
    async def overview(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _admin(request, state)
        catalog = page.catalog
        assert catalog is not None
        loaded = state.get("definitions_loaded_at")
        roles = _role_matrix(catalog, page.lang)
        return page.render("definitions.html", loaded_at=loaded, roles=roles, nav="definitions",
                           flow_svg=lambda flow: _diagram(catalog, flow.name, page.lang), forms=forms)


async def _admin(request: Request[Any, Any, Any], state: State) -> Page:
    page = await _page(request, state)
    assert page.actor is not None and page.catalog is not None
    if not is_admin(page.catalog, page.actor):
        raise NotFound("definitions")
    return page


class NotificationPages(Controller):
    """The bell's list: what was sent to me in the app, newest first; reading marks it read.

    Opening a notification is a link (``GET /notifications/<id>/open``) that marks it read and
    redirects to its ticket: it opens in a new tab like any link and works without JavaScript.
    Being a GET, another site could make a signed-in browser follow it, but all that does is mark
    one of the person's own notifications read — nothing is shown to that site or changed otherwise.
    Marking read without opening, and marking all read, are POST forms with the CSRF token.
    """

    @get("/notifications")
    async def inbox_page(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _page(request, state)
        unread_only = request.query_params.get("unread") == "1"
        return await _inbox(page, unread_only, request.query_params.get("cursor") or None)

    @post("/notifications/read-all")
    async def read_all(self, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        page = await _page(request, state)
        assert page.actor is not None
        form = await _form(request, page)
        await inbox.mark_all_read(page.actor.id, _service(state).now())
        unread_only = form.get("unread") == "1"
        if page.htmx:  # the list in place, and the bell (out of band) with no count
            page.unread = 0
            return await _inbox(page, unread_only, None, fragment=True)
        return _see_other("/notifications" + ("?unread=1" if unread_only else ""))

    @post("/notifications/{notification_id:int}/read")
    async def read_one(self, request: Request[Any, Any, Any], state: State,
                       notification_id: FromPath[int]) -> Response[Any]:
        page = await _page(request, state)
        assert page.actor is not None
        form = await _form(request, page)
        item = await inbox.mark_read(page.actor.id, notification_id, _service(state).now())
        if page.htmx:
            page.unread = await inbox.unread_count(page.actor.id)
            return page.render("_notification.html", n=item, unread_view=form.get("unread") == "1", item_oob=True)
        return _see_other("/notifications" + ("?unread=1" if form.get("unread") == "1" else ""))

    @get("/notifications/{notification_id:int}/open")
    async def open_one(self, request: Request[Any, Any, Any], state: State,
                       notification_id: FromPath[int]) -> Response[Any]:
        page = await _page(request, state)
        assert page.actor is not None
        item = await inbox.mark_read(page.actor.id, notification_id, _service(state).now())
        return _see_other(f"/tickets/{item.ticket_id}" if item.ticket_id else "/notifications")


async def _inbox(page: Page, unread_only: bool, cursor: str | None, *, fragment: bool = False) -> Response[str]:
    assert page.actor is not None
    items, nxt = await inbox.list_notifications(page.actor.id, unread_only=unread_only, limit=50, cursor=cursor)
    base = "/notifications?" + ("unread=1&" if unread_only else "")
    context: dict[str, Any] = {"items": items, "unread_view": unread_only, "nav": "notifications",
               "next_link": f"{base}cursor={nxt}" if nxt else "",
               "first_link": base.rstrip("?&") if cursor else ""}
    if fragment:
        return page.render("_inbox.html", oob_bell=True, **context)
    return page.render("notifications.html", **context)


class OutboxPages(Controller):
    """Admins: what the notification worker sent, is sending, and could not deliver (with a Retry)."""

    @get("/admin/notifications")
    async def outbox(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _admin(request, state)
        status = request.query_params.get("status") or "dead"
        if status not in inbox.OUTBOX_STATUSES:
            status = "dead"
        cursor = request.query_params.get("cursor") or None
        rows, nxt = await inbox.outbox_messages(status, limit=50, cursor=cursor)
        notice = ""
        retried = request.query_params.get("retried")
        if retried and retried.isdigit():
            notice = page._("Message %(id)s is queued for another attempt.") % {"id": retried}
        elif request.query_params.get("stale"):
            notice = page._("That message was no longer failed; the list shows what it is now.")
        return page.render(
            "outbox.html", rows=[_delivery_view(page, page.catalog, d) for d in rows], current=status,
            statuses=inbox.OUTBOX_STATUSES, status_labels=_DELIVERY_STATES, notice=notice, nav="outbox",
            next_link=f"/admin/notifications?status={status}&cursor={nxt}" if nxt else "",
            first_link=f"/admin/notifications?status={status}" if cursor else "",
        )

    @post("/admin/notifications/{message_id:int}/retry")
    async def retry(self, request: Request[Any, Any, Any], state: State, message_id: FromPath[int]) -> Response[Any]:
        page = await _admin(request, state)
        await _form(request, page)
        try:
            message = await inbox.retry_dead(message_id, _service(state).now())
        except TransitionNotAllowed:  # retried meanwhile (another admin, another tab)
            return _hx_or_redirect(page, "/admin/notifications?status=dead&stale=1")
        if page.htmx:
            return page.render("_outbox_row.html", m=_delivery_view(page, page.catalog, message), retried=True)
        return _see_other(f"/admin/notifications?status=dead&retried={message_id}")


def _role_matrix(catalog: Catalog, lang: str) -> list[dict[str, Any]]:
    """Each role's grants as rows: which types, which actions, in which scope."""
    out = []
    for name, role in sorted(catalog.roles.items()):
        grants = []
        for g in role.permissions:
            types = g.types
            grants.append({
                "types": "*" if not types or types == "*" else ", ".join(
                    catalog.types[t].label(lang) if t in catalog.types else t for t in types),
                "actions": list(g.actions),
                "scope": g.scope,
            })
        out.append({"name": name, "label": label_text(role.label, lang, name), "grants": grants,
                    "see_sensitive": "*" if role.see_sensitive == "*" else ", ".join(role.see_sensitive),
                    "admin": role.admin})
    return out


class ReportPages(Controller):
    """The reader's dashboard of reports, and one report with its chart, table and downloads."""

    @get("/reports")
    async def dashboard(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        page = await _page(request, state)
        assert page.actor is not None and page.catalog is not None
        reports = visible_reports(page.catalog, page.actor)
        # side by side: on PostgreSQL each report gets a pooled connection of its own
        views = await asyncio.gather(*(reader_report(page.catalog, page.actor, r.name, page.lang) for r in reports))
        cards = [{"view": view, "chart": view_chart(view, f"chart-{i}", compact=True),
                  "downloads": _downloads(view, {})} for i, view in enumerate(views)]
        return page.render("reports.html", cards=cards, nav="reports")

    @get("/reports/{report_id:str}")
    async def report(self, request: Request[Any, Any, Any], state: State, report_id: FromPath[str]) -> Response[str]:
        page = await _page(request, state)
        assert page.actor is not None and page.catalog is not None
        query = {k: str(request.query_params.get(k) or "").strip() for k in ("range", "from", "to")}
        chosen = {k: v for k, v in query.items() if v}
        if chosen.get("range") == "custom":
            chosen.pop("range")
        error = ""
        try:
            view = await reader_report(page.catalog, page.actor, report_id, page.lang, chosen.get("range"),
                                       chosen.get("from"), chosen.get("to"))
        except InvalidInput as exc:
            error, chosen = _problem_text(page, exc), {}
            view = await reader_report(page.catalog, page.actor, report_id, page.lang)
        return page.render("report.html", status=422 if error else 200, view=view, chart=view_chart(view),
                           downloads=_downloads(view, chosen), ranges=RANGE_LABELS, chosen=query, error=error,
                           nav="reports")


def _downloads(view: ReportView, chosen: Mapping[str, str]) -> dict[str, str]:
    """The API links of a report as shown (its range and language), as CSV and as JSON."""
    params = {**chosen, "lang": view.lang}
    return {fmt: f"/api/v1/reports/{view.id}?{urlencode({'format': fmt, **params})}" for fmt in ("csv", "json")}


def _now() -> datetime:
    return datetime.now(UTC)


PAGE_ROUTES: list[Any] = [AuthPages, WorkPages, NewTicketPages, TicketPages, NotificationPages, ReportPages,
                          DefinitionPages, OutboxPages]
for _controller in PAGE_ROUTES:
    # more specific than the app's JSON handlers, so pages answer with pages
    _controller.exception_handlers = {Exception: html_error, HTTPException: html_error, GongdanError: html_error,
                                      NotAuthorizedException: html_error, ValidationException: html_error}
    _controller.include_in_schema = False
