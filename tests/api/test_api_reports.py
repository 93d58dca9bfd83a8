"""Reports through the API: the list a caller may see, one report as JSON or CSV, cut to the caller's scope.

Five store complaints, three days old (inside the shipped reports' last 30 days), with hand-set
clocks: Shanghai 2 (one in time, one open past both due times), Hangzhou 1 (closed after its
resolution due time), Guangzhou 2 (one resolved, one cancelled, both in time).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient

from engine.runtime import auth
from engine.runtime.auth.tokens import create_token
from engine.runtime.storage import NewTicket, insert_ticket
from engine.runtime.storage.tables import Ticket
from engine.schema import Catalog
from engine.web.app import create_app
from tests.api.conftest import Api, _people
from tests.storage.conftest import Backend

pytestmark = pytest.mark.anyio

SHANGHAI = ZoneInfo("Asia/Shanghai")

# username: (roles, org unit) of people the shared fixture does not have
MORE_PEOPLE = {"staff.gz": (["store_staff"], "store_gz01"), "mgr.south": (["region_manager"], "south"),
               "admin.root": (["admin"], "hq")}


async def seed_complaints() -> None:
    """The five complaints; clocks relative to now, so they sit inside the shipped reports' range."""
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    hour = timedelta(hours=1)
    users = {u: (await auth.actor_for_user(u)).id for u in ("staff.sh", "staff.hz", "staff.gz")}
    rows: list[tuple[str, str, str, str, dict[str, Any]]] = [
        # requester, store, state, category, clocks (offsets in hours from creation)
        ("staff.sh", "store_sh01", "archived", "closed",
         {"resolved": 2, "response_due": 1, "first_response": 0.5, "resolution_due": 24}),
        ("staff.sh", "store_sh01", "new", "open", {"response_due": 0.5, "resolution_due": 1}),
        ("staff.hz", "store_hz01", "archived", "closed",
         {"resolved": 48, "response_due": 1, "first_response": 0.25, "resolution_due": 24}),
        ("staff.gz", "store_gz01", "resolved", "resolved",
         {"resolved": 5, "response_due": 1, "first_response": 0.5, "resolution_due": 24}),
        ("staff.gz", "store_gz01", "cancelled", "cancelled",
         {"resolved": 1, "response_due": 1, "first_response": 0.5, "resolution_due": 24}),
    ]

    def at(clocks: dict[str, Any], key: str) -> datetime | None:
        return created + clocks[key] * hour if key in clocks else None

    for requester, store, state, category, clocks in rows:
        ticket = await insert_ticket(NewTicket(
            type="store_complaint", title="顾客投诉", state=state, state_category=category, priority="normal",
            requester_id=users[requester], definition_version="v1", org_unit=store, created_at=created,
            fields={"store": store, "complaint_category": "service", "description": "排队太久"},
            response_due_at=at(clocks, "response_due"), resolution_due_at=at(clocks, "resolution_due")))
        await Ticket.update({Ticket.resolved_at: at(clocks, "resolved"),
                             Ticket.first_response_at: at(clocks, "first_response")}).where(
            Ticket.id == ticket.id).run()


async def seed(catalog: Catalog) -> dict[str, str]:
    """The shared people, a few more, and the complaints; returns API tokens by username."""
    tokens = await _people(catalog)
    for name, (roles, unit) in MORE_PEOPLE.items():
        await auth.create_user(name, None, roles=roles, org_unit=unit)
        tokens[name] = await create_token(name, "tests")
    await seed_complaints()
    return tokens


@pytest.fixture
async def reports_api(db: Backend, catalog: Catalog) -> AsyncIterator[Api]:
    tokens = await seed(catalog)
    app = create_app(catalog, db.url)
    async with AsyncTestClient(app=app) as client:
        yield Api(client, tokens)


def _figures(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(*r["keys"].values(), *r["values"].values()) for r in body["rows"]]


async def test_the_list_holds_the_reports_of_the_callers_roles(reports_api: Api) -> None:
    region = await reports_api.get("mgr.east", "/api/v1/reports")
    assert region.status_code == 200
    assert [r["id"] for r in region.json()] == ["store_overdue_by_region", "store_overdue_by_store"]
    first = region.json()[0]
    assert first == {
        "id": "store_overdue_by_region",
        "label": {"en": "Store complaints overdue by region", "zh": "各大区门店客诉超时率"},
        "description": first["description"],
        "types": ["store_complaint"],
        "range": "last_30_days",
        "time_field": "created",
        "dimensions": ["org_unit"],
        "measures": ["created", "overdue", "overdue_rate", "sla_compliance", "response_sla_compliance"],
        "chart": "bar",
        "url": "/api/v1/reports/store_overdue_by_region",
    }
    tech = await reports_api.get("li.mech", "/api/v1/reports")
    assert [r["id"] for r in tech.json()] == ["repairs_by_area", "repairs_by_model"]
    assert (await reports_api.get("emp.ops", "/api/v1/reports")).json() == []
    everything = await reports_api.get("admin.root", "/api/v1/reports")
    assert len(everything.json()) == 6  # admins see every report


async def test_figures_follow_the_callers_row_scope(reports_api: Api) -> None:
    path = "/api/v1/reports/store_overdue_by_region"
    # created, overdue, overdue_rate, sla_compliance, response_sla_compliance
    hq = (await reports_api.get("hq.ops", path)).json()
    assert _figures(hq) == [("east", 3, 2, 66.67, 33.33, 66.67), ("south", 2, 0, 0.0, 100.0, 100.0)]
    east = (await reports_api.get("mgr.east", path)).json()
    assert _figures(east) == [("east", 3, 2, 66.67, 33.33, 66.67)]
    south = (await reports_api.get("mgr.south", path)).json()
    assert _figures(south) == [("south", 2, 0, 0.0, 100.0, 100.0)]
    store = (await reports_api.get("mgr.sh", "/api/v1/reports/store_overdue_by_store")).json()
    # created, overdue, overdue_rate, backlog
    assert _figures(store) == [("store_sh01", 2, 1, 50.0, 1)]
    by_store = (await reports_api.get("mgr.east", "/api/v1/reports/store_overdue_by_store")).json()
    assert _figures(by_store) == [("store_sh01", 2, 1, 50.0, 1), ("store_hz01", 1, 1, 100.0, 0)]


async def test_json_names_its_range_dimensions_measures_and_labels(reports_api: Api) -> None:
    r = await reports_api.get("mgr.east", "/api/v1/reports/store_overdue_by_store?lang=zh")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    assert body["range"] == {"name": "last_30_days", "label": f"近 30 天 ({today - timedelta(days=29)} – {today})",
                             "from": str(today - timedelta(days=29)), "to": str(today), "time_field": "created",
                             "timezone": "Asia/Shanghai"}
    assert body["dimensions"] == [{"id": "org_unit", "label": "门店"}]
    assert body["measures"] == [
        {"id": "created", "label": "新建工单", "unit": "count"},
        {"id": "overdue", "label": "超时工单", "unit": "count"},
        {"id": "overdue_rate", "label": "超时率", "unit": "percent"},
        {"id": "backlog", "label": "未结工单", "unit": "count"},
    ]
    assert body["rows"][0] == {"keys": {"org_unit": "store_sh01"}, "labels": {"org_unit": "上海南京路店"},
                               "values": {"created": 2, "overdue": 1, "overdue_rate": 50.0, "backlog": 1}}
    assert body["chart"] == {"type": "bar", "measure": "overdue_rate", "target": 5.0}


async def test_csv_is_utf8_with_a_byte_order_mark_for_excel(reports_api: Api) -> None:
    r = await reports_api.get("hq.ops", "/api/v1/reports/store_overdue_by_store?format=csv&lang=zh")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    assert r.headers["content-disposition"] == (
        f'attachment; filename="store_overdue_by_store_{today - timedelta(days=29)}_{today}.csv"')
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content[3:].decode("utf-8"))))
    assert rows == [
        ["门店", "新建工单", "超时工单", "超时率 (%)", "未结工单"],
        ["上海南京路店", "2", "1", "50.00", "1"],
        ["杭州西湖店", "1", "1", "100.00", "0"],
        ["广州天河店", "2", "0", "0.00", "0"],
    ]
    english = await reports_api.get("hq.ops", "/api/v1/reports/store_overdue_by_region?format=csv&lang=en")
    assert english.content.decode("utf-8-sig").splitlines() == [
        "Region,Tickets created,Overdue tickets,Overdue rate (%),SLA compliance (%),First response SLA compliance (%)",
        "East region,3,2,66.67,33.33,66.67",
        "South region,2,0,0.00,100.00,100.00",
    ]


async def test_a_range_can_be_chosen(reports_api: Api) -> None:
    path = "/api/v1/reports/store_overdue_by_region"
    today = (await reports_api.get("hq.ops", f"{path}?range=today")).json()
    assert today["range"]["name"] == "today" and today["rows"] == []  # the complaints are three days old
    week = (await reports_api.get("hq.ops", f"{path}?range=last_7_days")).json()
    assert [r["values"]["created"] for r in week["rows"]] == [3, 2]
    old = (await reports_api.get("hq.ops", f"{path}?from=2020-01-01&to=2020-12-31")).json()
    assert old["range"]["name"] == "custom" and old["range"]["from"] == "2020-01-01" and old["rows"] == []


async def test_bad_requests_are_4xx_with_the_field_named(reports_api: Api) -> None:
    path = "/api/v1/reports/store_overdue_by_region"
    for query, field, message in [
        ("format=xlsx", "format", "must be json or csv"),
        ("range=last_year", "range", "must be one of: today, yesterday, last_7_days, last_30_days, last_90_days, "
                                     "this_week, last_week, this_month, last_month, this_quarter, last_quarter, "
                                     "this_year, all"),
        ("from=2026-13-01&to=2026-12-31", "from", "must be a date written YYYY-MM-DD"),
        ("from=2026-02-01", "to", "must be a date written YYYY-MM-DD"),
        ("from=2026-03-01&to=2026-02-01", "to", "must not be before from"),
    ]:
        r = await reports_api.get("hq.ops", f"{path}?{query}")
        assert r.status_code == 422, query
        assert r.json()["errors"] == [{"field": field, "message": message}], query
    daily = await reports_api.get("admin.root", "/api/v1/reports/after_sales_daily?range=all")
    assert daily.status_code == 422
    assert daily.json()["errors"] == [
        {"field": "range", "message": "must be bounded for a report grouped by day, week or month"}]
    long = await reports_api.get("admin.root", "/api/v1/reports/after_sales_daily?from=2020-01-01&to=2026-01-01")
    assert long.status_code == 422
    assert long.json()["errors"] == [
        {"field": "range", "message": "gives more than 1000 days; choose a shorter range or a coarser time dimension"}]


async def test_reports_not_shared_with_the_caller_do_not_exist(reports_api: Api) -> None:
    hidden = await reports_api.get("wang.worker", "/api/v1/reports/store_overdue_by_region")
    unknown = await reports_api.get("wang.worker", "/api/v1/reports/no_such_report")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"] == "report store_overdue_by_region not found"
    anonymous = await reports_api.client.get("/api/v1/reports")
    assert anonymous.status_code == 401
