"""Checks of Notification definitions: events, states, recipients, channels, conditions and templates."""

from __future__ import annotations

import re
from typing import Any

from ..conditions import FieldFacts, make_checker, parse_condition
from ..diagnostics import did_you_mean
from ..message_templates import check_template
from ..model import LocalizedText
from .base import Context, KindInfo, Loaded, document_type
from .channel import PERSONAL_CHANNELS, check_channel_names
from .flow_checks import _World, check_org
from .notification import EVENTS, RECIPIENT_RELATIONS, STATE_EVENTS, NotificationSpec, Recipient, Rule
from .ticket_type import field_facts, report_problems

__all__ = ["KIND", "check"]

# One address, as people write them in configuration: local part, '@', a dotted domain.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_WHO_KEYS = ("role", "team", "user", "relation", "address")

Path = tuple[str | int, ...]


class _Scope:
    """What the rules of one Notification document may refer to, given the ticket types it names."""

    def __init__(self, ctx: Context, d: Loaded, w: _World) -> None:
        spec: NotificationSpec = d.spec
        flows = ctx.named("Flow")
        teams = tuple(w.teams) or None
        units = tuple(w.units) or None
        types = [w.types[n] for n in spec.types if n in w.types] if spec.types else list(w.types.values())
        self.known = bool(types)  # all named types unknown: type-dependent checks would only cascade
        self.fields: set[str] = {f.id for t in types for f in t.spec.fields}
        # States of the types' flows; None when some flow is unknown (reported with the type).
        self.states: set[str] | None = set()
        self.facts: dict[str, FieldFacts] = {}
        for t in types:
            flow = flows.get(t.spec.flow)
            states = tuple(s.id for s in flow.spec.states) if flow is not None else None
            if states is None:
                self.states = None
            elif self.states is not None:
                self.states.update(states)
            for key, facts in field_facts(t.spec, t.name, states, tuple(w.types), teams, units).items():
                self.facts[key] = _merge(self.facts.get(key), facts)


def _merge(prev: FieldFacts | None, new: FieldFacts) -> FieldFacts:
    """Facts of a field several types have: a condition may test any value one of them allows."""
    if prev is None:
        return new
    if prev.type != new.type:
        return prev
    if prev.options is None or new.options is None:
        return FieldFacts(prev.type, None)
    return FieldFacts(prev.type, tuple(dict.fromkeys((*prev.options, *new.options))))


def _check_types(ctx: Context, d: Loaded, w: _World) -> None:
    for i, name in enumerate(d.spec.types):
        if name not in w.types:
            ctx.report(
                d.diag(
                    "E701",
                    ("spec", "types", i),
                    f"notification '{d.name}' names unknown ticket type '{name}'",
                    did_you_mean(name, w.types) or f"ticket types are: {', '.join(w.types) or 'none declared'}",
                )
            )


def _check_events(ctx: Context, d: Loaded, at: Path, rule: Rule, scope: _Scope) -> None:
    what = f"rule '{rule.id}'"
    seen: set[str] = set()
    for j, event in enumerate(rule.on):
        if event in seen:
            ctx.report(d.diag("E105", (*at, "on", j), f"{what} lists event '{event}' twice"))
        seen.add(event)
        if event not in EVENTS:
            ctx.report(
                d.diag(
                    "E702",
                    (*at, "on", j),
                    f"{what} fires on unknown event '{event}'",
                    did_you_mean(event, EVENTS) or f"events are: {', '.join(EVENTS)}",
                )
            )
    if "entered" in rule.on and not rule.states:
        ctx.report(
            d.diag(
                "E703",
                (*at, "on", rule.on.index("entered")),
                f"{what} fires on entered but names no states",
                "list the states under 'states', or use transitioned for every state change",
            )
        )
    if rule.states and not STATE_EVENTS & set(rule.on):
        ctx.report(
            d.diag(
                "E703",
                (*at, "states"),
                f"{what} names states but fires on no state change",
                "add entered to 'on', or remove 'states'",
            )
        )
    if scope.known and scope.states is not None:
        for j, state in enumerate(rule.states):
            if state not in scope.states:
                ctx.report(
                    d.diag(
                        "E203",
                        (*at, "states", j),
                        f"{what} names state '{state}', which no flow of its ticket types has",
                        did_you_mean(state, scope.states),
                    )
                )


def _check_recipient(ctx: Context, d: Loaded, at: Path, rule: Rule, r: Recipient, w: _World) -> None:
    what = f"rule '{rule.id}'"
    given = [k for k in _WHO_KEYS if getattr(r, k) is not None]
    if not given:
        ctx.report(
            d.diag("E705", at, f"a recipient of {what} names nobody", "give one of role, team, user, relation, address")
        )
    elif len(given) > 1:
        ctx.report(
            d.diag(
                "E705",
                (*at, given[1]),
                f"a recipient of {what} gives {' and '.join(given)}; a recipient is exactly one of them",
                "write one list item per recipient",
                key=True,
            )
        )
    if r.role is not None and r.role not in w.roles:
        ctx.report(
            d.diag("E306", (*at, "role"), f"{what} names unknown role '{r.role}'", did_you_mean(r.role, w.roles))
        )
    if r.team is not None and r.team not in w.teams:
        ctx.report(
            d.diag("E307", (*at, "team"), f"{what} names unknown team '{r.team}'", did_you_mean(r.team, w.teams))
        )
    check_org(ctx, d, at, r.org, r.role, w, what)
    if r.relation is not None:
        if r.relation not in RECIPIENT_RELATIONS:
            ctx.report(
                d.diag(
                    "E704",
                    (*at, "relation"),
                    f"{what} names unknown relation '{r.relation}'",
                    did_you_mean(r.relation, RECIPIENT_RELATIONS)
                    or f"relations are: {', '.join(RECIPIENT_RELATIONS)}",
                )
            )
        elif r.relation == "org_manager" and not w.has_org_managers:
            ctx.report(
                d.diag(
                    "E309",
                    (*at, "relation"),
                    f"{what} names org_manager, but no org level has a manager_role",
                    "set manager_role on a level of the OrgUnits tree",
                )
            )
        elif r.relation == "actor" and rule.exclude_actor:
            ctx.report(
                d.diag(
                    "E714",
                    (*at, "relation"),
                    f"{what} notifies the actor, but exclude_actor leaves the actor out",
                    "set exclude_actor: false on the rule",
                )
            )
    if r.address is not None:
        if not _EMAIL.match(r.address):
            ctx.report(
                d.diag(
                    "E706",
                    (*at, "address"),
                    f"'{r.address}' is not an e-mail address",
                    "write one address such as ops@example.com",
                )
            )
        if "email" not in rule.channels:
            ctx.report(
                d.diag(
                    "W715",
                    (*at, "address"),
                    f"{what} sends to address '{r.address}' but not by email, so it never arrives",
                    "add email to the rule's channels",
                )
            )


def _texts(value: str | LocalizedText) -> list[tuple[str, str]]:
    """(language, text) of a message: ('', text) for a plain string."""
    if isinstance(value, str):
        return [("", value)]
    return [(lang, text) for lang in ("en", "zh") if (text := getattr(value, lang)) is not None]


def _check_messages(ctx: Context, d: Loaded, at: Path, rule: Rule, scope: _Scope) -> None:
    events = [e for e in rule.on if e in EVENTS] or None
    fields = scope.fields if scope.known else None
    for key in ("subject", "body"):
        value: Any = getattr(rule, key)
        if value is None:
            continue
        texts = _texts(value)
        if not texts:
            ctx.report(
                d.diag(
                    "E103",
                    (*at, key),
                    f"rule '{rule.id}' gives no {key} text",
                    "write {en: ..., zh: ...} or a plain string",
                )
            )
        for lang, text in texts:
            where = (*at, key, lang) if lang else (*at, key)
            name = f"{key}.{lang}" if lang else key
            for p in check_template(text, fields=fields, events=events):
                ctx.report(
                    d.diag(p.code, where, f"rule '{rule.id}' {name}, template line {p.line}: {p.message}", p.hint)
                )


def _check_rule(ctx: Context, d: Loaded, at: Path, rule: Rule, scope: _Scope, w: _World) -> None:
    _check_events(ctx, d, at, rule, scope)
    if rule.when is not None:
        if scope.known:
            report_problems(ctx, d, make_checker(scope.facts)(rule.when, (*at, "when")))
        else:
            report_problems(ctx, d, parse_condition(rule.when, (*at, "when"))[1])
    for k, recipient in enumerate(rule.to):
        _check_recipient(ctx, d, (*at, "to", k), rule, recipient, w)
    check_channel_names(ctx, d, (*at, "channels"), rule.channels, ctx.named("Channel"), f"rule '{rule.id}'")
    personal = [c for c in rule.channels if c in PERSONAL_CHANNELS]
    if not rule.to and personal:
        ctx.report(
            d.diag(
                "E708",
                (*at, "channels"),
                f"rule '{rule.id}' sends by {' and '.join(personal)} but names no recipients",
                "add recipients under 'to', or send only to chat channels",
            )
        )
    _check_messages(ctx, d, at, rule, scope)


def check(ctx: Context) -> None:
    w = _World(ctx)
    for d in ctx.of("Notification"):
        _check_types(ctx, d, w)
        scope = _Scope(ctx, d, w)
        ids: set[str] = set()
        for i, rule in enumerate(d.spec.rules):
            at: Path = ("spec", "rules", i)
            if rule.id in ids:
                ctx.report(d.diag("E105", (*at, "id"), f"rule '{rule.id}' is declared twice"))
            ids.add(rule.id)
            _check_rule(ctx, d, at, rule, scope, w)


KIND = KindInfo(
    name="Notification",
    folder="notifications",
    spec=NotificationSpec,
    document=document_type(
        "Notification", NotificationSpec, "Notification rules: which events notify whom, how and with what message."
    ),
    check=check,
)
