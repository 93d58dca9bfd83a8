"""The baseline for bench/load.py: a bare litestar app on the same server stack, no database.

    uvicorn bench.bare_app:app --host 127.0.0.1 --port 8766 --log-level warning --no-access-log

``POST /api/v1/tickets`` decodes the same JSON body as the real endpoint (a msgspec struct) and
answers 201 with a ticket-sized JSON object; ``GET /api/v1/tickets`` answers a fixed page of 50
such objects. What Gongdan's own endpoints achieve is reported as a share of these rates: the
difference is what the application (auth, rules, database) costs per request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post


class CreateTicket(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    title: str = ""
    fields: dict[str, Any] = {}
    priority: str | None = None
    org_unit: str | None = None


_COUNTER = {"n": 0}


def _ticket(n: int, data: CreateTicket | None, token: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": n, "number": f"GD-{n:06d}", "type": data.type if data else "store_complaint",
        "title": data.title if data else "收银时被重复扣款", "state": "new", "state_category": "open",
        "priority": (data.priority if data else None) or "normal", "requester": token[:12], "assignee": None,
        "team": None, "org_unit": data.org_unit if data else "store_sh01",
        "fields": data.fields if data else {}, "created_at": now, "updated_at": now, "resolved_at": None,
        "first_response_at": None, "response_due_at": None, "resolution_due_at": None,
        "definition_version": "0" * 64, "row_version": 1, "transitions": ["start", "cancel"],
    }


@post("/api/v1/tickets", status_code=201)
async def create(request: Request[Any, Any, Any], data: CreateTicket) -> Response[dict[str, Any]]:
    _COUNTER["n"] += 1
    n = _COUNTER["n"]
    body = _ticket(n, data, request.headers.get("authorization", ""))
    return Response(body, status_code=201, headers={"Location": f"/api/v1/tickets/{n}"})


@get("/api/v1/tickets")
async def list_tickets(request: Request[Any, Any, Any], limit: int = 50) -> dict[str, Any]:
    token = request.headers.get("authorization", "")
    return {"items": [_ticket(i, None, token) for i in range(1, min(limit, 200) + 1)], "next_cursor": "x"}


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[create, list_tickets, healthz])
