"""A region manager in a real browser: the reports dashboard shows only their region, and the CSV downloads."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.test_browser import DESKTOP, PHONE, sign_in

BOM = b"\xef\xbb\xbf"


def _page(browser: Browser, viewport: dict[str, int], problems: list[str], locale: str = "en-US") -> Page:
    context = browser.new_context(viewport=viewport, locale=locale, accept_downloads=True,
                                  is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    page = context.new_page()
    # script errors and content the CSP blocks (an inline style, say) show up as console errors
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


def test_a_region_manager_sees_only_their_region_and_downloads_the_csv(browser: Browser, server: str,
                                                                        tmp_path: Path) -> None:
    problems: list[str] = []
    page = _page(browser, DESKTOP, problems)
    sign_in(page, server, "region_east")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.locator("h1")).to_have_text("Reports")
    by_region = page.locator("#report-store_overdue_by_region")
    by_store = page.locator("#report-store_overdue_by_store")
    expect(page.locator("section.report")).to_have_count(2)  # the reports of the region manager's role
    expect(by_region.get_by_role("img", name="Store complaints overdue by region — SLA compliance")).to_be_visible()
    by_region.locator("summary").click()  # the table beside the chart
    expect(by_region.locator("tbody th")).to_have_text(["East region"])
    by_store.locator("summary").click()
    expect(by_store.locator("tbody th")).to_have_text(["Shanghai Nanjing Rd", "Hangzhou West Lake"])
    expect(page.locator("main")).not_to_contain_text("South region")
    expect(page.locator("main")).not_to_contain_text("Guangzhou")

    with page.expect_download() as info:
        by_store.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("store_overdue_by_store_")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(BOM)  # Excel reads it as UTF-8
    lines = data[len(BOM):].decode("utf-8").splitlines()
    assert lines[0] == "Store,Tickets created,Overdue tickets,Overdue rate (%),Open backlog"
    # one line per store of the region (other browser tests may have raised more complaints meanwhile)
    assert [line.split(",")[0] for line in lines[1:]] == ["Shanghai Nanjing Rd", "Hangzhou West Lake"]
    assert all(int(line.split(",")[1]) >= 1 for line in lines[1:])

    page.goto(server + "/reports/store_overdue_by_region")
    expect(page.locator("h1")).to_have_text("Store complaints overdue by region")
    expect(page.locator("table.figures tbody th")).to_have_text(["East region"])
    page.select_option("#r-range", "today")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#r-range")).to_have_value("today")
    expect(page.locator("table.figures tbody th")).to_have_text(["East region"])  # the demo tickets are from today
    page.context.close()
    assert not problems, f"the browser reported errors: {problems}"


def test_the_dashboard_fits_a_phone_in_chinese(browser: Browser, server: str) -> None:
    problems: list[str] = []
    page = _page(browser, PHONE, problems, "zh-CN")
    sign_in(page, server, "region_east")
    page.goto(server + "/reports")
    expect(page.locator("h1")).to_have_text("报表")
    expect(page.locator("#report-store_overdue_by_store h2")).to_have_text("各门店客诉超时率")
    for card in page.locator("section.report").all():  # every card fits; a wide chart scrolls inside its own box
        box = card.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    chart = page.locator("#report-store_overdue_by_store figure.chartbox")
    assert chart.evaluate("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX == 'auto'")
    page.context.close()
    assert not problems, f"the browser reported errors: {problems}"
