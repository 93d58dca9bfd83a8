"""Report definitions compile into what the runtime needs: types resolved, dimensions classified, targets in units."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.schema import check_definitions
from engine.schema.kinds.report import ReportDimension

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_reports_compile() -> None:
    result = check_definitions(ROOT / "definitions")
    assert result.catalog is not None
    reports = result.catalog.reports
    assert sorted(reports) == ["after_sales_daily", "after_sales_weekly", "repairs_by_area", "repairs_by_model",
                               "store_overdue_by_region", "store_overdue_by_store"]
    region = reports["store_overdue_by_region"]
    assert region.types == ("store_complaint",)
    assert region.dimensions[0] == ReportDimension("org_unit", "column", None, "region", region.dimensions[0].label)
    assert (region.chart_type, region.chart_measure, region.target) == ("bar", "sla_compliance", 95.0)
    area = reports["repairs_by_area"]
    assert area.dimensions == (ReportDimension("area", "field", "org_unit", None, None),)
    assert (area.chart_measure, area.target) == ("mean_resolution", 8 * 3600.0)  # 8h, in seconds
    model = reports["repairs_by_model"]
    assert model.dimensions[0].kind == "field" and model.dimensions[0].field_type == "text"
    assert reports["after_sales_weekly"].dimensions == (ReportDimension("week", "time"),)
    assert result.catalog.summary()["reports"] == 6


def test_a_report_without_dimensions_is_a_table_and_every_type_is_star(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "definitions", tmp_path / "definitions")
    (tmp_path / "definitions" / "reports" / "total.yaml").write_text(
        "apiVersion: gongdan/v1\nkind: Report\nmetadata: {name: total}\nspec:\n  label: Everything\n"
        "  types: \"*\"\n  range: all\n  where: {priority: [high, urgent], state_category: {ne: cancelled}}\n"
        "  measures: [created, backlog]\n", encoding="utf-8")
    result = check_definitions(tmp_path / "definitions")
    assert [d.render() for d in result.diagnostics] == []
    assert result.catalog is not None
    total = result.catalog.reports["total"]
    assert total.types == tuple(sorted(result.catalog.types))
    assert (total.chart_type, total.dimensions, total.target) == ("table", (), None)
    assert total.where is not None
