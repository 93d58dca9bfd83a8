"""Checks of Flow definitions: references, graph shape, who can act, approvals and routing."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from ..conditions import Cond, FieldFacts, implies, make_checker, parse_condition
from ..diagnostics import Diagnostic, did_you_mean
from ..model import Party
from ..source import Path_
from .base import Context, KindInfo, Loaded, document_type
from .flow import CLOSING, Assignment, FlowSpec, Transition
from .org import walk_units
from .ticket_type import TicketTypeSpec, field_facts, report_problems

__all__ = ["KIND", "check", "grants"]

_ORG_WORDS = ("ticket", "nearest", "any")


def grants(role: Loaded, type_name: str, action: str) -> bool:
    """Whether a role's permissions include ``action`` on a ticket type (in any scope)."""
    return any((g.types == "*" or type_name in g.types) and action in g.actions for g in role.spec.permissions)


class _World:
    """Names the flow checks resolve against, gathered once per check run."""

    def __init__(self, ctx: Context) -> None:
        self.types = ctx.named("TicketType")
        self.roles = ctx.named("Role")
        self.teams = {t.id for d in ctx.of("Teams") for t in d.spec.teams}
        self.units = {u.id for d in ctx.of("OrgUnits") for u, _p, _q in walk_units(d.spec.units)}
        self.levels = {lv.id: lv for d in ctx.of("OrgUnits") for lv in d.spec.levels}
        self.has_org_managers = any(lv.manager_role for lv in self.levels.values())


def check_org(ctx: Context, d: Loaded, at: Path_, org: str | None, role: str | None, w: _World, what: str) -> None:
    """The ``org`` narrowing of a party or recipient: a known word or level, and only with a role."""
    if org is not None and org not in _ORG_WORDS and org not in w.levels:
        ctx.report(
            d.diag(
                "E308",
                (*at, "org"),
                f"{what} narrows by unknown org level '{org}'",
                did_you_mean(org, [*_ORG_WORDS, *w.levels])
                or f"use ticket, nearest, any or a level id: {', '.join(w.levels) or 'none declared'}",
            )
        )
    if org is not None and role is None:
        ctx.report(
            d.diag(
                "E309",
                (*at, "org"),
                f"{what} narrows by org but names no role",
                "org picks role holders in the org tree: add role: ...",
            )
        )


def _check_party(ctx: Context, d: Loaded, at: tuple[str | int, ...], party: Party, w: _World, what: str) -> None:
    if party.role is not None and party.role not in w.roles:
        ctx.report(
            d.diag(
                "E306", (*at, "role"), f"{what} names unknown role '{party.role}'", did_you_mean(party.role, w.roles)
            )
        )
    if party.team is not None and party.team not in w.teams:
        ctx.report(
            d.diag(
                "E307", (*at, "team"), f"{what} names unknown team '{party.team}'", did_you_mean(party.team, w.teams)
            )
        )
    check_org(ctx, d, at, party.org, party.role, w, what)
    if not (party.role or party.team or party.user or party.relation):
        ctx.report(d.diag("E309", at, f"{what} names nobody", "name a role, team, user or relation"))
    if party.relation == "org_manager" and not w.has_org_managers:
        ctx.report(
            d.diag(
                "E309",
                (*at, "relation"),
                f"{what} names org_manager, but no org level has a manager_role",
                "set manager_role on a level of the OrgUnits tree",
            )
        )
    if isinstance(party, Assignment) and party.strategy == "fixed" and party.role and not party.user:
        ctx.report(
            d.diag(
                "E309",
                (*at, "strategy"),
                f"{what} picks a role's holder with strategy fixed",
                "use round_robin or least_loaded to pick among the role's holders",
            )
        )
    if isinstance(party, Assignment) and party.strategy != "fixed" and not (party.team or party.role):
        ctx.report(
            d.diag("E309", (*at, "strategy"), f"{what} uses {party.strategy} but names no team or role to pick from")
        )


def _graph(spec: FlowSpec) -> dict[str, set[str]]:
    ids = [s.id for s in spec.states]
    edges: dict[str, set[str]] = {s: set() for s in ids}
    for tr in spec.transitions:
        sources = [s for s in ids if spec_category(spec, s) not in CLOSING] if tr.from_ == "*" else tr.sources(ids)
        for s in sources:
            edges.setdefault(s, set()).add(tr.to)
    for ap in spec.approvals:
        targets = {ap.on_approved, ap.on_rejected, *(lv.on_rejected for lv in ap.levels if lv.on_rejected)}
        edges.setdefault(ap.state, set()).update(targets)
    return edges


def spec_category(spec: FlowSpec, state: str) -> str | None:
    for s in spec.states:
        if s.id == state:
            return s.category
    return None


def _reach(start: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _check_graph(ctx: Context, f: Loaded, spec: FlowSpec, states: dict[str, int]) -> None:
    if spec.initial not in states:
        return
    edges = _graph(spec)
    reachable = _reach([spec.initial], edges)
    reverse: dict[str, set[str]] = {}
    for src, dsts in edges.items():
        for dst in dsts:
            reverse.setdefault(dst, set()).add(src)
    closing = [s.id for s in spec.states if s.category in CLOSING]
    can_close = _reach(closing, reverse)
    for s in spec.states:
        at = ("spec", "states", states[s.id], "id")
        if s.id not in reachable:
            ctx.report(
                f.diag(
                    "E302",
                    at,
                    f"state '{s.id}' cannot be reached from the initial state '{spec.initial}'",
                    "add a transition into it, or remove it",
                )
            )
        if s.category not in CLOSING and not edges.get(s.id):
            ctx.report(
                f.diag(
                    "E303",
                    at,
                    f"state '{s.id}' ({s.category}) has no transition out; tickets would be stuck",
                    "add a transition from it, or give it a resolved/closed/cancelled category",
                )
            )
        elif s.id not in can_close:
            ctx.report(
                f.diag(
                    "E304",
                    at,
                    f"no resolved, closed or cancelled state can be reached from '{s.id}'",
                    "add a path from it to a closing state",
                )
            )


def _type_facts(
    ctx: Context, types: list[Loaded], spec: FlowSpec, w: _World
) -> list[tuple[Loaded, dict[str, FieldFacts]]]:
    states = tuple(s.id for s in spec.states)
    return [
        (t, field_facts(t.spec, t.name, states, tuple(w.types), tuple(w.teams) or None, tuple(w.units) or None))
        for t in types
    ]


def _check_transition(
    ctx: Context,
    f: Loaded,
    i: int,
    tr: Transition,
    states: dict[str, int],
    w: _World,
    users: list[Loaded],
    facts: list[tuple[Loaded, dict[str, FieldFacts]]],
    seen: set[str],
) -> None:
    at: tuple[str | int, ...] = ("spec", "transitions", i)
    if tr.from_ == "":
        ctx.report(f.diag("E103", at, f"transition '{tr.id}' has no 'from'", "name the state(s) it starts from"))
    elif tr.from_ != "*":
        sources = [tr.from_] if isinstance(tr.from_, str) else tr.from_
        for j, s in enumerate(sources):
            if s not in states:
                where = (*at, "from") if isinstance(tr.from_, str) else (*at, "from", j)
                ctx.report(
                    f.diag(
                        "E203", where, f"transition '{tr.id}' starts from unknown state '{s}'", did_you_mean(s, states)
                    )
                )
    if tr.to not in states:
        ctx.report(
            f.diag(
                "E203",
                (*at, "to"),
                f"transition '{tr.id}' targets unknown state '{tr.to}'",
                did_you_mean(tr.to, states),
            )
        )
    for j, r in enumerate(tr.who.roles):
        if r not in w.roles:
            ctx.report(
                f.diag(
                    "E306",
                    (*at, "who", "roles", j),
                    f"transition '{tr.id}' names unknown role '{r}'",
                    did_you_mean(r, w.roles),
                )
            )
    if tr.set is not None and tr.set.assign is not None:
        _check_party(ctx, f, (*at, "set", "assign"), tr.set.assign, w, f"transition '{tr.id}'")
    for t, tf in facts:
        for j, fid in enumerate(tr.require):
            if fid not in tf:
                _unique(
                    ctx,
                    seen,
                    f.diag(
                        "E213",
                        (*at, "require", j),
                        f"transition '{tr.id}' requires field '{fid}', which ticket type '{t.name}' does not have",
                        did_you_mean(fid, [x for x in tf if x not in ("type", "state", "priority")]),
                    ),
                )
        for key in tr.set.fields if tr.set else {}:
            if key not in t.spec.fields and key not in {x.id for x in t.spec.fields}:
                _unique(
                    ctx,
                    seen,
                    f.diag(
                        "E213",
                        (*at, "set", "fields", key),
                        f"transition '{tr.id}' sets field '{key}', which ticket type '{t.name}' does not have",
                        did_you_mean(key, [x.id for x in t.spec.fields]),
                        key=True,
                    ),
                )
        if tr.when is not None:
            report_problems(ctx, f, make_checker(tf)(tr.when, (*at, "when")), seen)
        if not _performable(tr, t, w):
            names = ", ".join(tr.who.roles) or "none"
            _unique(
                ctx,
                seen,
                f.diag(
                    "E305",
                    (*at, "who"),
                    f"transition '{tr.id}' cannot be performed by anyone who may view ticket type '{t.name}' "
                    f"(roles: {names})",
                    "give one of its roles 'view' on the type, or add a relation such as assignee",
                ),
            )
    if not users and not tr.who.roles and not tr.who.relations:
        ctx.report(
            f.diag(
                "E305",
                (*at, "who"),
                f"transition '{tr.id}' names nobody who may perform it",
                "add who: {roles: [...]} or who: {relations: [...]}",
            )
        )


def _performable(tr: Transition, t: Loaded, w: _World) -> bool:
    for r in tr.who.roles:
        role = w.roles.get(r)
        if role is not None and grants(role, t.name, "view"):
            return True
    for rel in tr.who.relations:
        if rel == "requester" and any(grants(r, t.name, "create") for r in w.roles.values()):
            return True
        if rel in ("assignee", "team_member"):
            return True
        if rel == "org_manager" and w.has_org_managers:
            return True
    return False


def _unique(ctx: Context, seen: set[str], d: Diagnostic) -> None:
    key = d.render()
    if key not in seen:
        seen.add(key)
        ctx.report(d)


def _check_approvals(
    ctx: Context,
    f: Loaded,
    spec: FlowSpec,
    states: dict[str, int],
    w: _World,
    facts: list[tuple[Loaded, dict[str, FieldFacts]]],
    seen: set[str],
) -> None:
    ids: set[str] = set()
    used_states: dict[str, str] = {}
    for i, ap in enumerate(spec.approvals):
        at: tuple[str | int, ...] = ("spec", "approvals", i)
        if ap.id in ids:
            ctx.report(f.diag("E105", (*at, "id"), f"approval '{ap.id}' is declared twice"))
        ids.add(ap.id)
        if ap.state not in states:
            ctx.report(
                f.diag(
                    "E203",
                    (*at, "state"),
                    f"approval '{ap.id}' runs in unknown state '{ap.state}'",
                    did_you_mean(ap.state, states),
                )
            )
        else:
            if spec_category(spec, ap.state) != "waiting":
                ctx.report(
                    f.diag(
                        "E310",
                        (*at, "state"),
                        f"approval '{ap.id}' runs in state '{ap.state}', which is not a waiting state",
                        "give the state category: waiting",
                    )
                )
            if ap.state in used_states:
                ctx.report(
                    f.diag(
                        "W312",
                        (*at, "state"),
                        f"approval '{ap.id}' runs in the same state as '{used_states[ap.state]}'",
                        "only the first approval of a state runs",
                    )
                )
            used_states.setdefault(ap.state, ap.id)
        for key in ("on_approved", "on_rejected"):
            target = getattr(ap, key)
            if target not in states:
                ctx.report(
                    f.diag(
                        "E203",
                        (*at, key),
                        f"approval '{ap.id}' leads to unknown state '{target}'",
                        did_you_mean(target, states),
                    )
                )
        level_ids: set[str] = set()
        for j, lv in enumerate(ap.levels):
            lat: tuple[str | int, ...] = (*at, "levels", j)
            if lv.id in level_ids:
                ctx.report(f.diag("E105", (*lat, "id"), f"approval level '{lv.id}' is declared twice"))
            level_ids.add(lv.id)
            _check_party(ctx, f, (*lat, "approvers"), lv.approvers, w, f"approval level '{lv.id}'")
            if lv.on_rejected is not None and lv.on_rejected not in states:
                ctx.report(
                    f.diag(
                        "E203",
                        (*lat, "on_rejected"),
                        f"approval level '{lv.id}' leads to unknown state '{lv.on_rejected}'",
                        did_you_mean(lv.on_rejected, states),
                    )
                )
            if lv.when is not None:
                for _t, tf in facts:
                    report_problems(ctx, f, make_checker(tf)(lv.when, (*lat, "when")), seen)


def _check_routing(
    ctx: Context,
    f: Loaded,
    spec: FlowSpec,
    w: _World,
    facts: list[tuple[Loaded, dict[str, FieldFacts]]],
    seen: set[str],
) -> None:
    ids: set[str] = set()
    earlier: list[tuple[str, Cond]] = []
    catch_all: str | None = None
    for i, rule in enumerate(spec.routing):
        at: tuple[str | int, ...] = ("spec", "routing", i)
        if rule.id in ids:
            ctx.report(f.diag("E105", (*at, "id"), f"routing rule '{rule.id}' is declared twice"))
        ids.add(rule.id)
        _check_party(ctx, f, (*at, "assign"), rule.assign, w, f"routing rule '{rule.id}'")
        if catch_all is not None:
            ctx.report(
                f.diag(
                    "W311",
                    (*at, "id"),
                    f"routing rule '{rule.id}' is never used: rule '{catch_all}' before it matches every ticket",
                    "move the rule without 'when' to the end",
                )
            )
            continue
        if rule.when is None:
            catch_all = rule.id
            continue
        for _t, tf in facts:
            report_problems(ctx, f, make_checker(tf)(rule.when, (*at, "when")), seen)
        cond, problems = parse_condition(rule.when)
        if problems:
            continue
        for name, prior in earlier:
            if implies(cond, prior):
                ctx.report(
                    f.diag(
                        "W312",
                        (*at, "when"),
                        f"routing rule '{rule.id}' is shadowed by '{name}': every ticket it matches, "
                        f"'{name}' matches first",
                        "put the narrower rule first, or remove it",
                    )
                )
                break
        earlier.append((rule.id, cond))


def check(ctx: Context) -> None:
    w = _World(ctx)
    users: dict[str, list[Loaded]] = {}
    for t in ctx.of("TicketType"):
        ts: TicketTypeSpec = t.spec
        users.setdefault(ts.flow, []).append(t)
    for f in ctx.of("Flow"):
        spec: FlowSpec = f.spec
        seen: set[str] = set()
        states: dict[str, int] = {}
        for i, s in enumerate(spec.states):
            if s.id in states:
                ctx.report(f.diag("E105", ("spec", "states", i, "id"), f"state '{s.id}' is declared twice"))
            states.setdefault(s.id, i)
        if spec.initial not in states:
            ctx.report(
                f.diag(
                    "E301",
                    ("spec", "initial"),
                    f"initial state '{spec.initial}' is not declared",
                    did_you_mean(spec.initial, states),
                )
            )
        flow_users = users.get(f.name, [])
        if not flow_users:
            ctx.report(
                f.diag(
                    "W313",
                    ("metadata", "name"),
                    f"flow '{f.name}' is not used by any ticket type",
                    "point a ticket type's 'flow' at it, or remove it",
                )
            )
        facts = _type_facts(ctx, flow_users, spec, w)
        tids: set[str] = set()
        for i, tr in enumerate(spec.transitions):
            if tr.id in tids:
                ctx.report(f.diag("E105", ("spec", "transitions", i, "id"), f"transition '{tr.id}' is declared twice"))
            tids.add(tr.id)
            _check_transition(ctx, f, i, tr, states, w, flow_users, facts, seen)
        _check_approvals(ctx, f, spec, states, w, facts, seen)
        _check_routing(ctx, f, spec, w, facts, seen)
        _check_graph(ctx, f, spec, states)


KIND = KindInfo(
    name="Flow",
    folder="flows",
    spec=FlowSpec,
    document=document_type("Flow", FlowSpec, "A flow: states, transitions, approvals and routing."),
    check=check,
)
