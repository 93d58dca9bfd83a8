"""The generated pages over HTTP: the same services and permission checks as the API, as HTML."""

from __future__ import annotations

import re

import pytest

from tests.api.test_api_attachments import png
from tests.web.conftest import CSRF, Pages

pytestmark = pytest.mark.anyio

REPAIR = {"f.device_no": "MO-0042", "f.device_type": "moulding", "f.area": "workshop_a"}
REPAIR_FIELDS = [("_fields", f) for f in ("device_no", "device_type", "area", "production_stopped", "fault_photos")]


def repair_form(**values: str) -> list[tuple[str, str]]:
    data = {"title": "3号注塑机漏油", **REPAIR, **{f"f.{k}": v for k, v in values.items()}}
    return [*data.items(), *REPAIR_FIELDS, *(("_fields", k) for k in values)]


async def raise_repair(pages: Pages, **values: str) -> int:
    r = await pages.post("wang.worker", "/tickets/new/equipment_repair", repair_form(**values))
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/tickets/(\d+)\?created=1", r.headers["location"])
    assert match, r.headers["location"]
    return int(match.group(1))


async def test_pages_need_a_session_and_send_security_headers(pages: Pages) -> None:
    r = await pages.get(None, "/tickets?type=equipment_repair")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/tickets%3Ftype%3Dequipment_repair"
    login = await pages.get(None, "/login")
    assert login.status_code == 200 and 'name="username"' in login.text and 'name="password"' in login.text
    csp = login.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp
    assert login.headers["x-frame-options"] == "DENY" and login.headers["x-content-type-options"] == "nosniff"
    home = await pages.get("wang.worker", "/")
    assert home.status_code == 200 and "My requests" in home.text
    assert home.headers["content-security-policy"] == csp and home.headers["cache-control"] == "no-store"
    assert "http://" not in home.text.replace("http://www.w3.org", "") and "https://" not in home.text


async def test_sign_in_with_the_form_rotates_the_session(pages: Pages) -> None:
    form = await pages.get(None, "/login?next=/tickets")
    token = CSRF.search(form.text)
    assert token is not None
    pages.use({"gongdan_login": form.cookies["gongdan_login"]})
    bad = await pages.client.post("/login", data={"username": "wang.worker", "password": "nope", "_csrf": token[1],
                                                  "next": "/tickets"})
    assert bad.status_code == 401 and "Wrong username or password" in bad.text and "gongdan_session" not in bad.cookies
    pages.use({"gongdan_login": form.cookies["gongdan_login"]})
    forged = await pages.client.post("/login", data={"username": "wang.worker", "password": "worker-pass-1",
                                                     "_csrf": "forged"})
    assert forged.status_code == 400 and "gongdan_session" not in forged.cookies
    pages.use({"gongdan_login": form.cookies["gongdan_login"]})
    ok = await pages.client.post("/login", data={"username": "wang.worker", "password": "worker-pass-1",
                                                 "_csrf": token[1], "next": "https://evil.example/"},
                                 follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # never off-site
    set_cookie = ok.headers["set-cookie"]
    assert "gongdan_session=" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie


async def test_create_shows_errors_next_to_fields_and_keeps_what_was_typed(pages: Pages) -> None:
    data = repair_form(device_no="not a number")
    data = [(k, v) for k, v in data if k != "f.area"]
    r = await pages.post("wang.worker", "/tickets/new/equipment_repair", data)
    assert r.status_code == 422
    html = r.text
    assert 'value="not a number"' in html and "3号注塑机漏油" in html  # nothing typed is lost
    area = html[html.index('id="w-area"'):]
    assert "is required" in area[: area.index("</div>")]
    device = html[html.index('id="w-device_no"'):]
    assert 'class="error"' in device[: device.index("</div>")]
    listed = (await pages.api.get("wang.worker", "/api/v1/tickets")).json()["items"]
    assert listed == []  # a rejected form writes nothing


async def test_create_with_a_photo_then_walk_the_repair_with_required_fields(pages: Pages) -> None:
    files = [("file.fault_photos", ("leak.png", png(2, 2), "image/png"))]
    r = await pages.post("wang.worker", "/tickets/new/equipment_repair", repair_form(), files=files)
    assert r.status_code == 303, r.text
    tid = int(r.headers["location"].split("/")[2].split("?")[0])
    page = await pages.get("wang.worker", f"/tickets/{tid}?created=1")
    assert page.status_code == 200 and "Ticket raised." in page.text
    assert re.search(r'<img class="thumb" src="/api/v1/attachments/\d+" alt="leak.png"', page.text)
    assert 'data-transition="accept"' not in page.text  # the requester may not accept

    tech = await pages.get("li.mech", f"/tickets/{tid}")
    assert 'data-transition="accept"' in tech.text and 'data-transition="complete"' not in tech.text
    assert (await pages.post("li.mech", f"/tickets/{tid}/do/accept", {})).status_code == 303
    assert (await pages.post("li.mech", f"/tickets/{tid}/do/start", {"comment": "到现场"})).status_code == 303
    form = await pages.get("li.mech", f"/tickets/{tid}/do/complete")
    assert form.status_code == 200
    for field in ("parts_used", "repair_cost", "evidence_photos"):
        assert f'id="w-{field}"' in form.text
    fields = [("_fields", f) for f in ("parts_used", "repair_cost", "evidence_photos")]
    refused = await pages.post("li.mech", f"/tickets/{tid}/do/complete", [("f.parts_used", "密封圈"), *fields])
    assert refused.status_code == 422 and 'value="密封圈"' not in refused.text  # textarea keeps it as text
    assert "密封圈" in refused.text and refused.text.count('class="error"') == 2
    done = await pages.post(
        "li.mech", f"/tickets/{tid}/do/complete", [("f.parts_used", "密封圈"), ("f.repair_cost", "1,280.5"), *fields],
        files=[("file.evidence_photos", ("fixed.png", png(), "image/png"))],
    )
    assert done.status_code == 303
    ticket = (await pages.api.get("li.mech", f"/api/v1/tickets/{tid}")).json()
    assert ticket["state"] == "done" and ticket["fields"]["repair_cost"] == 1280.5
    timeline = (await pages.get("wang.worker", f"/tickets/{tid}")).text
    assert "到现场" in timeline and "by routing rule" in timeline


async def test_a_store_sees_neither_another_stores_tickets_nor_foreign_buttons(pages: Pages) -> None:
    fields = [("_fields", f) for f in ("store", "complaint_category", "description")]
    body = [("title", "收银排队太久"), ("f.store", "store_hz01"), ("f.complaint_category", "service"),
            ("f.description", "顾客在收银台排队超过二十分钟"), *fields]
    r = await pages.post("staff.hz", "/tickets/new/store_complaint", body)
    assert r.status_code == 303, r.text
    tid = int(r.headers["location"].split("/")[2].split("?")[0])
    assert "收银排队太久" in (await pages.get("mgr.hz", "/tickets")).text
    assert "收银排队太久" not in (await pages.get("staff.sh", "/tickets")).text
    assert "收银排队太久" not in (await pages.get("mgr.sh", "/tickets?q=收银")).text
    other = await pages.get("mgr.sh", f"/tickets/{tid}")
    assert other.status_code == 404 and "收银排队太久" not in other.text
    assert (await pages.post("mgr.sh", f"/tickets/{tid}/do/accept", {})).status_code == 404
    own = await pages.get("staff.hz", f"/tickets/{tid}")
    assert own.status_code == 200 and "data-transition=" not in own.text  # the requester has no step to take
    manager = await pages.get("mgr.hz", f"/tickets/{tid}")
    assert "data-transition=" in manager.text


async def test_unsafe_posts_need_the_csrf_token(pages: Pages) -> None:
    tid = await raise_repair(pages)
    await pages.get("li.mech", "/")  # the session exists
    r = await pages.post("li.mech", f"/tickets/{tid}/do/accept", {}, csrf=False)
    assert r.status_code == 403
    ticket = (await pages.api.get("li.mech", f"/api/v1/tickets/{tid}")).json()
    assert ticket["state"] == "reported"
    forged = await pages.post("li.mech", f"/tickets/{tid}/comment", {"body": "x", "_csrf": "forged"}, csrf=False)
    assert forged.status_code == 403


async def test_html_typed_into_fields_shows_as_text(pages: Pages) -> None:
    tid = await raise_repair(pages, device_model="<script>alert(1)</script>")
    r = await pages.post("wang.worker", f"/tickets/{tid}/comment", {"body": '<img src=x onerror="alert(2)">'})
    assert r.status_code == 303
    html = (await pages.get("wang.worker", f"/tickets/{tid}")).text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html


async def test_list_filters_live_in_the_url_and_htmx_gets_only_the_table(pages: Pages) -> None:
    await raise_repair(pages)
    await raise_repair(pages, device_type="electrical")
    full = await pages.get("sun.lead", "/tickets?type=equipment_repair&team=electrical")
    assert full.status_code == 200 and "<html" in full.text and full.text.count("GD-") == 1
    assert '<option value="electrical" selected>' in full.text
    part = await pages.get("sun.lead", "/tickets?type=equipment_repair", headers={"HX-Request": "true",
                                                                                    "HX-Target": "results"})
    assert "<html" not in part.text and part.text.count('<td class="num">') == 2
    search = await pages.get("sun.lead", "/tickets?q=注塑机")
    assert search.text.count('<td class="num">') == 2
    assert (await pages.get("sun.lead", "/tickets?q=不存在的词")).text.count('<td class="num">') == 0


async def test_the_form_reveals_fields_as_conditions_change(pages: Pages) -> None:
    # expense_claim: `guests` is shown only for client entertainment (visible_when in the YAML)
    page = await pages.get("emp.ops", "/tickets/new/expense_claim")
    assert 'id="w-guests" hidden' in page.text  # its place is held, hidden
    category = page.text[page.text.index('id="i-expense_category"') - 200:page.text.index('id="i-expense_category"')]
    assert 'hx-post="/tickets/new/expense_claim"' in page.text and "_refresh" in page.text
    assert "<select" in category
    shown = [(kind, f) for f in ("expense_category", "amount", "expense_date", "reason", "receipts", "bank_account")
             for kind in ("_fields", "_required")]  # what the page holds: all six shown and required
    swap = await pages.post("emp.ops", "/tickets/new/expense_claim",
                            [("f.expense_category", "client_entertainment"), ("_refresh", "1"), *shown],
                            headers={"HX-Request": "true"})
    assert swap.status_code == 200 and "<html" not in swap.text
    assert 'id="w-guests" hx-swap-oob="true"' in swap.text and 'name="f.guests"' in swap.text
    assert 'id="w-amount"' not in swap.text  # unchanged fields are left alone (and what was typed in them)
    back = await pages.post("emp.ops", "/tickets/new/expense_claim",
                            [("f.expense_category", "travel"), ("_refresh", "1"), ("_fields", "guests"), *shown],
                            headers={"HX-Request": "true"})
    assert 'id="w-guests" hidden hx-swap-oob="true"' in back.text
    # without JavaScript the same post answers with the whole form
    plain = await pages.post("emp.ops", "/tickets/new/expense_claim",
                             [("f.expense_category", "client_entertainment"), ("_refresh", "1"), *shown])
    assert "<html" in plain.text and 'name="f.guests"' in plain.text


async def test_language_follows_the_switch_then_accept_language(pages: Pages) -> None:
    zh = await pages.get("wang.worker", "/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in zh.text and "我的工作" in zh.text
    en = await pages.get("wang.worker", "/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in en.text and "My work" in en.text
    switch = await pages.get("wang.worker", "/lang/zh?next=/tickets")
    assert switch.status_code == 303 and switch.headers["location"] == "/tickets"
    assert "gongdan_lang=zh" in switch.headers["set-cookie"]
    assert (await pages.get(None, "/lang/en?next=//evil.example")).headers["location"] == "/"


async def test_approve_and_reject_from_the_inbox(pages: Pages) -> None:
    from tests.api.test_api_approvals import submit_claim

    tid = (await submit_claim(pages.api, 800.0))["id"]
    inbox = await pages.get("mgr.ops", "/approvals")
    assert "差旅报销" in inbox.text and f'action="/tickets/{tid}/decide"' in inbox.text
    home = await pages.get("mgr.ops", "/")
    assert 'id="q-approvals"' in home.text and "差旅报销" in home.text
    assert "差旅报销" not in (await pages.get("fin.zheng", "/approvals")).text  # not their level
    done = await pages.post("mgr.ops", f"/tickets/{tid}/decide", {"decision": "approve", "next": "/approvals"})
    assert done.status_code == 303 and done.headers["location"] == "/approvals"
    assert "差旅报销" not in (await pages.get("mgr.ops", "/approvals")).text
    second = (await submit_claim(pages.api, 600.0))["id"]
    rejected = await pages.post("mgr.ops", f"/tickets/{second}/decide", {"decision": "reject", "comment": "缺发票"})
    assert rejected.status_code == 303
    detail = (await pages.get("emp.ops", f"/tickets/{second}")).text
    assert "缺发票" in detail and "rejected" in detail


async def test_definitions_page_is_for_admins(pages: Pages) -> None:
    assert (await pages.get("wang.worker", "/definitions")).status_code == 404
