"""Conditions as SQL mean what they mean in Python: the database keeps exactly the tickets ``evaluate`` keeps.

Every condition below runs both ways over the same tickets — in SQL on the engine under test and
through :func:`engine.schema.conditions.evaluate` on the stored values — including missing values,
values of the wrong JSON type, empty strings and lists, and negations of all of them.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.runtime import auth
from engine.runtime.storage import NewTicket, insert_ticket
from engine.runtime.storage.conditions import condition_sql
from engine.runtime.storage.database import is_postgres
from engine.runtime.storage.sql import fetch_rows
from engine.schema.conditions import FieldFacts, evaluate, parse_condition

from .conftest import Backend

pytestmark = pytest.mark.anyio

FACTS = {
    "type": FieldFacts("select", ("complaint", "note")),
    "state": FieldFacts("select", ("open", "done")),
    "priority": FieldFacts("select", ("low", "normal", "high", "urgent")),
    "team": FieldFacts("team", ("service", "repair")),
    "org_unit": FieldFacts("org_unit", ("east", "south")),
    "category": FieldFacts("select", ("price", "service", "quality")),
    "model": FieldFacts("text"),
    "tags": FieldFacts("multiselect", ("urgent", "vip")),
    "reviewed": FieldFacts("boolean", (True, False)),
    "amount": FieldFacts("money"),
    "visits": FieldFacts("integer"),
    "opened_on": FieldFacts("date"),
}

FIELD_VALUES: list[dict[str, Any]] = [
    {"category": "price", "model": "X1", "tags": ["urgent", "vip"], "reviewed": True, "amount": 100,
     "visits": 3, "opened_on": "2026-03-01"},
    {"category": "service", "model": "", "tags": [], "reviewed": False, "amount": 20.5, "visits": 0,
     "opened_on": "2026-02-28"},
    {"category": "quality", "tags": ["vip"], "amount": 0},
    {},
    {"model": "Y2", "tags": "urgent", "reviewed": "true", "amount": "100", "visits": 2.5},  # wrong JSON types
    {"category": None, "model": None, "tags": None, "reviewed": None, "amount": None},
    {"category": "price", "model": "x1", "tags": ["urgent"], "visits": -1, "opened_on": "2026-03-10"},
]
COLUMNS = [("complaint", "open", "normal", "service", "east"), ("note", "done", "high", None, "south"),
           ("complaint", "done", "urgent", "repair", None)]

CONDITIONS: list[dict[str, Any]] = [
    {"category": "price"},
    {"category": ["price", "service"]},
    {"category": {"ne": "price"}},
    {"category": {"not_in": ["price", "quality"]}},
    {"category": {"empty": True}},
    {"category": {"empty": False}},
    {"model": "X1"},
    {"model": {"empty": True}},
    {"model": {"ne": "X1"}},
    {"tags": {"contains": "urgent"}},
    {"tags": {"contains": "vip"}},
    {"tags": {"empty": True}},
    {"not": {"tags": {"contains": "urgent"}}},
    {"reviewed": True},
    {"reviewed": False},
    {"reviewed": {"ne": True}},
    {"reviewed": [True]},
    {"amount": {"gt": 0}},
    {"amount": {"ge": 20.5}},
    {"amount": {"lt": 100}},
    {"amount": 100},
    {"amount": {"le": 0}},
    {"visits": {"gt": 0}},
    {"visits": {"in": [0, 3]}},
    {"opened_on": {"ge": "2026-03-01"}},
    {"opened_on": {"lt": "2026-03-01"}},
    {"type": "note"},
    {"state": {"ne": "done"}},
    {"priority": ["high", "urgent"]},
    {"team": {"empty": True}},
    {"org_unit": {"not_in": ["east"]}},
    {"all": [{"category": "price"}, {"not": {"reviewed": True}}]},
    {"any": [{"amount": {"gt": 50}}, {"tags": {"contains": "vip"}}, {"model": {"empty": True}}]},
    {"not": {"any": [{"category": "price"}, {"visits": {"le": 0}}]}},
    {"category": "price", "priority": "normal"},
]


async def _tickets() -> list[dict[str, Any]]:
    user = await auth.create_user("alice", None)
    values = []
    for i, fields in enumerate(FIELD_VALUES * len(COLUMNS)):
        type_, state, priority, team, unit = COLUMNS[i // len(FIELD_VALUES)]
        ticket = await insert_ticket(NewTicket(
            type=type_, title=f"t{i}", state=state, state_category="open", priority=priority,
            requester_id=user.id, definition_version="v1", fields=fields, team=team, org_unit=unit))
        values.append({"id": ticket.id, **fields, "type": type_, "state": state, "priority": priority,
                       "team": team, "org_unit": unit})
    return values


@pytest.mark.parametrize("raw", CONDITIONS, ids=[str(c) for c in CONDITIONS])
async def test_sql_keeps_what_evaluate_keeps(db: Backend, raw: dict[str, Any]) -> None:
    tickets = await _tickets()
    cond, problems = parse_condition(raw)
    assert not problems
    sql, args = condition_sql(cond, FACTS, is_postgres())
    rows = await fetch_rows(f"SELECT tickets.id FROM tickets WHERE {sql} ORDER BY tickets.id", *args)
    expected = [t["id"] for t in tickets if evaluate(cond, {k: v for k, v in t.items() if v is not None})]
    assert [r[0] for r in rows] == expected
    assert 0 < len(expected) < len(tickets), "each condition keeps some tickets and drops others"
