"""The flow diagram: well-formed SVG, every label shown, escaped, deterministic, nothing overlapping."""

from __future__ import annotations

import itertools
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from markupsafe import Markup

from engine.render.diagram import flow_svg, text_width
from engine.schema import Catalog, CompiledFlow, check_definitions, label_text

ROOT = Path(__file__).resolve().parents[2]
DEFS = ROOT / "definitions"
SVG = "{http://www.w3.org/2000/svg}"
LANGS = ("en", "zh")
EVIL = "<script>alert(1)</script> & co"

Rect = tuple[float, float, float, float]


def compile_dir(path: Path) -> Catalog:
    result = check_definitions(path)
    assert result.catalog is not None, [d.render() for d in result.diagnostics]
    return result.catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return compile_dir(DEFS)


def edited_copy(tmp_path: Path, flow: str, *replacements: tuple[str, str]) -> Catalog:
    copy = tmp_path / "defs"
    shutil.copytree(DEFS, copy)
    path = copy / "flows" / f"{flow}.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return compile_dir(copy)


def parse(svg: Markup) -> ET.Element:
    root = ET.fromstring(str(svg))
    assert root.tag == f"{SVG}svg"
    return root


def classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def find(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}{tag}") if cls in classes(el)]


def node_texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in find(root, "text", "node-text")]


def edge_label_lines(root: ET.Element) -> list[str]:
    return ["".join(span.itertext()) for g in find(root, "g", "edge-label") for span in g.iter(f"{SVG}tspan")]


def rect_of(el: ET.Element) -> Rect:
    return (float(el.get("x", 0)), float(el.get("y", 0)), float(el.get("width", 0)), float(el.get("height", 0)))


def overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def boxes(root: ET.Element) -> list[Rect]:
    """Node rectangles and the backgrounds of edge labels."""
    nodes = [rect_of(r) for r in find(root, "rect", "node-box")]
    labels = [rect_of(r) for g in find(root, "g", "edge-label") for r in g.iter(f"{SVG}rect")]
    return nodes + labels


def flow_cases() -> list[tuple[str, str]]:
    return [(name, lang) for name in sorted(compile_dir(DEFS).flows) for lang in LANGS]


@pytest.mark.parametrize(("name", "lang"), flow_cases())
def test_every_shipped_flow_renders_with_every_label(catalog: Catalog, name: str, lang: str) -> None:
    flow = catalog.flows[name]
    svg = flow_svg(flow, lang)
    assert isinstance(svg, Markup)
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    shown_states = node_texts(root)
    for sid, state in flow.states.items():
        assert label_text(state.label, lang, sid) in shown_states
    lines = edge_label_lines(root)
    for tr in flow.transitions.values():
        assert label_text(tr.label, lang, tr.id) in lines
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text
    for tr in flow.transitions.values():
        assert label_text(tr.label, lang, tr.id) in desc.text


@pytest.mark.parametrize(("name", "lang"), flow_cases())
def test_nodes_and_labels_never_overlap_and_fit_the_view_box(catalog: Catalog, name: str, lang: str) -> None:
    flow = catalog.flows[name]
    root = parse(flow_svg(flow, lang, current=flow.initial))
    rects = boxes(root)
    assert len(find(root, "rect", "node-box")) == len(flow.states)
    for a, b in itertools.combinations(rects, 2):
        assert not overlap(a, b), (a, b)
    _, _, width, height = (float(v) for v in root.get("viewBox", "").split())
    for x, y, w, h in rects:
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height


def test_title_and_description(catalog: Catalog) -> None:
    root = parse(flow_svg(catalog.flows["repair"], "en"))
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text == "Flow Equipment repair (repair): 7 states, 9 transitions"
    assert desc is not None and desc.text
    assert "Accept: Reported → Accepted" in desc.text
    assert "Cancel: Reported, Accepted → Cancelled" in desc.text
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")
    zh = parse(flow_svg(catalog.flows["repair"], "zh")).find(f"{SVG}title")
    assert zh is not None and zh.text == "流程 设备维修（repair）：7 个状态、9 个流转"


def test_approval_outcomes_are_drawn(catalog: Catalog) -> None:
    root = parse(flow_svg(catalog.flows["expense_approval"], "en"))
    approvals = {(p.get("data-from"), p.get("data-to")) for p in find(root, "path", "edge-approval")}
    assert approvals == {("approval", "approved"), ("approval", "rejected"), ("approval", "draft")}
    assert "Rejected by Manager" in edge_label_lines(root)


def test_current_state_is_marked(catalog: Catalog) -> None:
    root = parse(flow_svg(catalog.flows["repair"], "en", current="in_repair"))
    marked = [g for g in root.iter(f"{SVG}g") if g.get("aria-current")]
    assert len(marked) == 1
    assert marked[0].get("data-state") == "in_repair"
    assert "current" in classes(marked[0])
    box = marked[0].find(f"{SVG}rect[@class='node-box']")
    assert box is not None and float(box.get("stroke-width", 0)) > 2
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "Current state: In repair." in (desc.text or "")


def test_unknown_or_no_current_state_marks_nothing(catalog: Catalog) -> None:
    for current in (None, "no_such_state"):
        svg = flow_svg(catalog.flows["repair"], "en", current=current)
        assert "aria-current" not in svg


def test_nodes_are_coloured_by_category_with_a_fallback(catalog: Catalog) -> None:
    flow = catalog.flows["repair"]
    root = parse(flow_svg(flow, "en"))
    for g in find(root, "g", "node"):
        sid = g.get("data-state")
        assert sid is not None
        assert f"st-{flow.category(sid)}" in classes(g)
        rect = g.find(f"{SVG}rect[@class='node-box']")
        assert rect is not None and (rect.get("fill") or "").startswith("#")
    initial = find(root, "g", "initial-mark")
    assert len(initial) == 1


def test_back_edges_and_self_loops(catalog: Catalog) -> None:
    root = parse(flow_svg(catalog.flows["repair"], "en"))
    back = {(p.get("data-from"), p.get("data-to")) for p in find(root, "path", "edge-back")}
    assert ("done", "in_repair") in back  # reopen
    assert ("waiting_parts", "in_repair") in back  # parts arrived
    assert ("accepted", "reported") in back  # hand over
    loops = {(p.get("data-from"), p.get("data-to")) for p in find(root, "path", "edge-self")}
    assert loops == {("reported", "reported")}
    forward = {(p.get("data-from"), p.get("data-to")) for p in find(root, "path", "edge-forward")}
    assert ("reported", "accepted") in forward and not forward & back


def test_labels_from_yaml_are_escaped(tmp_path: Path) -> None:
    catalog = edited_copy(
        tmp_path, "repair",
        ("label: {en: In repair, zh: 维修中}", f'label: {{en: "{EVIL}", zh: 维修中}}'),
        ("label: {en: Accept, zh: 接单}", f'label: {{en: "{EVIL}", zh: 接单}}'),
    )
    svg = flow_svg(catalog.flows["repair"], "en", current="in_repair")
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in svg
    root = parse(svg)
    assert EVIL in node_texts(root)
    assert EVIL in edge_label_lines(root)
    assert root.find(f"{SVG}script") is None


def test_any_state_transitions_are_drawn_once(tmp_path: Path) -> None:
    catalog = edited_copy(
        tmp_path, "repair",
        ("      from: [reported, accepted]\n      to: cancelled", '      from: "*"\n      to: cancelled'),
    )
    flow = catalog.flows["repair"]
    for lang in LANGS:
        root = parse(flow_svg(flow, lang))
        anys = find(root, "g", "st-any")
        assert len(anys) == 1
        into_cancelled = [p for p in find(root, "path", "edge") if p.get("data-to") == "cancelled"]
        assert [p.get("data-from") for p in into_cancelled] == ["*"]
        assert "edge-any" in classes(into_cancelled[0])
        assert edge_label_lines(root).count(label_text(flow.transitions["cancel"].label, lang, "cancel")) == 1
        for a, b in itertools.combinations(boxes(root), 2):
            assert not overlap(a, b)


def test_output_is_deterministic(catalog: Catalog) -> None:
    again = compile_dir(DEFS)
    for name, flow in catalog.flows.items():
        for lang in LANGS:
            first = flow_svg(flow, lang, current=flow.initial)
            assert first == flow_svg(flow, lang, current=flow.initial)
            assert first == flow_svg(again.flows[name], lang, current=flow.initial)


def test_chinese_labels_get_wider_boxes(catalog: Catalog) -> None:
    assert text_width("门店处理中", 13) > 1.6 * text_width("abcde", 13)
    flow: CompiledFlow = catalog.flows["store_complaint"]
    root = parse(flow_svg(flow, "zh"))
    for g in find(root, "g", "node"):
        rect = g.find(f"{SVG}rect[@class='node-box']")
        text = g.find(f"{SVG}text")
        assert rect is not None and text is not None
        assert float(rect.get("width", 0)) >= text_width(text.text or "", 13)


def test_no_script_or_external_reference(catalog: Catalog) -> None:
    for flow in catalog.flows.values():
        svg = str(flow_svg(flow, "en"))
        assert "<script" not in svg and "href" not in svg
        assert re.findall(r'url\(#([^)]*)\)', svg) and all(
            f'id="{ref}"' in svg for ref in re.findall(r'url\(#([^)]*)\)', svg)
        )
