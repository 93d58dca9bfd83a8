"""Reports, decided in Python: who sees which report, ranges and buckets in a time zone, figures from sums."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.runtime.errors import InvalidInput, NotFound
from engine.runtime.model import Actor
from engine.runtime.permissions import ScopeRule, ScopeRules
from engine.runtime.reports import (
    assemble,
    buckets,
    check_range_override,
    may_see,
    plan_report,
    report_for,
    resolve_window,
    visible_reports,
)
from engine.schema import Catalog, check_definitions
from engine.schema.kinds.report import TimeRange

DEFS = Path(__file__).resolve().parents[1] / "storage" / "report_defs"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # a Tuesday, 12:00 in Shanghai
EVERYTHING = ScopeRules((ScopeRule(None, "all"),))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    result = check_definitions(DEFS)
    assert result.catalog is not None
    return result.catalog


def actor(*roles: str) -> Actor:
    return Actor(id=1, username="u", roles=frozenset(roles))


def test_report_decisions_import_no_io_frameworks() -> None:
    code = ("import sys, engine.runtime.reports\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('piccolo', 'litestar', 'sqlite3', 'asyncpg')"
            " or m.startswith('engine.runtime.storage') or m.startswith('engine.render')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reports_are_for_their_roles_and_for_admins(catalog: Catalog) -> None:
    assert [r.name for r in visible_reports(catalog, actor("region_manager"))] == ["by_region", "people"]
    assert [r.name for r in visible_reports(catalog, actor("staff"))] == ["by_region"]
    assert len(visible_reports(catalog, actor("admin"))) == len(catalog.reports) == 9
    assert visible_reports(catalog, actor()) == []
    assert may_see(catalog, actor("agent", "staff"), catalog.reports["by_region"])
    with pytest.raises(NotFound) as caught:
        report_for(catalog, actor("staff"), "times")
    assert str(caught.value) == "report times not found"
    with pytest.raises(NotFound) as unknown:
        report_for(catalog, actor("admin"), "nope")
    assert str(unknown.value) == "report nope not found"


@pytest.mark.parametrize(("name", "first", "last"), [
    ("today", "2026-03-10", "2026-03-10"),
    ("yesterday", "2026-03-09", "2026-03-09"),
    ("last_7_days", "2026-03-04", "2026-03-10"),
    ("last_30_days", "2026-02-09", "2026-03-10"),
    ("last_90_days", "2025-12-11", "2026-03-10"),
    ("this_week", "2026-03-09", "2026-03-15"),
    ("last_week", "2026-03-02", "2026-03-08"),
    ("this_month", "2026-03-01", "2026-03-31"),
    ("last_month", "2026-02-01", "2026-02-28"),
    ("this_quarter", "2026-01-01", "2026-03-31"),
    ("last_quarter", "2025-10-01", "2025-12-31"),
    ("this_year", "2026-01-01", "2026-12-31"),
])
def test_relative_ranges_are_whole_local_days(name: str, first: str, last: str) -> None:
    window = resolve_window(name, NOW, SHANGHAI)
    assert window is not None
    assert (window.name, window.first.isoformat(), window.last.isoformat()) == (name, first, last)
    # local midnight in Shanghai is 16:00 UTC the day before
    assert window.start == datetime.combine(date.fromisoformat(first) - timedelta(days=1), datetime.min.time(),
                                            UTC).replace(hour=16)
    assert window.end == datetime.combine(date.fromisoformat(last), datetime.min.time(), UTC).replace(hour=16)


def test_the_local_day_decides_today() -> None:
    late = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)  # 00:30 on the 11th in Shanghai, still the 10th in Berlin
    assert resolve_window("today", late, SHANGHAI).first == date(2026, 3, 11)  # type: ignore[union-attr]
    assert resolve_window("today", late, BERLIN).first == date(2026, 3, 10)  # type: ignore[union-attr]
    assert resolve_window("all", late, SHANGHAI) is None
    custom = resolve_window(TimeRange(from_="2026-01-01", to="2026-01-31"), late, SHANGHAI)
    assert custom is not None and (custom.name, custom.start, custom.end) == (
        "custom", datetime(2025, 12, 31, 16, tzinfo=UTC), datetime(2026, 1, 31, 16, tzinfo=UTC))


def test_days_weeks_and_months_follow_daylight_saving_time() -> None:
    window = resolve_window(TimeRange(from_="2026-03-28", to="2026-03-30"), NOW, BERLIN)
    assert window is not None
    days = buckets(window, "day", BERLIN)
    assert [(b.first.day, b.start, b.end - b.start) for b in days] == [
        (28, datetime(2026, 3, 27, 23, tzinfo=UTC), timedelta(hours=24)),
        (29, datetime(2026, 3, 28, 23, tzinfo=UTC), timedelta(hours=23)),  # clocks go forward
        (30, datetime(2026, 3, 29, 22, tzinfo=UTC), timedelta(hours=24)),
    ]
    autumn = resolve_window(TimeRange(from_="2026-10-25", to="2026-10-25"), NOW, BERLIN)
    assert autumn is not None
    assert [b.end - b.start for b in buckets(autumn, "day", BERLIN)] == [timedelta(hours=25)]
    quarter = resolve_window("this_quarter", NOW, SHANGHAI)
    assert quarter is not None
    assert [(b.first.isoformat(), b.last.isoformat()) for b in buckets(quarter, "month", SHANGHAI)] == [
        ("2026-01-01", "2026-01-31"), ("2026-02-01", "2026-02-28"), ("2026-03-01", "2026-03-31")]
    month = resolve_window("last_month", NOW, SHANGHAI)
    assert month is not None
    weeks = buckets(month, "week", SHANGHAI)  # February 2026 starts on a Sunday: the first week is one day
    assert [(b.first.isoformat(), b.last.isoformat()) for b in weeks] == [
        ("2026-02-01", "2026-02-01"), ("2026-02-02", "2026-02-08"), ("2026-02-09", "2026-02-15"),
        ("2026-02-16", "2026-02-22"), ("2026-02-23", "2026-02-28")]
    assert all(a.end == b.start for a, b in pairwise(weeks))


def test_too_many_buckets_are_refused() -> None:
    window = resolve_window(TimeRange(from_="2020-01-01", to="2026-12-31"), NOW, SHANGHAI)
    assert window is not None
    assert len(buckets(window, "month", SHANGHAI)) == 84
    with pytest.raises(InvalidInput) as caught:
        buckets(window, "day", SHANGHAI)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("range", "gives more than 1000 days; choose a shorter range or a coarser time dimension")]


def test_range_overrides_from_a_query_string() -> None:
    assert check_range_override(None, None, None) is None
    assert check_range_override("", "", "") is None
    assert check_range_override("last_week", None, None) == "last_week"
    assert check_range_override("last_week", "2026-01-01", "2026-01-02") == TimeRange(from_="2026-01-01",
                                                                                      to="2026-01-02")
    for args, errors in [
        (("yesteryear", None, None), [("range", "must be one of: today, yesterday, last_7_days, last_30_days, "
                                                "last_90_days, this_week, last_week, this_month, last_month, "
                                                "this_quarter, last_quarter, this_year, all")]),
        ((None, "2026-02-30", "x"), [("from", "must be a date written YYYY-MM-DD"),
                                     ("to", "must be a date written YYYY-MM-DD")]),
        ((None, "2026-02-02", "2026-02-01"), [("to", "must not be before from")]),
    ]:
        with pytest.raises(InvalidInput) as caught:
            check_range_override(*args)
        assert [(e.field, e.message) for e in caught.value.errors] == errors


def test_the_plan_asks_only_for_the_sums_its_measures_need(catalog: Catalog) -> None:
    times = plan_report(catalog, catalog.reports["times"], EVERYTHING, NOW, SHANGHAI)
    assert sorted(times.sums) == ["first_response_count", "first_response_sum", "n", "resolution_count",
                                  "resolution_sum"]
    assert dict(times.percentiles) == {"first_response_seconds": (50, 90), "resolution_seconds": (50, 90)}
    region = plan_report(catalog, catalog.reports["by_region"], EVERYTHING, NOW, SHANGHAI)
    assert region.percentiles == {} and region.time_column == "created_at"
    assert dict(region.dimensions[0].roll_up or {}) == {"east": "east", "store_sh01": "east", "store_hz01": "east",
                                                         "south": "south", "store_gz01": "south"}
    weekly = plan_report(catalog, catalog.reports["resolved_weekly"], EVERYTHING, NOW, SHANGHAI)
    assert weekly.time_column == "resolved_at" and len(weekly.dimensions[0].buckets) == 2


def test_figures_come_from_the_sums_with_empty_buckets_filled(catalog: Catalog) -> None:
    plan = plan_report(catalog, catalog.reports["daily"], EVERYTHING, NOW, SHANGHAI)
    result = assemble(catalog, plan, {(2,): {"n": 4, "resolved": 1}, (0,): {"n": 1, "resolved": 0}})
    assert [(r.keys[0].day, r.values["created"], r.values["resolved"]) for r in result.rows] == [
        (1, 1, 0), (2, 0, 0), (3, 4, 1), (4, 0, 0), (5, 0, 0), (6, 0, 0), (7, 0, 0)]
    plan = plan_report(catalog, catalog.reports["by_region"], EVERYTHING, NOW, SHANGHAI)
    result = assemble(catalog, plan, {
        (None,): {"n": 1},
        ("south",): {"n": 3, "resolved": 1, "resolution_due": 3, "resolution_late": 1, "response_due": 0},
        ("east",): {"n": 0},
    })
    assert [(r.keys[0], r.values["resolution_rate"], r.values["overdue_rate"], r.values["sla_compliance"],
             r.values["response_overdue_rate"]) for r in result.rows] == [
        ("east", None, None, None, None),  # nothing to divide by: no figure rather than 0 %
        ("south", 33.33, 33.33, 66.67, None),
        (None, 0.0, None, None, None),
    ]


def test_a_local_date_finds_its_bucket(catalog: Catalog) -> None:
    """PostgreSQL returns the local date, week or month start of each ticket; each belongs to one bucket."""
    plan = plan_report(catalog, catalog.reports["resolved_weekly"], EVERYTHING, NOW, SHANGHAI,
                       TimeRange(from_="2026-03-04", to="2026-03-17"))  # Wednesday to Tuesday: both weeks clipped
    weeks = plan.dimensions[0]
    assert [(b.first.isoformat(), b.last.isoformat()) for b in weeks.buckets] == [
        ("2026-03-04", "2026-03-08"), ("2026-03-09", "2026-03-15"), ("2026-03-16", "2026-03-17")]
    assert [weeks.bucket_of(date.fromisoformat(d)) for d in ("2026-03-02", "2026-03-09", "2026-03-16")] == [0, 1, 2]
    assert weeks.bucket_of(datetime(2026, 3, 9)) == 1 and weeks.bucket_of(2) == 2
