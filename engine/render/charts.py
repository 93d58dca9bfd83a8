"""Report charts as inline SVG, drawn on the server: bar, grouped bar, stacked bar, line, and a target line.

No script and nothing fetched: the chart reads without JavaScript, prints, and scales with its
box. Accessibility: the ``<svg>`` is an image labelled by its ``<title>`` and ``<desc>`` (what is
drawn, how many values, the range they span, the target), and every bar and point carries a
``<title>`` with its label and value; the table beside the chart holds the same figures.

Colours come from classes (``s0`` … ``s7`` for the series, ``target``, ``axis``, ``grid``) styled
in static/app.css — the pages' Content-Security-Policy allows no inline ``style`` — with
presentation attributes as a fallback, so a saved SVG still reads in colour.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["COLOURS", "ChartData", "Series", "chart_svg", "nice_ticks", "series_of"]

COLOURS = ("#1f5fbf", "#e8833a", "#2e9e6b", "#b8483f", "#7a4cc2", "#8c6d1f", "#3aa6c4", "#c2417f")
LEFT, RIGHT, TOP, BOTTOM = 52.0, 12.0, 24.0, 28.0
FONT = 12.0
MAX_X_LABELS = 12
LEGEND_ROW = 18.0


@dataclass(frozen=True)
class Series:
    """One line, or one colour of bars: its name and a value per category (None: no value)."""

    name: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class ChartData:
    """What to draw: categories along the x axis, one or more series, an optional target line."""

    kind: str  # bar | stacked_bar | line
    title: str
    description: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str  # shown after values: "%", "h" or ""
    target: float | None = None
    target_label: str = ""
    id: str = "chart"
    width: float = 720.0  # of the drawing; the page scales it to its box
    height: float = 300.0  # of the plot with its axes, without the legend


def _width(text: str) -> float:
    """Estimated width in px at the chart's font size: wide (CJK) characters count double."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1.1 for c in text) * FONT * 0.55


def _short(text: str, width: float) -> str:
    if _width(text) <= width:
        return text
    while text and _width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return _number(value) + (f" {unit}" if unit else "")


def _top(data: ChartData) -> float:
    if data.kind == "stacked_bar":
        sums = [sum(v or 0 for v in vals) for vals in zip(*(s.values for s in data.series), strict=True)]
        high = max(sums, default=0.0)
    else:
        high = max((v for s in data.series for v in s.values if v is not None), default=0.0)
    if data.target is not None:
        high = max(high, data.target)
    return high


def chart_svg(data: ChartData) -> Markup:
    """The chart as an ``<svg>`` element, safe to put in a page (every text is escaped)."""
    legend = len(data.series) > 1
    legend_h = LEGEND_ROW * math.ceil(len(data.series) / 4) + 4 if legend else 0.0
    full_w, full_h = data.width, data.height
    height = full_h + legend_h
    plot_w, plot_h = full_w - LEFT - RIGHT, full_h - TOP - BOTTOM
    ticks = nice_ticks(_top(data))
    y_max = ticks[-1] or 1.0

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * (v / y_max)

    n = max(len(data.categories), 1)
    slot = plot_w / n
    out: list[str] = []
    tid, did = f"{data.id}-title", f"{data.id}-desc"
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{escape(data.kind)}" role="img" '
               f'aria-labelledby="{escape(tid)} {escape(did)}" viewBox="0 0 {full_w:g} {height:g}" '
               f'width="{full_w:g}" height="{height:g}" font-size="{FONT:g}">')
    out.append(f'<title id="{escape(tid)}">{escape(data.title)}</title>'
               f'<desc id="{escape(did)}">{escape(data.description)}</desc>')
    # grid and y axis
    out.append('<g class="grid" stroke="#dde1e7">')
    for t in ticks:
        out.append(f'<line x1="{LEFT:g}" x2="{full_w - RIGHT:g}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
    out.append("</g><g class=\"axis\" fill=\"#5d6675\" text-anchor=\"end\">")
    for t in ticks:
        out.append(f'<text x="{LEFT - 6:g}" y="{y(t) + 4:.1f}">{escape(_number(t))}</text>')
    if data.unit:
        out.append(f'<text x="{LEFT - 6:g}" y="{TOP - 11:g}">{escape(data.unit)}</text>')
    # x labels: at most MAX_X_LABELS, evenly picked
    step = max(1, math.ceil(n / MAX_X_LABELS))
    out.append('</g><g class="axis" fill="#5d6675" text-anchor="middle">')
    for i, cat in enumerate(data.categories):
        if i % step == 0 or (i == n - 1 and n <= MAX_X_LABELS):
            cx = LEFT + slot * (i + 0.5)
            out.append(f'<text x="{cx:.1f}" y="{TOP + plot_h + 16:g}">{escape(_short(cat, slot * step - 4))}'
                       f"<title>{escape(cat)}</title></text>")
    out.append(f'</g><line class="axis-line" stroke="#5d6675" x1="{LEFT:g}" x2="{full_w - RIGHT:g}" '
               f'y1="{TOP + plot_h:g}" y2="{TOP + plot_h:g}"/>')
    if data.kind == "line":
        out.extend(_lines(data, slot, y))
    else:
        out.extend(_bars(data, slot, y, TOP + plot_h))
    right = full_w - RIGHT
    if data.target is not None:
        ty = y(data.target)
        label = data.target_label or _fmt(data.target, data.unit)
        out.append(f'<g class="target"><line stroke="#b42318" stroke-dasharray="6 4" stroke-width="2" '
                   f'x1="{LEFT:g}" x2="{right:g}" y1="{ty:.1f}" y2="{ty:.1f}">'
                   f"<title>{escape(label)}</title></line>"
                   f'<text fill="#b42318" text-anchor="end" x="{right:g}" y="{ty - 5:.1f}">'
                   f"{escape(label)}</text></g>")
    if legend:
        out.append('<g class="legend">')
        for i, s in enumerate(data.series):
            lx = LEFT + (i % 4) * (plot_w / 4)
            ly = full_h + LEGEND_ROW * (i // 4) + 8
            colour = COLOURS[i % len(COLOURS)]
            out.append(f'<rect class="s{i % len(COLOURS)}" fill="{colour}" x="{lx:.1f}" y="{ly - 9:.1f}" '
                       f'width="10" height="10"/><text x="{lx + 14:.1f}" y="{ly:.1f}">'
                       f"{escape(_short(s.name, plot_w / 4 - 20))}<title>{escape(s.name)}</title></text>")
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _bars(data: ChartData, slot: float, y: Callable[[float], float], base: float) -> list[str]:
    """Bars side by side per category (one per series), or stacked."""
    out: list[str] = []
    stacked = data.kind == "stacked_bar"
    groups = 1 if stacked else len(data.series)
    inner = slot * 0.8
    bar_w = max(inner / groups, 1.0)
    for i, cat in enumerate(data.categories):
        x0 = LEFT + slot * i + slot * 0.1
        height_so_far = 0.0
        for j, s in enumerate(data.series):
            v = s.values[i]
            if v is None:
                continue
            colour = COLOURS[j % len(COLOURS)]
            name = f"{cat} · {s.name}" if len(data.series) > 1 else cat
            tip = f"<title>{escape(name)}: {escape(_fmt(v, data.unit))}</title>"
            if stacked:
                top, bottom = y(height_so_far + v), y(height_so_far)
                height_so_far += v
                x = x0
            else:
                top, bottom = y(v), base
                x = x0 + j * bar_w
            out.append(f'<rect class="bar s{j % len(COLOURS)}" fill="{colour}" x="{x:.1f}" y="{top:.1f}" '
                       f'width="{max(bar_w - 1, 0.5):.1f}" height="{max(bottom - top, 0):.1f}">{tip}</rect>')
    return out


def _lines(data: ChartData, slot: float, y: Callable[[float], float]) -> list[str]:
    """A line per series with a point per value."""
    out: list[str] = []
    for j, s in enumerate(data.series):
        colour = COLOURS[j % len(COLOURS)]
        points = [(LEFT + slot * (i + 0.5), y(v), i, v) for i, v in enumerate(s.values) if v is not None]
        if not points:
            continue
        # a gap (no value) breaks the line rather than bridging it
        path, prev = [], -2
        for x, py, i, _v in points:
            path.append(f"{'L' if i == prev + 1 else 'M'}{x:.1f},{py:.1f}")
            prev = i
        out.append(f'<path class="line s{j % len(COLOURS)}" fill="none" stroke="{colour}" stroke-width="2" '
                   f'd="{" ".join(path)}"/>')
        for x, py, i, v in points:
            name = f"{data.categories[i]} · {s.name}" if len(data.series) > 1 else data.categories[i]
            out.append(f'<circle class="point s{j % len(COLOURS)}" fill="{colour}" cx="{x:.1f}" cy="{py:.1f}" r="3">'
                       f"<title>{escape(name)}: {escape(_fmt(v, data.unit))}</title></circle>")
    return out


def series_of(rows: Sequence[tuple[tuple[str, ...], float | None]], dims: int,
              name: str) -> tuple[tuple[str, ...], tuple[Series, ...]]:
    """Categories and series from table rows ``(labels, value)``: the second dimension, if any, splits series."""
    if dims <= 1:
        cats = tuple(labels[0] if labels else name for labels, _v in rows)
        return cats, (Series(name, tuple(v for _l, v in rows)),)
    cats_seen: dict[str, None] = {}
    names: dict[str, None] = {}
    cells: dict[tuple[str, str], float | None] = {}
    for labels, v in rows:
        cats_seen.setdefault(labels[0])
        names.setdefault(labels[1])
        cells[(labels[0], labels[1])] = v
    cats = tuple(cats_seen)
    return cats, tuple(Series(n, tuple(cells.get((c, n)) for c in cats)) for n in names)
