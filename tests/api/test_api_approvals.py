"""The expense claim needs the manager's approval, and finance's too above 5,000 — through HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_api_attachments import png

pytestmark = pytest.mark.anyio


async def submit_claim(api: Api, amount: float) -> dict[str, Any]:
    up = await api.client.post(
        "/api/v1/attachments",
        files={"file": ("receipt.png", png(), "image/png")},
        data={"type": "expense_claim", "field": "receipts"},
        headers=api._h("emp.ops"),
    )
    assert up.status_code == 201, up.text
    fields = {
        "expense_category": "travel",
        "amount": amount,
        "expense_date": "2026-11-20",
        "reason": "上海客户拜访差旅",
        "receipts": [up.json()["id"]],
        "bank_account": "6222020200112233445",
    }
    r = await api.post("emp.ops", "/api/v1/tickets", {"type": "expense_claim", "title": "差旅报销", "fields": fields})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = await api.post("emp.ops", f"/api/v1/tickets/{tid}/transitions/submit", {"comment": "请审批"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approval"
    return dict(r.json())


async def decide(api: Api, user: str, tid: int, decision: str) -> Any:
    return await api.post(user, f"/api/v1/tickets/{tid}/approvals", {"decision": decision, "comment": "ok"})


async def test_large_claim_needs_manager_then_finance(api: Api) -> None:
    t = await submit_claim(api, 8200.0)
    tid = t["id"]
    pending = (await api.get("emp.ops", f"/api/v1/tickets/{tid}/approvals")).json()
    assert [(a["level_id"], a["approver"], a["decision"]) for a in pending] == [("manager", "mgr.ops", "pending")]
    # finance may not decide before the manager, nor may the requester approve their own claim
    assert (await decide(api, "fin.zheng", tid, "approve")).status_code in (403, 404, 409)
    assert (await decide(api, "emp.ops", tid, "approve")).status_code in (403, 409)
    r = await decide(api, "mgr.ops", tid, "approve")
    assert r.status_code == 200 and r.json()["state"] == "approval", r.text
    levels = [
        (a["level_id"], a["decision"]) for a in (await api.get("emp.ops", f"/api/v1/tickets/{tid}/approvals")).json()
    ]
    assert levels == [("manager", "approved"), ("finance", "pending")]
    r = await decide(api, "fin.zheng", tid, "approve")
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    # the bank account is masked for the manager and shown to finance
    assert (await api.get("mgr.ops", f"/api/v1/tickets/{tid}")).json()["fields"]["bank_account"].count("*") > 0
    assert (await api.get("fin.zheng", f"/api/v1/tickets/{tid}")).json()["fields"][
        "bank_account"
    ] == "6222020200112233445"
    kinds = [e["kind"] for e in (await api.get("emp.ops", f"/api/v1/tickets/{tid}/events")).json()]
    assert kinds.count("approval_decided") == 2 and "approval_finished" in kinds


async def test_small_claim_needs_only_the_manager(api: Api) -> None:
    t = await submit_claim(api, 320.0)
    r = await decide(api, "mgr.ops", t["id"], "approve")
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text


async def test_manager_rejection_sends_the_claim_back_to_draft(api: Api) -> None:
    t = await submit_claim(api, 8200.0)
    r = await decide(api, "mgr.ops", t["id"], "reject")
    assert r.status_code == 200 and r.json()["state"] == "draft", r.text
    assert "submit" in (await api.get("emp.ops", f"/api/v1/tickets/{t['id']}")).json()["transitions"]


async def test_nobody_approves_their_own_claim(api: Api) -> None:
    up = await api.client.post(
        "/api/v1/attachments",
        files={"file": ("receipt.png", png(), "image/png")},
        data={"type": "expense_claim", "field": "receipts"},
        headers=api._h("mgr.ops"),
    )
    assert up.status_code == 201, up.text
    fields = {
        "expense_category": "travel",
        "amount": 100.0,
        "expense_date": "2026-11-20",
        "reason": "出差",
        "receipts": [up.json()["id"]],
        "bank_account": "6222020200112233445",
    }
    r = await api.post("mgr.ops", "/api/v1/tickets", {"type": "expense_claim", "title": "经理报销", "fields": fields})
    assert r.status_code == 201, r.text
    r = await api.post("mgr.ops", f"/api/v1/tickets/{r.json()['id']}/transitions/submit", {"comment": "请审批"})
    assert r.status_code == 409 and "cannot approve their own request" in r.json()["detail"]
