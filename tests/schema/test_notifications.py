"""Notification and Channel definitions in the Catalog: compiled rules, lookup by event, shipped set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.schema import Catalog, CompiledRule, check_definitions
from engine.schema.compiler import catalog_from_snapshot
from engine.schema.conditions import evaluate
from engine.schema.kinds.channel import ChannelSpec, channel_env_name
from engine.schema.message_templates import DEFAULT_SUBJECT, VARIABLES, render_template
from engine.schema.model import label_text

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def build(root: Path) -> Path:
    """The small base set plus the valid notification set, and a second ticket type on the same flow."""
    shutil.copytree(FIXTURES / "_base", root, dirs_exist_ok=True)
    shutil.copytree(FIXTURES / "_notify", root, dirs_exist_ok=True)
    (root / "README.md").unlink()
    form = (root / "forms" / "repair.yaml").read_text(encoding="utf-8")
    (root / "forms" / "facility.yaml").write_text(
        form.replace("name: repair", "name: facility").replace("  sla: standard\n", ""), encoding="utf-8"
    )
    return root


def compile_dir(root: Path) -> Catalog:
    result = check_definitions(root, display_base=root)
    assert [d.render() for d in result.diagnostics] == []
    assert result.catalog is not None
    return result.catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return compile_dir(build(tmp_path / "defs"))


def ids(rules: tuple[CompiledRule, ...]) -> list[str]:
    return [f"{r.document}.{r.rule.id}" for r in rules]


def test_channels_and_rules_are_compiled(catalog: Catalog) -> None:
    assert dict(catalog.channels) == {"ops_chat": ChannelSpec(label=catalog.channels["ops_chat"].label, format="wecom")}
    assert ids(catalog.notifications) == [
        "everyone.done",
        "repair.received",
        "repair.urgent_work",
        "repair.moves",
        "repair.overdue",
    ]
    done, received, urgent, moves, _overdue = catalog.notifications
    assert done.types == frozenset() and received.types == frozenset({"repair"})
    assert received.when is None and urgent.when is not None
    assert urgent.rule.channels == ("email", "in_app", "ops_chat")
    assert moves.rule.channels == ("in_app",)
    assert done.rule.channels == ("in_app", "email")  # the default
    assert received.rule.exclude_actor is False and urgent.rule.exclude_actor is True
    assert catalog.summary()["channels"] == 1
    assert catalog.summary()["notification rules"] == 5


@pytest.mark.parametrize(
    ("event", "ticket_type", "to_state", "expected"),
    [
        ("created", "repair", None, ["repair.received"]),
        ("created", "facility", None, []),
        ("entered", "repair", "in_repair", ["repair.urgent_work"]),
        ("entered", "repair", "done", ["everyone.done"]),
        ("entered", "facility", "done", ["everyone.done"]),
        ("entered", "facility", "in_repair", []),
        ("entered", "repair", "reported", []),
        ("entered", "repair", None, []),
        ("transitioned", "repair", "done", ["repair.moves"]),
        ("transitioned", "repair", None, ["repair.moves"]),
        ("transitioned", "facility", "done", []),
        ("commented", "repair", None, ["repair.urgent_work"]),
        ("commented", "repair", "done", ["repair.urgent_work"]),  # the state matters only for state changes
        ("sla_breached", "repair", None, ["repair.overdue"]),
        ("sla_warning", "repair", None, []),
        ("created", "no_such_type", None, []),
        ("exploded", "repair", None, []),
    ],
)
def test_rules_for(catalog: Catalog, event: str, ticket_type: str, to_state: str | None, expected: list[str]) -> None:
    assert ids(catalog.rules_for(event, ticket_type, to_state)) == expected


def test_when_is_left_to_the_caller(catalog: Catalog) -> None:
    [urgent] = catalog.rules_for("commented", "repair")
    assert urgent.when is not None
    assert evaluate(urgent.when, {"priority": "urgent", "state": "in_repair"}) is True
    assert evaluate(urgent.when, {"priority": "low", "state": "in_repair"}) is False


def test_stored_version_keeps_its_rules(catalog: Catalog) -> None:
    again = catalog_from_snapshot(catalog.snapshot)
    assert again.version == catalog.version
    assert again.notifications == catalog.notifications
    assert dict(again.channels) == dict(catalog.channels)
    assert ids(again.rules_for("entered", "facility", "done")) == ["everyone.done"]


def test_channel_configuration_names() -> None:
    assert channel_env_name("after_sales_wecom") == "GONGDAN_CHANNEL_AFTER_SALES_WECOM"
    assert channel_env_name("ops-chat") == "GONGDAN_CHANNEL_OPS_CHAT"


def test_sla_actions_name_their_channels(tmp_path: Path) -> None:
    root = build(tmp_path / "defs")
    sla = root / "sla" / "standard.yaml"
    text = sla.read_text(encoding="utf-8")
    text = text.replace(
        "        - notify: [{role: lead, org: nearest}]\n",
        "        - notify: [{role: lead, org: nearest}]\n          channels: [in_app, ops_chat]\n"
        "        - channels: [ops_chat]\n",
    )
    sla.write_text(text, encoding="utf-8")
    respond = compile_dir(root).slas["standard"].targets[0]
    assert [a.channels for a in respond.on_breach] == [("in_app", "ops_chat"), ("ops_chat",)]
    assert compile_dir(build(tmp_path / "plain")).slas["standard"].targets[0].on_breach[0].channels == (
        "in_app",
        "email",
    )


def test_check_reports_every_notification_problem_at_once(tmp_path: Path) -> None:
    root = build(tmp_path / "defs")
    (root / "notifications" / "broken.yaml").write_text(
        "apiVersion: gongdan/v1\n"
        "kind: Notification\n"
        "metadata: {name: broken}\n"
        "spec:\n"
        "  types: [repair]\n"
        "  rules:\n"
        "    - id: late\n"
        "      on: [entered, sla_warning]\n"
        "      to: [{relation: asignee}, {address: nobody}]\n"
        "      channels: [email, pager]\n"
        "      when: {device_type: toaster}\n"
        "      subject: {en: '{{ ticket.nuber }}', zh: '{{ sla.due_at }}'}\n"
        "      body: '{{ ticket.fields.device }} {% if %}'\n",
        encoding="utf-8",
    )
    result = check_definitions(root, display_base=root)
    assert result.catalog is None
    assert [d.render() for d in result.diagnostics] == [
        "notifications/broken.yaml:8:12: E703 rule 'late' fires on entered but names no states; "
        "list the states under 'states', or use transitioned for every state change",
        "notifications/broken.yaml:9:23: E704 rule 'late' names unknown relation 'asignee'; did you mean 'assignee'?",
        "notifications/broken.yaml:9:43: E706 'nobody' is not an e-mail address; "
        "write one address such as ops@example.com",
        "notifications/broken.yaml:10:25: E707 rule 'late' uses unknown channel 'pager'; "
        "channels are: email, in_app, ops_chat",
        "notifications/broken.yaml:11:27: E204 'toaster' is not an option of 'device_type'; "
        "options are: mechanical, electrical",
        "notifications/broken.yaml:12:21: E712 rule 'late' subject.en, template line 1: "
        "'ticket' has no variable 'nuber'; did you mean 'ticket.number'?",
        "notifications/broken.yaml:12:47: E713 rule 'late' subject.zh, template line 1: 'sla' is set only for "
        "sla_warning and sla_breached, but this rule also fires on entered; move the SLA message to a rule of its own",
        "notifications/broken.yaml:13:13: E711 rule 'late' body, template line 1: "
        "Expected an expression, got 'end of statement block'",
    ]


# --- the shipped definitions ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    result = check_definitions(ROOT / "definitions", display_base=ROOT)
    assert [d.render() for d in result.diagnostics] == []
    assert result.catalog is not None
    return result.catalog


def test_shipped_channels(shipped: Catalog) -> None:
    assert {name: c.format for name, c in shipped.channels.items()} == {
        "after_sales_wecom": "wecom",
        "maintenance_dingtalk": "dingtalk",
    }


def test_shipped_rules_cover_the_scenarios(shipped: Catalog) -> None:
    assert ids(shipped.rules_for("created", "after_sales")) == ["after_sales.received"]
    assert ids(shipped.rules_for("assigned", "after_sales")) == ["after_sales.assigned"]
    assert ids(shipped.rules_for("entered", "after_sales", "waiting_customer")) == ["after_sales.waiting"]
    assert ids(shipped.rules_for("entered", "after_sales", "resolved")) == ["after_sales.resolved"]
    assert ids(shipped.rules_for("sla_warning", "after_sales")) == ["after_sales.sla_warning"]
    assert ids(shipped.rules_for("sla_breached", "after_sales")) == ["after_sales.sla_breached"]
    assert ids(shipped.rules_for("created", "equipment_repair")) == ["repair.new_fault", "repair.line_stopped"]
    assert ids(shipped.rules_for("entered", "equipment_repair", "accepted")) == ["repair.accepted"]
    assert ids(shipped.rules_for("entered", "equipment_repair", "done")) == ["repair.completed"]
    assert ids(shipped.rules_for("sla_breached", "equipment_repair")) == ["repair.sla_breached"]
    assert ids(shipped.rules_for("entered", "store_complaint", "region_review")) == ["store_complaint.region_review"]
    assert ids(shipped.rules_for("entered", "store_complaint", "resolved")) == ["store_complaint.to_headquarters"]
    for t in ("expense_claim", "leave_request", "material_request"):
        assert ids(shipped.rules_for("approval_requested", t)) == ["approvals.approval_requested"]
        assert ids(shipped.rules_for("entered", t, "rejected")) == ["approvals.decided"]
    assert shipped.rules_for("created", "it_helpdesk") == ()
    [new_fault] = [r for r in shipped.notifications if r.rule.id == "new_fault"]
    assert new_fault.rule.channels == ("in_app", "maintenance_dingtalk")


def _sample_context(lang: str) -> dict[str, object]:
    """Every documented variable with a value, as the runtime fills them."""
    values: dict[str, object] = {}
    for name, var in VARIABLES.items():
        values[name] = {attr: f"<{name}.{attr}>" for attr in var.attributes} if var.attributes else lang
    ticket = values["ticket"]
    assert isinstance(ticket, dict)
    ticket["fields"] = {"order_no": "20260315000123", "device_no": "MO-0042", "stopped": True}
    return values


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_shipped_message_renders(shipped: Catalog, lang: str) -> None:
    context = _sample_context(lang)
    for r in shipped.notifications:
        subject = label_text(r.rule.subject, lang, DEFAULT_SUBJECT) if r.rule.subject else DEFAULT_SUBJECT
        assert render_template(subject, context).strip()
        body = render_template(label_text(r.rule.body, lang), context)
        assert "<ticket." in body, f"{r.document}.{r.rule.id} ({lang}) says nothing about the ticket: {body}"
        # both languages are written out, not left to the fallback
        assert not isinstance(r.rule.body, str) and r.rule.body.en and r.rule.body.zh


def test_a_shipped_message_in_both_languages(shipped: Catalog) -> None:
    [rule] = [r.rule for r in shipped.notifications if r.rule.id == "completed"]
    context = {
        "ticket": {"url": "https://gongdan.example.com/t/42", "fields": {"device_no": "MO-0042"}},
        "recipient": {"display_name": "Li Lei"},
    }
    assert render_template(label_text(rule.body, "en"), context) == (
        "MO-0042 is repaired. Please check it and confirm, or reopen the ticket if it still fails: "
        "https://gongdan.example.com/t/42"
    )
    assert render_template(label_text(rule.body, "zh"), context) == (
        "设备 MO-0042 已修复，请检查后确认；如仍有故障请重新打开工单：https://gongdan.example.com/t/42"
    )
