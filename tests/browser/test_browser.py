"""Staff in a real browser: sign in, raise every shipped type, take steps, approve, at desk and phone size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, run_worker_once

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}

# Values for fields whose format a generic filler cannot guess (the rest: first option, min, today, …)
KNOWN = {
    "order_no": "2026112600123",
    "device_no": "MO-0042",
    "bank_account": "6222020200112233445",
    "asset_tag": "IT-000123",
    "item_code": "BG-00001",
    "customer_phone": "13812345678",
    "amount": "800",
    "days": "1",
    "quantity": "20",
}


@pytest.fixture(params=["desktop", "phone"])
def viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    return DESKTOP if request.param == "desktop" else PHONE


@pytest.fixture
def page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport, locale="en-US", is_mobile=viewport is PHONE,
                                  has_touch=viewport is PHONE)
    pg = context.new_page()
    problems: list[str] = []
    # script errors and blocked content (CSP) fail the test; a 4xx answer to a form is expected
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" and "status of 4" not in m.text else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    yield pg
    context.close()
    assert not problems, f"the browser reported errors: {problems}"


def sign_in(page: Page, server: str, user: str) -> None:
    page.goto(server + "/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text(re.compile("My work|我的工作"))


def sign_out(page: Page) -> None:
    page.click("details.user summary")
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile("/login"))


def fits_the_screen(page: Page) -> None:
    """No horizontal scrolling; every visible button, link button and input is at least 44 px tall."""
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    targets = ".btn, input:not([type=hidden]):not([type=checkbox]), select, textarea, .nav a, label.check"
    small = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null)
        .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height]).filter(([, h]) => h < 44)""",
        targets,
    )
    assert not small, f"tap targets under 44 px: {small}"


def fill_required(page: Page, photo: Path, skip: tuple[str, ...] = ()) -> None:
    """Fill every visible required field of the generated form."""
    for fid in page.eval_on_selector_all("input[name=_required]", "els => els.map(e => e.value)"):
        if fid in skip:
            continue
        wrapper = page.locator(f"#w-{fid}")
        if wrapper.locator("select").count():
            wrapper.locator("select").select_option(index=1)
        elif wrapper.locator("input[type=file]").count():
            wrapper.locator("input[type=file]").set_input_files(str(photo))
        elif wrapper.locator("textarea").count():
            wrapper.locator("textarea").fill("测试描述：现场情况说明")
        elif wrapper.locator("input[type=checkbox]").count():
            wrapper.locator("input[type=checkbox]").first.check()
        else:
            box = wrapper.locator("input:not([type=hidden])")
            kind = box.get_attribute("type")
            value = KNOWN.get(fid) or {"date": (date.today() + timedelta(days=1)).isoformat(),
                                       "number": box.get_attribute("min") or "1",
                                       "tel": "13812345678", "email": "a@b.cn"}.get(kind or "", "测试")
            box.fill(value)
            box.dispatch_event("change")


def raise_ticket(page: Page, server: str, type_label: str, title: str, photo: Path) -> str:
    """From the home page: New ticket → the type → the form; returns the new ticket's URL."""
    page.goto(server + "/")
    page.click("text=New ticket")  # 1
    page.click(f"a.choice:has-text('{type_label}')")  # 2
    page.fill("#i-title", title)
    fill_required(page, photo)
    page.click("#new-ticket button[type=submit]")  # 3
    expect(page.locator(".alert.ok")).to_have_text("Ticket raised.")
    expect(page.locator("h1")).to_contain_text(title)
    return page.url.split("?")[0]


TYPES = [
    ("customer", "After-sales", "耳机左声道无声"),
    ("worker", "Equipment repair", "3号注塑机漏油"),
    ("staff_sh", "Store complaint", "收银排队太久"),
    ("manager_sh", "Material request", "补充购物袋"),
    ("employee", "IT", "笔记本无法连接VPN"),
    ("employee", "Expense claim", "出差报销"),
    ("employee", "Leave", "年假申请"),
]


@pytest.mark.parametrize(("user", "type_label", "title"), TYPES, ids=[t[1] for t in TYPES])
def test_each_shipped_type_can_be_raised(page: Page, server: str, photo: Path, user: str, type_label: str,
                                         title: str) -> None:
    sign_in(page, server, user)
    url = raise_ticket(page, server, type_label, title, photo)
    assert re.search(r"/tickets/\d+$", url)
    fits_the_screen(page)
    page.goto(server + "/tickets")
    expect(page.locator("#results")).to_contain_text(title)


def test_validation_error_keeps_input_and_photo_upload_shows_a_thumbnail(page: Page, server: str,
                                                                         photo: Path) -> None:
    sign_in(page, server, "worker")
    page.goto(server + "/tickets/new/equipment_repair")
    page.fill("#i-title", "传送带异响")
    fill_required(page, photo, skip=("fault_photos",))
    page.fill("#i-device_no", "bad number")
    page.locator("#i-fault_photos").set_input_files(str(photo))
    expect(page.locator("#p-fault_photos img")).to_have_count(1)  # a preview before sending
    page.click("#new-ticket button[type=submit]")
    error = page.locator("#w-device_no .error")
    expect(error).to_be_visible()
    expect(page.locator("#i-device_no")).to_have_value("bad number")
    expect(page.locator("#i-title")).to_have_value("传送带异响")
    kept = page.locator("#w-fault_photos label.kept")
    expect(kept).to_contain_text("fault.png")  # the photo already sent is kept, not lost
    fits_the_screen(page)
    page.fill("#i-device_no", "CV-0007")
    page.click("#new-ticket button[type=submit]")
    expect(page.locator(".alert.ok")).to_be_visible()
    thumb = page.locator("img.thumb")
    expect(thumb).to_have_count(1)
    assert page.evaluate("document.querySelector('img.thumb').naturalWidth") == 8  # the image really loads


def test_repair_step_with_required_fields_opens_in_place(page: Page, server: str, photo: Path) -> None:
    sign_in(page, server, "worker")
    url = raise_ticket(page, server, "Equipment repair", "冲压机异响", photo)
    technician = page.locator("dl.facts div:has(dt:text-is('Assignee')) dd").inner_text()
    assert technician in ("tech", "tech2")  # routed to the mechanical team by least load
    sign_out(page)
    sign_in(page, server, technician)
    page.goto(url)
    expect(page.locator("[data-transition=complete]")).to_have_count(0)
    page.click("[data-transition=accept]")
    expect(page.locator(".badge")).to_have_text("Accepted")
    page.click("[data-transition=start]")
    expect(page.locator(".badge")).to_have_text("In repair")
    page.click("[data-transition=complete]")
    form = page.locator("#step-form form")
    expect(form).to_be_visible()  # opened in place, on the ticket's page
    assert page.url == url
    form.locator("button[type=submit]").click()  # nothing filled: refused, field by field
    expect(page.locator(".has-error")).to_have_count(3)
    page.fill("#i-parts_used", "更换密封圈 2 个")
    page.fill("#i-repair_cost", "180")
    page.locator("#i-evidence_photos").set_input_files(str(photo))
    page.locator("form.stepform button[type=submit]").click()
    expect(page.locator(".badge")).to_have_text("Repaired")
    expect(page.locator("#timeline")).to_contain_text("更换密封圈")
    fits_the_screen(page)


def test_expense_claim_is_approved_and_another_rejected(page: Page, server: str, photo: Path) -> None:
    sign_in(page, server, "employee")
    urls = [raise_ticket(page, server, "Expense claim", title, photo) for title in ("打车费", "招待费")]
    for url in urls:
        page.goto(url)
        page.click("[data-transition=submit]")
        expect(page.locator(".badge")).to_have_text(re.compile("approval", re.I))
    sign_out(page)
    sign_in(page, server, "manager")
    expect(page.locator("#q-approvals")).to_contain_text("打车费")
    page.goto(server + "/approvals")
    item = page.locator("li.card", has_text="打车费")
    item.locator("input[name=comment]").fill("同意")
    item.locator("button[value=approve]").click()
    expect(page.locator("li.card", has_text="打车费")).to_have_count(0)
    page.goto(urls[1])
    page.fill("#approve-comment", "缺少发票")
    page.click("button[value=reject]")
    expect(page.locator(".badge")).to_have_text("Draft")  # the manager's rejection sends it back to the claimant
    expect(page.locator("#timeline")).to_contain_text("rejected")
    expect(page.locator("#timeline")).to_contain_text("缺少发票")
    fits_the_screen(page)


def test_store_staff_see_only_their_store_and_only_their_buttons(page: Page, server: str) -> None:
    sign_in(page, server, "staff_sh")
    page.goto(server + "/tickets")
    rows = page.locator("#results tbody tr")
    assert rows.count() >= 1
    assert "空调不制冷" not in page.content() and "标价与收银价格" not in page.content()  # Hangzhou, Guangzhou
    page.fill("#f-q", "空调")
    page.locator("#f-q").press("Enter")
    expect(page.locator("#results")).to_contain_text("No tickets match")
    expect(page).to_have_url(re.compile("q=%E7%A9%BA%E8%B0%83|q=空调"))
    page.goto(server + "/tickets?q=收银")
    page.locator("#results a", has_text="收银排队太久").first.click()
    expect(page.locator("h1")).to_contain_text("收银排队太久")
    expect(page.locator("[data-transition]")).to_have_count(0)  # the store manager takes it, not staff
    sign_out(page)
    sign_in(page, server, "manager_hz")
    page.goto(server + "/tickets?q=空调")
    page.locator("#results a", has_text="空调").first.click()
    hz_url = page.url
    expect(page.locator("[data-transition=take]")).to_have_count(1)
    sign_out(page)
    sign_in(page, server, "staff_sh")
    response = page.goto(hz_url)
    assert response is not None and response.status == 404
    expect(page.locator("main")).not_to_contain_text("空调")


def test_list_filters_update_in_place_and_stay_in_the_url(page: Page, server: str) -> None:
    sign_in(page, server, "admin")
    page.goto(server + "/tickets")
    page.select_option("#f-type", "equipment_repair")
    expect(page).to_have_url(re.compile(r"type=equipment_repair"))
    expect(page.locator("#results tbody tr").first).to_contain_text("Equipment repair")
    kinds = page.locator("#results tbody td.hide-s:nth-child(4)")
    if page.viewport_size and page.viewport_size["width"] > 700:
        assert set(kinds.all_inner_texts()) == {"Equipment repair"}
    page.reload()  # the filter survives a reload: it lives in the URL
    expect(page.locator("#f-type")).to_have_value("equipment_repair")


def bell_count(page: Page, server: str) -> int:
    """The signed-in person's unread count as the API reports it (the browser's session cookie)."""
    body = page.request.get(server + "/api/v1/notifications/unread-count").json()
    return int(body["unread"])


def test_the_bell_leads_to_the_ticket_and_mark_all_read_clears_it(page: Page, server: str, photo: Path,
                                                                  server_env: dict[str, str],
                                                                  viewport: dict[str, int]) -> None:
    title = f"铣床主轴异响 {viewport['width']}"
    sign_in(page, server, "worker")
    url = raise_ticket(page, server, "Equipment repair", title, photo)
    csrf = page.request.get(server + "/api/v1/session").json()["csrf_token"]
    second = page.request.post(server + "/api/v1/tickets", headers={"X-CSRF-Token": csrf}, data={
        "type": "equipment_repair", "title": f"传送带跑偏 {viewport['width']}",
        "fields": {"device_no": "CV-0031", "device_type": "conveyor", "area": "workshop_a"}})
    assert second.status == 201, second.text()
    sign_out(page)
    run_worker_once(server_env)  # the new faults reach the mechanical team's in-app notifications

    sign_in(page, server, "tech")
    unread = bell_count(page, server)
    assert unread >= 2
    bell = page.locator("#bell")
    expect(bell.locator(".bell-count")).to_have_text("99+" if unread > 99 else str(unread))
    expect(bell).to_have_attribute("aria-label", f"Notifications: {'99+' if unread > 99 else unread} unread")
    bell.click()
    expect(page.locator("h1")).to_have_text("Notifications")
    item = page.locator("li.note.unread", has_text=title)
    expect(item).to_have_count(1)
    fits_the_screen(page)
    item.locator("a.note-link").click()  # opening it marks it read
    expect(page.locator("h1")).to_contain_text(title)
    assert page.url == url
    expect(page.locator("#bell .bell-count")).to_have_text(str(unread - 1) if unread <= 100 else "99+")
    assert bell_count(page, server) == unread - 1

    page.locator("#bell").click()
    expect(page.locator("li.note", has_text=title)).not_to_have_class(re.compile("unread"))
    page.click("text=Mark all read")  # in place with htmx; the bell updates with it
    expect(page.locator("li.note.unread")).to_have_count(0)
    expect(page.locator("#bell .bell-count")).to_have_count(0)
    expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications")
    page.reload()
    expect(page.locator("#bell .bell-count")).to_have_count(0)
    expect(page.locator("text=Mark all read")).to_have_count(0)
    assert bell_count(page, server) == 0


def test_chinese_ui(browser: Browser, server: str) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    page = context.new_page()
    page.goto(server + "/login")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("#username", "worker")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的工作")
    page.click("text=新建工单")
    expect(page.locator("a.choice", has_text="设备报修")).to_be_visible()  # definition labels in Chinese
    page.click("a.choice:has-text('设备报修')")
    expect(page.locator("label[for=i-device_no]")).to_contain_text("设备编号")
    page.click("#new-ticket button[type=submit]")
    expect(page.locator("#w-device_no .error")).to_have_text("必填")
    page.click("text=English")
    expect(page.locator("label[for=i-device_no]")).to_contain_text("Device number")
    context.close()
