"""A small, stable definition set (tests/runtime/defs) and the people who work in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.runtime.model import Actor, TicketSnapshot
from engine.schema import Catalog, check_definitions
from tests.storage.conftest import anyio_backend, db, pg_database  # noqa: F401 - database fixtures, both engines

DEFS = Path(__file__).parent / "defs"

# username: (roles, teams, org unit)
CAST: dict[str, tuple[tuple[str, ...], tuple[str, ...], str | None]] = {
    "wang": (("worker",), (), "workshop_a"),
    "li": (("technician",), ("mechanical",), "factory"),
    "liu": (("technician",), ("mechanical",), "factory"),
    "zhao": (("technician",), ("electrical",), "factory"),
    "chen": (("maintenance_lead",), (), "factory"),
    "xu": (("store_staff",), (), "store_sh01"),
    "he": (("store_staff",), (), "store_gz01"),
    "ma": (("store_manager",), (), "store_sh01"),
    "zhou": (("region_manager",), (), "east"),
    "sun": (("region_manager",), (), "south"),
    "agent_a": (("agent",), ("service",), "hq"),
    "sup": (("supervisor",), ("service",), "hq"),
    "emp": (("employee",), (), "store_hz01"),
    "fin1": (("finance_approver",), ("finance",), "hq"),
    "fin2": (("finance_approver",), ("finance",), "hq"),
    "audit": (("auditor",), (), "hq"),
    "priv": (("privacy_officer",), (), "hq"),
    "nobody": ((), (), None),
}


@pytest.fixture(scope="session")
def world() -> Catalog:
    result = check_definitions(DEFS)
    assert result.catalog is not None, [d.render() for d in result.diagnostics]
    return result.catalog


@pytest.fixture(scope="session")
def people() -> dict[str, Actor]:
    return {
        name: Actor(id=i, username=name, roles=frozenset(roles), teams=frozenset(teams), org_unit=unit)
        for i, (name, (roles, teams, unit)) in enumerate(CAST.items(), start=1)
    }


_DEFAULTS: dict[str, dict[str, Any]] = {
    "equipment_repair": {"state": "reported", "priority": "high", "requester": "wang", "team": "mechanical",
                         "org_unit": "workshop_a",
                         "fields": {"device_no": "MO-0042", "device_type": "moulding", "stopped": False}},
    "store_request": {"state": "open", "priority": "normal", "requester": "xu", "team": "service",
                      "org_unit": "store_sh01", "fields": {"description": "Broken freezer"}},
    "expense_claim": {"state": "draft", "priority": "normal", "requester": "emp", "team": "finance",
                      "org_unit": "store_hz01", "fields": {"amount": 3000, "reason": "Trip"}},
    "purchase": {"state": "request", "priority": "normal", "requester": "emp", "team": None,
                 "org_unit": "store_hz01", "fields": {"amount": 500}},
}


@pytest.fixture(scope="session")
def ticket() -> Callable[..., TicketSnapshot]:
    """Build a ticket snapshot: ``ticket("equipment_repair", state="in_repair", assignee="li")``."""

    def make(type_name: str = "equipment_repair", **changes: Any) -> TicketSnapshot:
        values: dict[str, Any] = {"id": 1, "number": "T-1", "type": type_name, "title": "Something broke",
                                  "assignee": None, "definition_version": "v1", "row_version": 3}
        values.update(_DEFAULTS[type_name])
        values.update(changes)
        return TicketSnapshot(**values)

    return make
