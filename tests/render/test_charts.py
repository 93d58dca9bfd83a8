"""Report charts as SVG: well-formed, accessible, escaped, styled by classes only, true to the figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine.render.charts import ChartData, Series, chart_svg, nice_ticks, series_of

SVG = "{http://www.w3.org/2000/svg}"


def parse(data: ChartData) -> ET.Element:
    return ET.fromstring(str(chart_svg(data)))


def bars(root: ET.Element) -> list[tuple[float, float, str]]:
    """(height, y, tooltip) of every bar, in drawing order."""
    out = []
    for rect in root.iter(f"{SVG}rect"):
        if "bar" in rect.get("class", "").split():
            tip = rect.find(f"{SVG}title")
            out.append((float(rect.get("height", 0)), float(rect.get("y", 0)), tip.text if tip is not None else ""))
    return out


@pytest.mark.parametrize(("top", "ticks"), [
    (0, [0.0, 1.0]),
    (7, [0.0, 2.0, 4.0, 6.0, 8.0]),
    (95, [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]),
    (100, [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]),
    (18_376, [0.0, 5000.0, 10000.0, 15000.0, 20000.0]),
    (0.3, [0.0, 0.1, 0.2, 0.3]),
])
def test_nice_ticks(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == ticks


def test_a_bar_chart_is_an_accessible_image_with_a_title_per_bar() -> None:
    data = ChartData(kind="bar", title="Complaints <by> store", description="Bar chart of 3 values from 1 to 4.",
                     categories=("Shanghai", "<script>alert(1)</script>", "Guangzhou"),
                     series=(Series("Created", (4.0, 1.0, None)),), unit="", id="c1")
    svg = str(chart_svg(data))
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Complaints <by> store"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Bar chart of 3 values from 1 to 4."  # type: ignore[union-attr]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert " style=" not in svg  # the CSP allows no inline style: classes and presentation attributes only
    drawn = bars(root)
    assert [tip for _h, _y, tip in drawn] == ["Shanghai: 4", "<script>alert(1)</script>: 1"]  # no bar for no value
    assert drawn[0][0] == pytest.approx(4 * drawn[1][0])  # heights are proportional to the values
    assert root.find(f"{SVG}g[@class='target']") is None


def test_grouped_and_stacked_bars_with_a_target_line() -> None:
    series = (Series("East", (30.0, 10.0)), Series("South", (20.0, None)))
    grouped = parse(ChartData(kind="bar", title="t", description="d", categories=("Jan", "Feb"), series=series,
                              unit="%", target=95.0, target_label="Target 95 %"))
    assert [tip for _h, _y, tip in bars(grouped)] == ["Jan · East: 30 %", "Jan · South: 20 %", "Feb · East: 10 %"]
    target = grouped.find(f"{SVG}g[@class='target']")
    assert target is not None and target.find(f"{SVG}text").text == "Target 95 %"  # type: ignore[union-attr]
    legend = [t.text for t in grouped.iter(f"{SVG}text") if t.text in ("East", "South")]
    assert legend == ["East", "South"]
    stacked = parse(ChartData(kind="stacked_bar", title="t", description="d", categories=("Jan",),
                              series=series, unit=""))
    (h1, y1, _t1), (h2, y2, _t2) = bars(stacked)
    assert y2 + h2 == pytest.approx(y1)  # South sits on top of East
    assert h1 == pytest.approx(1.5 * h2)


def test_a_line_breaks_where_a_value_is_missing() -> None:
    root = parse(ChartData(kind="line", title="t", description="d", categories=("1", "2", "3", "4"),
                           series=(Series("Resolution rate", (90.0, None, 80.0, 85.0)),), unit="%"))
    path = root.find(f"{SVG}path")
    assert path is not None
    moves = [step[0] for step in path.get("d", "").split()]
    assert moves == ["M", "M", "L"]  # the gap on day 2 is not bridged
    points = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]  # type: ignore[union-attr]
    assert points == ["1: 90 %", "3: 80 %", "4: 85 %"]


def test_series_from_table_rows() -> None:
    rows = [(("East", "price"), 2.0), (("East", "service"), 1.0), (("South", "price"), 3.0)]
    cats, series = series_of(rows, 2, "Created")
    assert cats == ("East", "South")
    assert series == (Series("price", (2.0, 3.0)), Series("service", (1.0, None)))
    cats, series = series_of([(("Mon",), 1.0), (("Tue",), None)], 1, "Created")
    assert cats == ("Mon", "Tue") and series == (Series("Created", (1.0, None)),)
