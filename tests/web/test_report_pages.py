"""The reports dashboard and a report's page: charts as SVG, tables beside them, downloads, the reader's scope."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from engine.runtime.auth.accounts import actor_for_user
from engine.schema import Catalog
from engine.web.app import create_app
from tests.api.conftest import PEOPLE, Api
from tests.api.test_api_reports import MORE_PEOPLE, seed
from tests.storage.conftest import Backend
from tests.web.conftest import Pages

pytestmark = pytest.mark.anyio


@pytest.fixture
async def report_pages(db: Backend, catalog: Catalog) -> AsyncIterator[Pages]:
    tokens = await seed(catalog)
    ids = {name: (await actor_for_user(name)).id for name in [*PEOPLE, *MORE_PEOPLE]}
    app = create_app(catalog, db.url)
    async with AsyncTestClient(app=app) as client:
        yield Pages(client, ids, Api(client, tokens))


def _table(html: str, report: str) -> list[list[str]]:
    """The rows of a report's table as text cells."""
    body = html[html.index(f'id="table-{report}"'):]
    body = body[body.index("<tbody>"):body.index("</tbody>")]
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


async def test_the_dashboard_lists_the_readers_reports_with_charts_and_tables(report_pages: Pages) -> None:
    r = await report_pages.get("mgr.east", "/reports", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    html = r.text
    assert 'href="/reports" aria-current="page"' in html  # the nav entry
    assert re.findall(r'<h2 id="rh-([a-z_]+)">', html) == ["store_overdue_by_region", "store_overdue_by_store"]
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-bar" role="img"') == 2
    assert "<title id=\"chart-0-title\">Store complaints overdue by region — SLA compliance</title>" in html
    assert _table(html, "store_overdue_by_region") == [["East region", "3", "2", "66.7 %", "33.3 %", "66.7 %"]]
    assert _table(html, "store_overdue_by_store") == [
        ["Shanghai Nanjing Rd", "2", "1", "50.0 %", "1"], ["Hangzhou West Lake", "1", "1", "100.0 %", "0"]]
    assert "South region" not in html and "Guangzhou" not in html  # another region's figures never show
    assert 'href="/api/v1/reports/store_overdue_by_store?format=csv&amp;lang=en" download' in html
    assert " style=" not in html  # the CSP allows no inline style


async def test_people_without_reports_see_no_entry_and_an_empty_dashboard(report_pages: Pages) -> None:
    home = await report_pages.get("emp.ops", "/", headers={"Accept-Language": "en"})
    assert 'href="/reports"' not in home.text
    r = await report_pages.get("emp.ops", "/reports", headers={"Accept-Language": "en"})
    assert r.status_code == 200 and "No reports are shared with your roles." in r.text


async def test_a_report_page_in_chinese_with_its_range_form(report_pages: Pages) -> None:
    r = await report_pages.get("hq.ops", "/reports/store_overdue_by_store", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 200
    html = r.text
    assert "<h1>各门店客诉超时率</h1>" in html
    assert _table(html, "store_overdue_by_store") == [
        ["上海南京路店", "2", "1", "50.0 %", "1"], ["杭州西湖店", "1", "1", "100.0 %", "0"],
        ["广州天河店", "2", "0", "0.0 %", "0"]]
    assert "<desc id=\"chart-desc\">柱状图：按门店统计的超时率" in html and "目标：5 %。" in html
    assert 'class="target"' in html and "不超过 5%" in html  # the target line and its label
    week = await report_pages.get("hq.ops", "/reports/store_overdue_by_store?range=today",
                                  headers={"Accept-Language": "zh-CN"})
    assert week.status_code == 200 and "此范围内没有工单。" in week.text
    assert '<option value="today" selected>今天</option>' in week.text
    bad = await report_pages.get("hq.ops", "/reports/store_overdue_by_store?from=2026-03-01&to=2026-02-01",
                                 headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and "must not be before from" in bad.text
    assert _table(bad.text, "store_overdue_by_store")[0][0] == "Shanghai Nanjing Rd"  # the report as defined


async def test_a_report_not_shared_with_the_reader_is_not_found(report_pages: Pages) -> None:
    r = await report_pages.get("wang.worker", "/reports/store_overdue_by_region", headers={"Accept-Language": "en"})
    assert r.status_code == 404 and "This page does not exist, or you may not see it." in r.text
    assert (await report_pages.get(None, "/reports")).status_code == 303  # sign in first
