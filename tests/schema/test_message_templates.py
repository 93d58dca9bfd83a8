"""Message templates: checked against the documented variables, rendered in a sandbox."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.schema.message_templates import (
    DEFAULT_SUBJECT,
    VARIABLES,
    TemplateProblem,
    TemplateRenderError,
    check_template,
    render_template,
)

FIELDS = {"device_no", "device_type", "cost"}


def problems(text: str, **kw: Any) -> list[tuple[str, int, str, str | None]]:
    return [(p.code, p.line, p.message, p.hint) for p in check_template(text, **kw)]


# --- checking ------------------------------------------------------------------------------------


def test_documented_variables_pass() -> None:
    text = " ".join(
        f"{{{{ {name}.{attr} }}}}" if attr else f"{{{{ {name} }}}}"
        for name, var in VARIABLES.items()
        for attr in (var.attributes or [""])
    )
    assert problems(text, fields=FIELDS, events=["sla_warning"]) == []


def test_unknown_variable_with_hint() -> None:
    assert problems("Hello {{ tiket.number }}") == [
        ("E712", 1, "unknown variable 'tiket'", "did you mean 'ticket'?")
    ]
    assert problems("{{ foo }}") == [
        ("E712", 1, "unknown variable 'foo'", "variables are: ticket, event, sla, recipient, lang")
    ]


def test_unknown_attribute_with_hint_by_attribute_and_by_key() -> None:
    assert problems("line one\n{{ ticket.titel }} {{ event['comennt'] }}") == [
        ("E712", 2, "'event' has no variable 'comennt'", "did you mean 'event.comment'?"),
        ("E712", 2, "'ticket' has no variable 'titel'", "did you mean 'ticket.title'?"),
    ]


def test_unknown_ticket_field() -> None:
    assert problems("{{ ticket.fields.device_no }}\n{{ ticket.fields.device_nr }}", fields=FIELDS) == [
        (
            "E213",
            2,
            "'ticket.fields.device_nr': no ticket type of this rule has a field 'device_nr'",
            "did you mean 'device_no'?",
        )
    ]
    # without known fields (the rule's types are unknown), fields are not judged
    assert problems("{{ ticket.fields.anything }}") == []


def test_sla_only_in_sla_rules() -> None:
    text = "{{ ticket.number }} due {{ sla.due_at }}, {{ sla.threshold }}"
    assert problems(text, events=["sla_warning", "sla_breached"]) == []
    assert problems(text, events=["sla_breached", "commented", "created"]) == [
        (
            "E713",
            1,
            "'sla' is set only for sla_warning and sla_breached, but this rule also fires on commented, created",
            "move the SLA message to a rule of its own",
        )
    ]


def test_syntax_error_names_the_template_line() -> None:
    text = "Hello {{ recipient.display_name }},\n\n{% if ticket.assignee %}on it{% endfi %}"
    [(code, line, message, _hint)] = problems(text)
    assert (code, line) == ("E711", 3)
    assert message.startswith("Encountered unknown tag 'endfi'")
    assert problems("{{ ticket.number ") == [
        ("E711", 1, "unexpected end of template, expected 'end of print statement'", None)
    ]


def test_unknown_filter_and_test_with_hints() -> None:
    assert problems("{{ ticket.title | uper }}\n{% if ticket.priority is od %}x{% endif %}") == [
        ("E711", 1, "unknown filter 'uper'", "did you mean 'upper'?"),
        ("E711", 2, "unknown test 'od'", "did you mean 'odd'?"),
    ]


@pytest.mark.parametrize(
    ("text", "tag"),
    [("{% include 'footer' %}", "include"), ("{% extends 'base' %}", "extends"), ("{% import 'm' as m %}", "import")],
)
def test_other_templates_cannot_be_loaded(text: str, tag: str) -> None:
    assert problems(text) == [("E711", 1, f"'{tag}' is not available in messages", "write the text here")]


def test_local_names_builtins_and_loops_are_known() -> None:
    text = (
        "{% set who = recipient.display_name or 'colleague' %}{{ who }}"
        "{% for n in range(2) %}{{ loop.index }}{{ n }}{% endfor %}"
        "{{ ticket.title | truncate(20) | default('-') }}{% if lang == 'zh' %}您好{% endif %}"
    )
    assert problems(text) == []


def test_check_does_not_fold_huge_constants() -> None:
    start = time.perf_counter()
    assert problems("{{ 9 ** 9 ** 9 }}{{ 'x' * 10 ** 10 }}") == []
    assert time.perf_counter() - start < 1.0


def test_problem_type() -> None:
    assert check_template("{{ nope }}")[0] == TemplateProblem(
        "E712", 1, "unknown variable 'nope'", "variables are: ticket, event, sla, recipient, lang"
    )


# --- rendering -----------------------------------------------------------------------------------

CONTEXT: dict[str, Any] = {
    "ticket": {
        "number": "GD-000042",
        "title": "Press 3 leaks oil",
        "state_label": "In repair",
        "assignee_name": None,
        "fields": {"device_no": "PR-0003", "items": "2 seals"},
    },
    "event": {"kind": "entered", "comment": "Parts ordered"},
    "recipient": {"username": "liwei", "display_name": "李伟"},
    "lang": "zh",
}


def test_render_in_both_languages() -> None:
    en = "Hello {{ recipient.display_name }}, {{ ticket.number }} is {{ ticket.state_label }}."
    zh = (
        "{{ recipient.display_name }}您好，工单 {{ ticket.number }}"
        "（设备 {{ ticket.fields.device_no }}）：{{ event.comment }}"
    )
    assert render_template(en, CONTEXT) == "Hello 李伟, GD-000042 is In repair."
    assert render_template(zh, CONTEXT) == "李伟您好，工单 GD-000042（设备 PR-0003）：Parts ordered"


def test_default_subject() -> None:
    assert render_template(DEFAULT_SUBJECT, CONTEXT) == "GD-000042 Press 3 leaks oil"


def test_empty_values_print_nothing() -> None:
    text = "[{{ ticket.assignee_name }}][{{ event.from_state }}][{{ ticket.fields.cost }}][{{ sla.due_at }}]"
    assert render_template(text, CONTEXT) == "[][][][]"
    assert render_template("{{ ticket.assignee_name or 'unassigned' }}", CONTEXT) == "unassigned"


def test_fields_print_their_values_not_methods() -> None:
    assert render_template("{{ ticket.fields.items }} / {{ ticket.fields['items'] }}", CONTEXT) == "2 seals / 2 seals"


def test_text_layout() -> None:
    text = "Hello\n{% if ticket.fields.device_no %}\nDevice {{ ticket.fields.device_no }}\n{% endif %}\nBye\n"
    assert render_template(text, CONTEXT) == "Hello\nDevice PR-0003\nBye"


def test_messages_are_not_html_escaped() -> None:
    ctx = {**CONTEXT, "ticket": {**CONTEXT["ticket"], "title": "<b>Tom & Jerry</b>"}}
    assert render_template("{{ ticket.title }}", ctx) == "<b>Tom & Jerry</b>"


LINE_1 = "line 1 of the template:"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ ticket.__class__ }}",
            "line 1 of the template: access to attribute '__class__' of 'Record' object is unsafe",
        ),
        (
            "ok\n{{ ticket.fields.__init__.__globals__ }}",
            "line 2 of the template: access to attribute '__init__' of 'Record' object is unsafe",
        ),
        ("{{ lang.__class__.__mro__ }}", f"{LINE_1} access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ ''.__class__ }}", f"{LINE_1} access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ range.__globals__ }}", f"{LINE_1} access to attribute '__globals__' of 'function' object is unsafe"),
    ],
)
def test_sandbox_refuses_internals(text: str, message: str) -> None:
    with pytest.raises(TemplateRenderError) as exc:
        render_template(text, CONTEXT)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("Hello\n{{ tiket.number }}", 2, "'tiket' is undefined"),
        ("{{ ticket.titel }}", 1, "'ticket' has no variable 'titel'"),
        ("a\nb\n{{ 1 / 0 }}", 3, "division by zero"),
        ("{{ 'ab' * 100000 }}", 1, "repeating makes more than 10000 items"),
        ("{{ 2 ** 1000 }}", 1, "exponent 1000 is larger than 64"),
        ("{% if %}", 1, "Expected an expression, got 'end of statement block'"),
    ],
)
def test_render_errors_are_clear(text: str, line: int, reason: str) -> None:
    with pytest.raises(TemplateRenderError) as exc:
        render_template(text, CONTEXT)
    assert (exc.value.line, exc.value.reason) == (line, reason)
    assert str(exc.value) == f"line {line} of the template: {reason}"


def test_sandbox_keeps_context_unchanged() -> None:
    ctx = {"ticket": {"number": "GD-1", "fields": {"tags": ["a"]}}}
    with pytest.raises(TemplateRenderError):
        render_template("{{ ticket.fields.tags.append('b') }}", ctx)
    assert ctx["ticket"]["fields"]["tags"] == ["a"]
