"""Message templates of notifications: sandboxed Jinja2, checked at compile time, rendered by the runtime.

One module serves both sides so that ``gongdan check`` and the running server agree on what a
template may use. A template sees only the documented variables (``VARIABLES``); everything else
is an error when the definitions are checked, and a ``TemplateRenderError`` (never a crash) when
a stored definition version is rendered anyway.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .diagnostics import did_you_mean

__all__ = [
    "DEFAULT_SUBJECT",
    "VARIABLES",
    "TemplateProblem",
    "TemplateRenderError",
    "Variable",
    "check_template",
    "render_template",
]

DEFAULT_SUBJECT = "{{ ticket.number }} {{ ticket.title }}"
"""The subject of a rule that gives none: the ticket number and title."""

# Results of '*' (repeated text or lists) and '**' beyond these bounds are refused: a template
# must not be able to exhaust memory or CPU, at check time (constant folding) or at run time.
MAX_REPEAT = 10_000
MAX_EXPONENT = 64


@dataclass(frozen=True)
class Variable:
    """A variable templates may use: what it is, and its attributes (none for a plain value)."""

    description: str
    attributes: Mapping[str, str]


VARIABLES: Mapping[str, Variable] = {
    "ticket": Variable(
        "The ticket the event happened to.",
        {
            "number": "Ticket number, e.g. GD-000042.",
            "title": "Title.",
            "type": "Ticket type id.",
            "type_label": "Ticket type label in the recipient's language.",
            "state": "State id.",
            "state_label": "State label in the recipient's language.",
            "state_category": "open, active, waiting, resolved, closed or cancelled.",
            "priority": "low, normal, high or urgent.",
            "requester": "Username of the requester.",
            "requester_name": "Display name of the requester.",
            "assignee": "Username of the assignee (empty when unassigned).",
            "assignee_name": "Display name of the assignee.",
            "team": "Team id.",
            "team_label": "Team label in the recipient's language.",
            "org_unit": "Org unit id.",
            "org_unit_label": "Org unit label in the recipient's language.",
            "created_at": "When the ticket was raised.",
            "url": "Link to the ticket page.",
            "fields": "The type's own fields: ticket.fields.<field id>.",
        },
    ),
    "event": Variable(
        "What happened.",
        {
            "kind": "The event: created, assigned, transitioned, entered, commented, approval_requested, approved, "
            "rejected, sla_warning or sla_breached.",
            "actor": "Username of whoever caused the event (empty for the system).",
            "actor_name": "Display name of whoever caused the event.",
            "from_state": "State before a state change.",
            "to_state": "State after a state change.",
            "transition": "Id of the transition performed.",
            "comment": "Text of the comment (commented) or the comment given with a step.",
            "approval": "Id of the approval (approval_requested, approved, rejected).",
            "level": "Id of the approval level.",
            "decision": "approved or rejected.",
        },
    ),
    "sla": Variable(
        "The SLA target that warned or was breached; only in rules for sla_warning and sla_breached.",
        {
            "target": "Target id.",
            "target_label": "Target label in the recipient's language.",
            "metric": "first_response or resolution.",
            "due_at": "When the target is due.",
            "threshold": "warning or breach.",
        },
    ),
    "recipient": Variable(
        "The person the message is for (empty for a chat group).",
        {"username": "Username.", "display_name": "Display name."},
    ),
    "lang": Variable("The language of the message: en or zh.", {}),
}

# Names a template may use besides the variables: Jinja's own helpers and loop variables.
_BUILTIN_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "super", "self"})
_FORBIDDEN_TAGS: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
}
_SLA_EVENTS = ("sla_warning", "sla_breached")


@dataclass(frozen=True)
class TemplateProblem:
    """A problem in a template: diagnostic code, line inside the template, message and hint."""

    code: str
    line: int
    message: str
    hint: str | None = None


class TemplateRenderError(Exception):
    """A template could not be rendered; ``line`` is the line inside the template."""

    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason
        where = f"line {line} of the template: " if line is not None else ""
        super().__init__(f"{where}{reason}")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with '*' and '**' bounded (intercepted operators are also never constant-folded)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_REPEAT:
                    raise SecurityError(f"repeating makes more than {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


def _finalize(value: Any) -> Any:
    return "" if value is None else value  # a variable without a value (no assignee yet) prints nothing


_ENV = _Sandbox(
    undefined=StrictUndefined,
    autoescape=False,  # messages are text; the runtime escapes them where it shows them as HTML
    keep_trailing_newline=False,
    trim_blocks=True,  # a line that holds only {% if %} or {% endif %} leaves no empty line behind
    lstrip_blocks=True,
    finalize=_finalize,
    auto_reload=False,
)
_KNOWN_NAMES = frozenset(VARIABLES) | frozenset(_ENV.globals) | _BUILTIN_NAMES


@functools.lru_cache(maxsize=1024)
def _compiled(text: str) -> Any:
    return _ENV.from_string(text)


def _reason(exc: BaseException) -> str:
    return str(exc.message if isinstance(exc, TemplateSyntaxError) and exc.message else exc).rstrip(".")


# --- checking ------------------------------------------------------------------------------------


def _key(node: nodes.Node) -> str | None:
    """The attribute an access names: ``a.b`` and ``a['b']`` give 'b'; a computed key gives None."""
    if isinstance(node, nodes.Getattr):
        return str(node.attr)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _accesses(tree: nodes.Template) -> Iterator[nodes.Getattr | nodes.Getitem]:
    yield from tree.find_all((nodes.Getattr, nodes.Getitem))  # type: ignore[misc]


def check_template(
    text: str,
    *,
    fields: Collection[str] | None = None,
    events: Collection[str] | None = None,
) -> list[TemplateProblem]:
    """Every problem of a template, by line inside the template; empty when it is fine.

    ``fields`` are the field ids ``ticket.fields`` may name (None: any); ``events`` are the events
    the template is rendered for (None: any): ``sla`` exists only when all of them are SLA events.
    """
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        return [TemplateProblem("E711", exc.lineno, _reason(exc))]
    problems: list[TemplateProblem] = []
    for node_type, tag in _FORBIDDEN_TAGS.items():
        for found in tree.find_all(node_type):
            problems.append(
                TemplateProblem("E711", found.lineno, f"'{tag}' is not available in messages", "write the text here")
            )
    for flt in tree.find_all(nodes.Filter):
        if flt.name not in _ENV.filters:
            hint = did_you_mean(flt.name, _ENV.filters)
            problems.append(TemplateProblem("E711", flt.lineno, f"unknown filter '{flt.name}'", hint))
    for test in tree.find_all(nodes.Test):
        if test.name not in _ENV.tests:
            hint = did_you_mean(test.name, _ENV.tests)
            problems.append(TemplateProblem("E711", test.lineno, f"unknown test '{test.name}'", hint))
    if not problems:
        try:
            _ENV.compile(tree)  # whatever else Jinja refuses when it generates code
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem("E711", exc.lineno, _reason(exc)))
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    sla_ok = events is None or all(e in _SLA_EVENTS for e in events)
    sla_reported = False
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load" or name.name in local:
            continue
        if name.name not in _KNOWN_NAMES:
            problems.append(
                TemplateProblem(
                    "E712",
                    name.lineno,
                    f"unknown variable '{name.name}'",
                    did_you_mean(name.name, VARIABLES) or f"variables are: {', '.join(VARIABLES)}",
                )
            )
        elif name.name == "sla" and not sla_ok and not sla_reported:
            sla_reported = True
            others = ", ".join(e for e in events or () if e not in _SLA_EVENTS)
            problems.append(
                TemplateProblem(
                    "E713",
                    name.lineno,
                    f"'sla' is set only for sla_warning and sla_breached, but this rule also fires on {others}",
                    "move the SLA message to a rule of its own",
                )
            )
    for access in _accesses(tree):
        problems.extend(_check_access(access, local, fields))
    unique = {(p.line, p.code, p.message): p for p in problems}
    return [unique[k] for k in sorted(unique)]


def _check_access(
    access: nodes.Getattr | nodes.Getitem, local: set[str], fields: Collection[str] | None
) -> list[TemplateProblem]:
    key = _key(access)
    inner = access.node
    if key is None:
        return []
    if isinstance(inner, nodes.Name) and inner.name in VARIABLES and inner.name not in local:
        attrs = VARIABLES[inner.name].attributes
        if not attrs or key in attrs:
            return []
        return [
            TemplateProblem(
                "E712",
                access.lineno,
                f"'{inner.name}' has no variable '{key}'",
                did_you_mean(f"{inner.name}.{key}", [f"{inner.name}.{a}" for a in attrs])
                or f"'{inner.name}' has: {', '.join(attrs)}",
            )
        ]
    if (
        fields is not None
        and isinstance(inner, nodes.Getattr | nodes.Getitem)
        and _key(inner) == "fields"
        and isinstance(inner.node, nodes.Name)
        and inner.node.name == "ticket"
        and "ticket" not in local
        and key not in fields
    ):
        return [
            TemplateProblem(
                "E213",
                access.lineno,
                f"'ticket.fields.{key}': no ticket type of this rule has a field '{key}'",
                did_you_mean(key, fields) or (f"fields are: {', '.join(sorted(fields))}" if fields else None),
            )
        ]
    return []


# --- rendering -----------------------------------------------------------------------------------


class Record:
    """A variable's attributes as the template sees them: keys only, never the methods of a dict.

    A field named ``items`` or ``keys`` must print its value, not a dict method. A documented
    attribute the runtime left out prints nothing; an undocumented one is an error.
    """

    __slots__ = ("_data", "_known", "_name")

    def __init__(self, name: str, data: Mapping[str, Any], known: Collection[str] | None) -> None:
        self._name = name
        self._data = data
        self._known = known

    def __getattr__(self, key: str) -> Any:
        return self[key]

    def __getitem__(self, key: str) -> Any:
        if key in self._data:
            return self._data[key]
        if self._known is None or key in self._known:
            return None
        raise UndefinedError(f"'{self._name}' has no variable '{key}'")

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __str__(self) -> str:
        return ", ".join(f"{k}: {'' if v is None else v}" for k, v in self._data.items())


def _wrap(context: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(context)
    for name, var in VARIABLES.items():
        value = context.get(name)
        if not var.attributes:
            continue
        data = dict(value) if isinstance(value, Mapping) else {}
        if name == "ticket":
            raw = data.get("fields")
            data["fields"] = Record("ticket.fields", raw if isinstance(raw, Mapping) else {}, None)
        out[name] = Record(name, data, var.attributes)
    return out


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised on: Jinja rewrites tracebacks to name it."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def render_template(text: str, context: Mapping[str, Any]) -> str:
    """Render a message template with ``context`` (the variables of ``VARIABLES``).

    Raises ``TemplateRenderError`` on anything the template cannot do: a syntax error, an
    unknown variable, access the sandbox refuses, or an error of an expression.
    """
    try:
        template = _compiled(text)
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(exc.lineno, _reason(exc)) from exc
    try:
        return str(template.render(_wrap(context)))
    except Exception as exc:  # the template is user code: whatever it raises becomes one clear error
        raise TemplateRenderError(_template_line(exc), _reason(exc)) from exc
