"""The compiled, immutable Catalog: what the runtime and the pages read, never the YAML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .conditions import Cond, evaluate
from .formschema import FieldError, FieldValidator, type_schema
from .kinds.channel import ChannelSpec
from .kinds.flow import CLOSING, Approval, FlowSpec, RoutingRule, State, Transition
from .kinds.notification import STATE_EVENTS, Rule
from .kinds.org import Level, OrgUnit, Team
from .kinds.report import CompiledReport
from .kinds.role import RoleSpec
from .kinds.sla import CalendarSpec, SlaSpec
from .kinds.ticket_type import Field, TicketTypeSpec
from .model import label_text

__all__ = ["Catalog", "CompiledFlow", "CompiledRule", "CompiledType", "DocumentInfo", "OrgTree"]


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class OrgTree:
    """The org tree with the lookups scopes and approvals need."""

    units: Mapping[str, OrgUnit]
    parent: Mapping[str, str | None]
    levels: Mapping[str, Level]

    def ancestors(self, unit: str) -> tuple[str, ...]:
        """The unit itself, then its parent, up to the root."""
        out: list[str] = []
        cur: str | None = unit
        while cur is not None and cur in self.units and cur not in out:
            out.append(cur)
            cur = self.parent.get(cur)
        return tuple(out)

    def subtree(self, unit: str) -> tuple[str, ...]:
        """The unit and every unit below it."""
        out: list[str] = []
        stack = [unit] if unit in self.units else []
        while stack:
            cur = stack.pop()
            out.append(cur)
            stack.extend(c.id for c in reversed(self.units[cur].children))
        return tuple(out)

    def ancestor_at(self, unit: str, level: str) -> str | None:
        for u in self.ancestors(unit):
            if self.units[u].level == level:
                return u
        return None

    def label(self, unit: str, lang: str = "en") -> str:
        u = self.units.get(unit)
        return label_text(u.label, lang, unit) if u else unit


@dataclass(frozen=True)
class CompiledFlow:
    name: str
    spec: FlowSpec
    states: Mapping[str, State]
    transitions: Mapping[str, Transition]
    approvals: Mapping[str, Approval]  # by the state they run in
    routing: tuple[tuple[RoutingRule, Cond | None], ...]
    conditions: Mapping[str, Cond]  # transition id -> its `when`
    level_conditions: Mapping[tuple[str, str], Cond]  # (approval id, level id) -> `when`
    _from: dict[str, tuple[Transition, ...]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def initial(self) -> str:
        return self.spec.initial

    def category(self, state: str) -> str:
        s = self.states.get(state)
        return s.category if s else "open"

    def is_closing(self, state: str) -> bool:
        return self.category(state) in CLOSING

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        known = self._from.get(state)
        if known is None:
            known = self._from[state] = self._transitions_from(state)  # derived data; the flow never changes
        return known

    def _transitions_from(self, state: str) -> tuple[Transition, ...]:
        ids = list(self.states)
        out = []
        for tr in self.transitions.values():
            if tr.from_ == "*":
                if not self.is_closing(state):
                    out.append(tr)
            elif state in tr.sources(ids):
                out.append(tr)
        return tuple(out)


@dataclass(frozen=True)
class CompiledType:
    name: str
    spec: TicketTypeSpec
    flow: CompiledFlow
    fields: Mapping[str, Field]
    conditions: Mapping[str, tuple[Cond | None, Cond | None]]  # field -> (visible_when, required_when)
    teams: tuple[str, ...]
    org_units: tuple[str, ...]
    _validators: dict[tuple[str, str, tuple[str, ...]], FieldValidator] = field(
        default_factory=dict, repr=False, compare=False
    )

    def label(self, lang: str = "en") -> str:
        return label_text(self.spec.label, lang, self.name)

    def schema(self, state: str | None = None, priority: str | None = None,
               require: Sequence[str] = ()) -> dict[str, Any]:
        """JSON Schema of the field data in a state (default: the create form, in the initial state)."""
        known = {"type": self.name, "state": state or self.flow.initial,
                 "priority": priority or self.spec.default_priority}
        return type_schema(self.name, self.label(), self.spec.fields, self.conditions, known,
                           self.teams, self.org_units, require)

    @property
    def json_schema(self) -> dict[str, Any]:
        return self.schema()

    def validate(self, data: Mapping[str, Any], state: str | None = None, priority: str | None = None,
                 require: Sequence[str] = ()) -> list[FieldError]:
        """Every problem with ``data`` as (path, message); empty when it is valid."""
        key = (state or self.flow.initial, priority or self.spec.default_priority, tuple(require))
        validator = self._validators.get(key)
        if validator is None:
            validator = FieldValidator(self.schema(*key[:2], require=key[2]))
            self._validators[key] = validator  # a cache of derived data; the type itself never changes
        return validator.errors(data)

    def visible(self, field_id: str, values: Mapping[str, Any]) -> bool:
        cond = self.conditions.get(field_id, (None, None))[0]
        return cond is None or evaluate(cond, values)


@dataclass(frozen=True)
class DocumentInfo:
    kind: str
    name: str
    file: str
    version: int


@dataclass(frozen=True)
class CompiledRule:
    """One notification rule with what its document says around it."""

    document: str  # name of the Notification definition
    rule: Rule
    types: frozenset[str]  # ticket types it applies to; empty: every type
    when: Cond | None

    def applies_to(self, ticket_type: str) -> bool:
        return not self.types or ticket_type in self.types


_RuleKey = tuple[str, str, str | None]  # event, ticket type, target state (state events only)


def _rule_index(
    rules: tuple[CompiledRule, ...], types: Mapping[str, CompiledType]
) -> Mapping[_RuleKey, tuple[CompiledRule, ...]]:
    """The rules of every (event, type[, target state]), in declaration order: looked up, never searched."""
    index: dict[_RuleKey, list[CompiledRule]] = {}
    for r in rules:
        for event in dict.fromkeys(r.rule.on):
            for name, t in types.items():
                if not r.applies_to(name):
                    continue
                if event not in STATE_EVENTS:
                    index.setdefault((event, name, None), []).append(r)
                    continue
                if not r.rule.states:  # transitioned without states: every change, also when the state is not told
                    index.setdefault((event, name, None), []).append(r)
                for state in t.flow.states:
                    if not r.rule.states or state in r.rule.states:
                        index.setdefault((event, name, state), []).append(r)
    return MappingProxyType({k: tuple(v) for k, v in index.items()})


@dataclass(frozen=True)
class Catalog:
    """Everything a running system needs from a definition set; its version is a content hash."""

    version: str
    types: Mapping[str, CompiledType]
    flows: Mapping[str, CompiledFlow]
    roles: Mapping[str, RoleSpec]
    teams: Mapping[str, Team]
    org: OrgTree
    calendars: Mapping[str, CalendarSpec]
    slas: Mapping[str, SlaSpec]
    documents: tuple[DocumentInfo, ...]
    snapshot: bytes = field(repr=False)  # canonical JSON of every definition, for storing a version
    channels: Mapping[str, ChannelSpec] = field(default_factory=lambda: MappingProxyType({}))  # declared ones
    notifications: tuple[CompiledRule, ...] = ()
    reports: Mapping[str, CompiledReport] = field(default_factory=lambda: MappingProxyType({}))
    _rules: Mapping[_RuleKey, tuple[CompiledRule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rules", _rule_index(self.notifications, self.types))

    def type(self, name: str) -> CompiledType:
        return self.types[name]

    def rules_for(self, event: str, ticket_type: str, to_state: str | None = None) -> tuple[CompiledRule, ...]:
        """The notification rules ``event`` fires on a ticket of ``ticket_type``, in declaration order.

        For the state events (transitioned, entered) ``to_state`` is the state entered: a rule with
        ``states`` fires only for those. A rule's ``when`` is not evaluated here; the caller tests it
        on the ticket's values with ``conditions.evaluate``. A rule that lists both transitioned and
        entered is returned for each of them: notify once per rule and state change.
        """
        key = (event, ticket_type, to_state if event in STATE_EVENTS else None)
        return self._rules.get(key, ())

    def summary(self) -> dict[str, int]:
        return {
            "ticket types": len(self.types),
            "flows": len(self.flows),
            "roles": len(self.roles),
            "teams": len(self.teams),
            "org units": len(self.org.units),
            "SLA policies": len(self.slas),
            "calendars": len(self.calendars),
            "channels": len(self.channels),
            "notification rules": len(self.notifications),
            "reports": len(self.reports),
        }


def frozen_map(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return _frozen(d)
