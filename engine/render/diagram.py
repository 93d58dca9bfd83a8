"""A ticket Flow drawn as a state diagram in inline SVG, laid out and rendered on the server.

``flow_svg(flow, lang, current=...)`` is pure: the same flow, language and current state always give
the same string, with no script and nothing fetched. The layout is a small layered (Sugiyama-style)
drawing:

1. Graph. One node per state, plus one "any unfinished state" node when some transition starts from
   ``*`` — such a transition is drawn once, from that node, not once per source. A transition with a
   list of sources gives one edge per source; approvals add their outcomes (approved, rejected, a
   level's own rejection) as dashed edges. Edges with the same ends and kind are merged and their
   labels stacked.
2. Back edges. A depth-first search from the initial state, following transitions in declaration
   order, finds the edges that close a loop (reopen, send back, parts arrived…); edges into the initial
   state always count as such. They are reversed for the layout only.
3. Columns. A state's column is its longest-path depth in that acyclic graph (the initial state is 0).
4. Ranks. Even ranks are the state columns, odd ranks the channels between them. An edge gets one
   waypoint in every rank it crosses: its label box in the channel at its middle, thin dummies
   elsewhere. Labels and long edges are thus laid out like nodes and never overlap them or each other.
5. Order. Barycentre sweeps, down and up, reorder every rank to reduce crossings; the order with the
   fewest crossings seen is kept.
6. Heights. Alternating sweeps pull each item towards the mean height of its neighbours in the
   previous rank; pool-adjacent-violators then puts the rank at least-squares distance from those wishes
   while keeping its order and minimum gaps. Forward edges come out straight or gently curved; a back
   edge runs through its own waypoints, above or below the forward ones.
7. Drawing. A path runs straight through each waypoint's column and as a cubic S-curve across the
   gaps between columns; the ports on a node's side are spread in the order of the other ends' heights.
   A back edge is drawn against the layout direction, so it enters its target from the right.
   Self-loops sit on top of their node, their labels above them.

Text widths are estimated from the characters (wide CJK characters count about twice a Latin letter),
so Chinese labels fit their boxes. Colours come both as CSS classes (``st-<category>``) and as inline
presentation attributes, which a page stylesheet overrides but which read without it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from markupsafe import Markup, escape

from engine.schema import CompiledFlow, label_text
from engine.schema.model import LocalizedText

__all__ = ["CATEGORY_COLOURS", "flow_svg"]

# category -> (fill, stroke); the same colours belong in the page stylesheet under .st-<category>
CATEGORY_COLOURS: Mapping[str, tuple[str, str]] = {
    "open": ("#dbeafe", "#2563eb"),
    "active": ("#fef3c7", "#b45309"),
    "waiting": ("#ede9fe", "#7c3aed"),
    "resolved": ("#dcfce7", "#15803d"),
    "closed": ("#e5e7eb", "#4b5563"),
    "cancelled": ("#fee2e2", "#b91c1c"),
}
ANY_COLOURS = ("#ffffff", "#6b7280")
INK = "#1f2937"
EDGE_INK = "#4b5563"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif"

ANY = "*"  # key of the "any unfinished state" node; no state id can be "*"

NODE_FONT = 13.0
NODE_H = 34.0
NODE_PAD = 14.0
NODE_MIN_W = 64.0
LABEL_FONT = 11.0
LABEL_LINE = 14.0
LABEL_PAD = 4.0
DUMMY_H = 2.0
ITEM_GAP = 14.0  # vertical gap between items of a rank
RANK_GAP = 36.0  # horizontal gap between ranks, where the edges curve
CHANNEL_MIN_W = 12.0
LOOP_RISE = 26.0  # height of a self-loop above its node
MARGIN = 12.0
INITIAL_MARK = 28.0  # room on the left for the initial-state dot and arrow
PORT_STEP = 7.0
SWEEPS = 6

WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "any": "Any unfinished state",
        "approved": "Approved",
        "rejected": "Rejected",
        "rejected_by": "Rejected by {level}",
        "title": "Flow {label} ({name}): {counts}",
        "initial": "Initial state: {state}.",
        "current": "Current state: {state}.",
        "transitions": "Transitions: {items}.",
        "approvals": "Approval outcomes: {items}.",
        "sep": "; ",
        "colon": ": ",
        "list": ", ",
        "legend": "Categories",
    },
    "zh": {
        "any": "任一未结束状态",
        "approved": "审批通过",
        "rejected": "审批驳回",
        "rejected_by": "{level}驳回",
        "title": "流程 {label}（{name}）：{counts}",
        "initial": "初始状态：{state}。",
        "current": "当前状态：{state}。",
        "transitions": "流转：{items}。",
        "approvals": "审批结果：{items}。",
        "sep": "；",
        "colon": "：",
        "list": "、",
        "legend": "状态类别",
    },
}
COUNT_WORDS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "en": {"state": ("state", "states"), "transition": ("transition", "transitions"),
           "approval": ("approval", "approvals")},
    "zh": {"state": ("个状态", "个状态"), "transition": ("个流转", "个流转"), "approval": ("个审批", "个审批")},
}
CATEGORY_NAMES: Mapping[str, Mapping[str, str]] = {
    "en": {"open": "Open", "active": "Active", "waiting": "Waiting", "resolved": "Resolved",
           "closed": "Closed", "cancelled": "Cancelled"},
    "zh": {"open": "待开始", "active": "进行中", "waiting": "等待中", "resolved": "已解决",
           "closed": "已关闭", "cancelled": "已取消"},
}


# ---------------------------------------------------------------------------------------------- text


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _lang(lang: str) -> str:
    return "zh" if lang.lower().startswith("zh") else "en"


def _clean(text: str) -> str:
    """One line of text that is safe in XML once escaped: control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _pick(label: str | LocalizedText | None, lang: str, default: str) -> str:
    """The label in ``lang``, else in the other language, else ``default`` (an id)."""
    return _clean(label_text(label, lang, default)) or default


def _char_em(ch: str) -> float:
    if unicodedata.combining(ch):
        return 0.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if ch in "ijlI.,:;'!|":
        return 0.3
    if ch in "ftr -()[]/":
        return 0.4
    if ch in "mwMW@%":
        return 0.9
    if ch.isupper():
        return 0.7
    return 0.58


def text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` at font ``size``; a wide (CJK) character counts about two Latin ones."""
    return sum(_char_em(ch) for ch in text) * size


def _esc(text: str) -> str:
    return str(escape(text))


def _num(x: float) -> str:
    s = f"{x:.1f}"
    s = s.rstrip("0").rstrip(".") if "." in s else s
    return "0" if s == "-0" else s


# --------------------------------------------------------------------------------------------- graph


@dataclass
class _Node:
    key: str
    text: str
    category: str  # a state category, or "any"
    width: float
    loop: list[str] = field(default_factory=list)  # labels of the self-loop, if any
    title: str = ""


@dataclass
class _Edge:
    src: str
    dst: str
    kind: str  # "transition", "approval" or "any"
    labels: list[str]
    back: bool = False
    chain: list[str] = field(default_factory=list)  # item keys, in layout order (left to right)

    @property
    def head(self) -> str:
        """The node the edge leaves in layout order (its target when it is a back edge)."""
        return self.dst if self.back else self.src

    @property
    def tail(self) -> str:
        return self.src if self.back else self.dst


@dataclass
class _Graph:
    nodes: dict[str, _Node]
    edges: list[_Edge]
    initial: str


def _words(lang: str) -> Mapping[str, str]:
    return WORDS[_lang(lang)]


def _raw_edges(flow: CompiledFlow, lang: str) -> list[tuple[str, str, str, str]]:
    """(source, target, kind, label) for every transition source and approval outcome."""
    words = _words(lang)
    states = list(flow.states)
    out: list[tuple[str, str, str, str]] = []
    for tr in flow.transitions.values():
        text = _pick(tr.label, lang, tr.id)
        if tr.from_ == "*":
            out.append((ANY, tr.to, "any", text))
            continue
        out.extend((src, tr.to, "transition", text) for src in tr.sources(states))
    for ap in flow.approvals.values():
        out.append((ap.state, ap.on_approved, "approval", words["approved"]))
        for lv in ap.levels:
            if lv.on_rejected:
                level = _pick(lv.label, lang, lv.id)
                out.append((ap.state, lv.on_rejected, "approval", words["rejected_by"].format(level=level)))
        out.append((ap.state, ap.on_rejected, "approval", words["rejected"]))
    return out


def _state_title(flow: CompiledFlow, key: str, lang: str, text: str) -> str:
    state = flow.states[key]
    parts = [f"{text} ({key})"]
    if state.description is not None:
        parts.append(_pick(state.description, lang, ""))
    return " — ".join(p for p in parts if p)


def _build_graph(flow: CompiledFlow, lang: str) -> _Graph:
    nodes: dict[str, _Node] = {}
    for key, state in flow.states.items():
        text = _pick(state.label, lang, key)
        category = state.category if state.category in CATEGORY_COLOURS else "open"
        nodes[key] = _Node(key, text, category, _node_width(text), title=_state_title(flow, key, lang, text))
    merged: dict[tuple[str, str, str], list[str]] = {}
    for src, dst, kind, text in _raw_edges(flow, lang):
        if dst not in nodes or (src not in nodes and src != ANY):
            continue  # a checked catalog has none; never fail on a drawing
        labels = merged.setdefault((src, dst, kind), [])
        if text not in labels:
            labels.append(text)
    if any(src == ANY for src, _, _ in merged):
        text = _words(lang)["any"]
        nodes[ANY] = _Node(ANY, text, "any", _node_width(text), title=text)
    edges: list[_Edge] = []
    for (src, dst, kind), labels in merged.items():
        if src == dst:
            nodes[src].loop.extend(label for label in labels if label not in nodes[src].loop)
        else:
            edges.append(_Edge(src, dst, kind, labels))
    return _Graph(nodes, edges, flow.initial if flow.initial in nodes else next(iter(nodes)))


def _node_width(text: str) -> float:
    return max(NODE_MIN_W, text_width(text, NODE_FONT) + 2 * NODE_PAD)


def _label_size(labels: Sequence[str]) -> tuple[float, float]:
    width = max(text_width(label, LABEL_FONT) for label in labels) + 2 * LABEL_PAD
    return width, len(labels) * LABEL_LINE + LABEL_PAD


# ------------------------------------------------------------------------------ back edges and layers


def _mark_back_edges(graph: _Graph) -> None:
    """Depth-first from the initial state: an edge to a node still on the stack closes a loop."""
    out: dict[str, list[_Edge]] = {key: [] for key in graph.nodes}
    for edge in graph.edges:
        out[edge.src].append(edge)
        edge.back = edge.dst == graph.initial
    roots = [graph.initial, *([ANY] if ANY in graph.nodes else []), *graph.nodes]
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, Iterable[_Edge]]] = [(root, iter(out[root]))]
        while stack:
            node, pending = stack[-1]
            for edge in pending:
                if edge.back:
                    continue
                if state.get(edge.dst) == 1:
                    edge.back = True
                elif edge.dst not in state:
                    state[edge.dst] = 1
                    stack.append((edge.dst, iter(out[edge.dst])))
                    break
            else:
                state[node] = 2
                stack.pop()


def _layers(graph: _Graph) -> dict[str, int]:
    """Longest-path depth of every node in the graph with its back edges reversed."""
    succ: dict[str, list[str]] = {key: [] for key in graph.nodes}
    indegree = dict.fromkeys(graph.nodes, 0)
    for edge in graph.edges:
        succ[edge.head].append(edge.tail)
        indegree[edge.tail] += 1
    layer = dict.fromkeys(graph.nodes, 0)
    queue = deque(key for key in graph.nodes if indegree[key] == 0)
    while queue:
        key = queue.popleft()
        for nxt in succ[key]:
            layer[nxt] = max(layer[nxt], layer[key] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    return layer


# ---------------------------------------------------------------------------------------------- ranks


@dataclass
class _Item:
    key: str
    rank: int
    width: float
    above: float  # extent above the anchor line
    below: float
    kind: str  # "node", "label" or "dummy"
    edge: int = -1
    y: float = 0.0


@dataclass
class _Layout:
    graph: _Graph
    items: dict[str, _Item]
    ranks: list[list[str]]
    segments: list[tuple[str, str]]  # (left item, right item) in adjacent ranks
    left: list[float] = field(default_factory=list)  # x of each rank's left side
    width: list[float] = field(default_factory=list)


def _node_item(node: _Node, rank: int) -> _Item:
    if not node.loop:
        return _Item(node.key, rank, node.width, NODE_H / 2, NODE_H / 2, "node")
    loop_w, loop_h = _label_size(node.loop)
    return _Item(node.key, rank, max(node.width, loop_w), NODE_H / 2 + LOOP_RISE + loop_h, NODE_H / 2, "node")


def _make_layout(graph: _Graph, layers: Mapping[str, int]) -> _Layout:
    count = 2 * max(layers.values()) + 1
    ranks: list[list[str]] = [[] for _ in range(count)]
    items: dict[str, _Item] = {}
    for key, node in graph.nodes.items():
        items[key] = _node_item(node, 2 * layers[key])
        ranks[2 * layers[key]].append(key)
    segments: list[tuple[str, str]] = []
    for index, edge in enumerate(graph.edges):
        first, last = 2 * layers[edge.head], 2 * layers[edge.tail]
        span = (last - first) // 2  # columns the edge crosses
        label_rank = first + 1 + 2 * ((span - 1) // 2)
        chain = [edge.head]
        for rank in range(first + 1, last):
            key = f"#{index}.{rank}"
            if rank == label_rank:
                width, height = _label_size(edge.labels)
                items[key] = _Item(key, rank, width, height / 2, height / 2, "label", index)
            else:
                items[key] = _Item(key, rank, 0.0, DUMMY_H / 2, DUMMY_H / 2, "dummy", index)
            ranks[rank].append(key)
            chain.append(key)
        chain.append(edge.tail)
        edge.chain = chain
        segments.extend(pairwise(chain))
    return _Layout(graph, items, ranks, segments)


# ---------------------------------------------------------------------------------------------- order


def _neighbours(layout: _Layout) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """For every item, its neighbours in the rank before and in the rank after."""
    before: dict[str, list[str]] = {key: [] for key in layout.items}
    after: dict[str, list[str]] = {key: [] for key in layout.items}
    for a, b in layout.segments:
        after[a].append(b)
        before[b].append(a)
    return before, after


def _crossings(layout: _Layout) -> int:
    pos = {key: i for rank in layout.ranks for i, key in enumerate(rank)}
    by_rank: dict[int, list[tuple[int, int]]] = {}
    for a, b in layout.segments:
        by_rank.setdefault(layout.items[a].rank, []).append((pos[a], pos[b]))
    total = 0
    for segs in by_rank.values():
        for i, (a1, b1) in enumerate(segs):
            total += sum(1 for a2, b2 in segs[i + 1:] if (a1 - a2) * (b1 - b2) < 0)
    return total


def _sweep(layout: _Layout, ranks: Iterable[int], neighbours: Mapping[str, list[str]], step: int) -> None:
    for r in ranks:
        pos = {key: i for i, key in enumerate(layout.ranks[r - step])}
        current = layout.ranks[r]

        def bary(item: tuple[int, str], pos: Mapping[str, int] = pos) -> tuple[float, int]:
            i, key = item
            near = [pos[n] for n in neighbours[key] if n in pos]
            return (sum(near) / len(near) if near else float(i), i)

        layout.ranks[r] = [key for _, key in sorted(enumerate(current), key=bary)]


def _order(layout: _Layout) -> None:
    """Barycentre sweeps; keep the order with the fewest crossings."""
    before, after = _neighbours(layout)
    last = len(layout.ranks) - 1
    best = [list(r) for r in layout.ranks]
    best_count = _crossings(layout)
    for _ in range(SWEEPS):
        for ranks, neighbours, step in ((range(1, last + 1), before, 1), (range(last - 1, -1, -1), after, -1)):
            _sweep(layout, ranks, neighbours, step)
            count = _crossings(layout)
            if count < best_count:
                best, best_count = [list(r) for r in layout.ranks], count
    layout.ranks = best


# -------------------------------------------------------------------------------------------- heights


def _isotonic(targets: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for t, w in zip(targets, weights, strict=True):
        blocks.append([t * w, w, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, w2, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += w2
            blocks[-1][2] += n
    out: list[float] = []
    for s, w, n in blocks:
        out.extend([s / w] * int(n))
    return out


def _place_rank(items: Sequence[_Item], wishes: Sequence[float]) -> None:
    """Anchor heights nearest to ``wishes`` that keep the order and the gaps between items."""
    offsets = [0.0]
    for a, b in pairwise(items):
        offsets.append(offsets[-1] + a.below + ITEM_GAP + b.above)
    weights = [2.0 if item.kind == "node" else 1.0 for item in items]
    fitted = _isotonic([w - o for w, o in zip(wishes, offsets, strict=True)], weights)
    for item, q, o in zip(items, fitted, offsets, strict=True):
        item.y = q + o


def _place_heights(layout: _Layout) -> None:
    before, after = _neighbours(layout)
    for rank in layout.ranks:
        y = 0.0
        for key in rank:
            item = layout.items[key]
            item.y = y + item.above
            y = item.y + item.below + ITEM_GAP
    last = len(layout.ranks) - 1
    for _ in range(SWEEPS):
        for ranks, neighbours in ((range(1, last + 1), before), (range(last - 1, -1, -1), after)):
            for r in ranks:
                items = [layout.items[key] for key in layout.ranks[r]]
                _place_rank(items, [_wish(layout, item, neighbours) for item in items])
    top = min(item.y - item.above for item in layout.items.values())
    for item in layout.items.values():
        item.y -= top - MARGIN


def _wish(layout: _Layout, item: _Item, neighbours: Mapping[str, list[str]]) -> float:
    near = [layout.items[key].y for key in neighbours[item.key]]
    return sum(near) / len(near) if near else item.y


def _place_columns(layout: _Layout) -> None:
    x = MARGIN + INITIAL_MARK
    for r, rank in enumerate(layout.ranks):
        floor = CHANNEL_MIN_W if r % 2 else NODE_MIN_W
        width = max([floor, *(layout.items[key].width for key in rank)])
        layout.left.append(x)
        layout.width.append(width)
        x += width + RANK_GAP


def _layout(flow: CompiledFlow, lang: str) -> _Layout:
    graph = _build_graph(flow, lang)
    _mark_back_edges(graph)
    layout = _make_layout(graph, _layers(graph))
    _order(layout)
    _place_heights(layout)
    _place_columns(layout)
    return layout


# -------------------------------------------------------------------------------------------- drawing


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def _node_box(layout: _Layout, key: str) -> _Box:
    item = layout.items[key]
    node = layout.graph.nodes[key]
    cx = layout.left[item.rank] + layout.width[item.rank] / 2
    return _Box(cx - node.width / 2, item.y - NODE_H / 2, node.width, NODE_H)


def _ports(layout: _Layout) -> dict[tuple[int, str], float]:
    """Height at which each edge leaves or enters each of its two nodes, spread along the node's side."""
    sides: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for index, edge in enumerate(layout.graph.edges):
        nxt, prev = layout.items[edge.chain[1]], layout.items[edge.chain[-2]]
        sides.setdefault((edge.head, "right"), []).append((nxt.y, index))
        sides.setdefault((edge.tail, "left"), []).append((prev.y, index))
    ports: dict[tuple[int, str], float] = {}
    for (key, _side), ends in sides.items():
        ends.sort()
        span = min(NODE_H - 12, PORT_STEP * (len(ends) - 1))
        centre = layout.items[key].y
        for i, (_, index) in enumerate(ends):
            offset = -span / 2 + (span * i / (len(ends) - 1) if len(ends) > 1 else 0.0)
            ports[(index, key)] = centre + offset
    return ports


def _curve(x0: float, y0: float, x1: float, y1: float) -> str:
    if abs(y1 - y0) < 0.5:
        return f"L{_num(x1)} {_num(y1)}"
    mid = (x1 - x0) / 2
    return f"C{_num(x0 + mid)} {_num(y0)} {_num(x1 - mid)} {_num(y1)} {_num(x1)} {_num(y1)}"


def _edge_points(layout: _Layout, index: int, ports: Mapping[tuple[int, str], float]) -> list[tuple[float, float]]:
    """Points of an edge in layout order: the head's port, in and out of every waypoint, the tail's port."""
    edge = layout.graph.edges[index]
    head, tail = _node_box(layout, edge.head), _node_box(layout, edge.tail)
    points = [(head.x + head.w, ports[(index, edge.head)])]
    for key in edge.chain[1:-1]:
        item = layout.items[key]
        points += [(layout.left[item.rank], item.y), (layout.left[item.rank] + layout.width[item.rank], item.y)]
    points.append((tail.x, ports[(index, edge.tail)]))
    return points


def _path(points: Sequence[tuple[float, float]]) -> str:
    """Curves across the gaps between ranks, straight lines through waypoint columns (odd segments)."""
    d = [f"M{_num(points[0][0])} {_num(points[0][1])}"]
    for i in range(1, len(points)):
        (x0, y0), (x1, y1) = points[i - 1], points[i]
        d.append(_curve(x0, y0, x1, y1) if i % 2 else f"L{_num(x1)} {_num(y1)}")
    return " ".join(d)


def _stroke(kind: str) -> str:
    dash = {"approval": ' stroke-dasharray="6 3"', "any": ' stroke-dasharray="2 3"'}.get(kind, "")
    return f'fill="none" stroke="{EDGE_INK}" stroke-width="1.4"{dash}'


def _draw_edge(layout: _Layout, index: int, ports: Mapping[tuple[int, str], float], marker: str) -> str:
    edge = layout.graph.edges[index]
    points = _edge_points(layout, index, ports)
    if edge.back:  # drawn from its real source, against the layout direction
        points = points[::-1]
    path = _path(points)
    direction = "edge-back" if edge.back else "edge-forward"
    return (f'<path class="edge {direction} edge-{edge.kind}" data-from="{_esc(edge.src)}" '
            f'data-to="{_esc(edge.dst)}" d="{path}" {_stroke(edge.kind)} marker-end="url(#{marker})"/>')


def _draw_label(cx: float, cy: float, labels: Sequence[str]) -> str:
    width, height = _label_size(labels)
    top = cy - height / 2
    rect = (f'<rect class="label-bg" x="{_num(cx - width / 2)}" y="{_num(top)}" width="{_num(width)}" '
            f'height="{_num(height)}" rx="3" fill="#ffffff" fill-opacity="0.92"/>')
    lines = "".join(
        f'<tspan x="{_num(cx)}" y="{_num(top + LABEL_PAD / 2 + LABEL_LINE * (i + 0.5) + LABEL_FONT * 0.35)}">'
        f"{_esc(text)}</tspan>"
        for i, text in enumerate(labels)
    )
    text = (f'<text class="label-text" text-anchor="middle" font-size="{_num(LABEL_FONT)}" fill="{INK}" '
            f'stroke="#ffffff" '
            f'stroke-width="3" stroke-linejoin="round" paint-order="stroke">{lines}</text>')
    return f'<g class="edge-label">{rect}{text}</g>'


def _edge_label(layout: _Layout, index: int) -> str:
    edge = layout.graph.edges[index]
    key = next(k for k in edge.chain if layout.items[k].kind == "label")
    item = layout.items[key]
    return _draw_label(layout.left[item.rank] + layout.width[item.rank] / 2, item.y, edge.labels)


def _draw_loop(box: _Box, node: _Node, marker: str) -> str:
    top = box.y
    d = (f"M{_num(box.cx + 10)} {_num(top)} C{_num(box.cx + 30)} {_num(top - LOOP_RISE * 1.3)} "
         f"{_num(box.cx - 30)} {_num(top - LOOP_RISE * 1.3)} {_num(box.cx - 10)} {_num(top)}")
    path = (f'<path class="edge edge-self edge-transition" data-from="{_esc(node.key)}" data-to="{_esc(node.key)}" '
            f'd="{d}" {_stroke("transition")} marker-end="url(#{marker})"/>')
    _, height = _label_size(node.loop)
    return path + _draw_label(box.cx, top - LOOP_RISE - height / 2, node.loop)


def _colours(category: str) -> tuple[str, str]:
    return ANY_COLOURS if category == "any" else CATEGORY_COLOURS[category]


def _draw_node(box: _Box, node: _Node, current: bool) -> str:
    fill, stroke = _colours(node.category)
    classes = f"node st-{node.category}" + (" current" if current else "")
    aria = ' aria-current="step"' if current else ""
    dash = ' stroke-dasharray="4 3"' if node.category == "any" else ""
    halo = ""
    if current:
        halo = (f'<rect class="current-halo" x="{_num(box.x - 5)}" y="{_num(box.y - 5)}" width="{_num(box.w + 10)}" '
                f'height="{_num(box.h + 10)}" rx="12" fill="{stroke}" fill-opacity="0.2"/>')
    rect = (f'<rect class="node-box" x="{_num(box.x)}" y="{_num(box.y)}" width="{_num(box.w)}" '
            f'height="{_num(box.h)}" rx="8" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{3 if current else 1.5}"{dash}/>')
    weight = ' font-weight="600"' if current else ""
    style = ' font-style="italic"' if node.category == "any" else ""
    text = (f'<text class="node-text" x="{_num(box.cx)}" y="{_num(box.cy + NODE_FONT * 0.35)}" text-anchor="middle" '
            f'font-size="{_num(NODE_FONT)}" fill="{INK}"{weight}{style}>{_esc(node.text)}</text>')
    state = f' data-state="{_esc(node.key)}"' if node.key != ANY else ""
    return f'<g class="{classes}"{state}{aria}><title>{_esc(node.title)}</title>{halo}{rect}{text}</g>'


def _draw_initial(box: _Box, marker: str) -> str:
    y = _num(box.cy)
    return (f'<g class="initial-mark"><circle cx="{_num(box.x - 22)}" cy="{y}" r="4.5" fill="{EDGE_INK}"/>'
            f'<path d="M{_num(box.x - 17)} {y}L{_num(box.x)} {y}" fill="none" stroke="{EDGE_INK}" '
            f'stroke-width="1.4" marker-end="url(#{marker})"/></g>')


def _defs(marker: str) -> str:
    return (f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
            f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">'
            f'<path class="arrowhead" d="M0 1L10 5L0 9z" fill="{EDGE_INK}"/></marker></defs>')


# --------------------------------------------------------------------------------------------- legend


def _legend(graph: _Graph, lang: str, top: float) -> tuple[str, float, float]:
    """Swatches of the categories the flow uses; returns the markup, its width and height."""
    used = {node.category for node in graph.nodes.values()}
    names = CATEGORY_NAMES[_lang(lang)]
    x = MARGIN
    parts: list[str] = []
    for category in CATEGORY_COLOURS:
        if category not in used:
            continue
        fill, stroke = CATEGORY_COLOURS[category]
        name = names[category]
        parts.append(
            f'<g class="legend-item st-{category}"><rect class="legend-swatch" x="{_num(x)}" y="{_num(top)}" '
            f'width="14" height="10" rx="3" fill="{fill}" stroke="{stroke}"/>'
            f'<text class="legend-text" x="{_num(x + 19)}" y="{_num(top + 9)}" font-size="{_num(LABEL_FONT)}" '
            f'fill="{INK}">'
            f"{_esc(name)}</text></g>"
        )
        x += 19 + text_width(name, LABEL_FONT) + 16
    label = _esc(_words(lang)["legend"])
    return f'<g class="legend" aria-label="{label}">{"".join(parts)}</g>', x, 14.0


# ------------------------------------------------------------------------------------- title and desc


def _count(lang: str, noun: str, n: int) -> str:
    one, many = COUNT_WORDS[_lang(lang)][noun]
    return f"{n} {one if n == 1 else many}" if _lang(lang) == "en" else f"{n} {one}"


def _title(flow: CompiledFlow, lang: str) -> str:
    counts = [_count(lang, "state", len(flow.states)), _count(lang, "transition", len(flow.transitions))]
    if flow.approvals:
        counts.append(_count(lang, "approval", len(flow.approvals)))
    words = _words(lang)
    label = _pick(flow.spec.label, lang, flow.name)
    return words["title"].format(label=label, name=flow.name, counts=words["list"].join(counts))


def _desc(flow: CompiledFlow, lang: str, current: str | None) -> str:
    words = _words(lang)

    def name(key: str) -> str:
        state = flow.states.get(key)
        return _pick(state.label, lang, key) if state else key

    moves: list[str] = []
    for tr in flow.transitions.values():
        sources = words["list"].join(name(s) for s in tr.sources(list(flow.states)))
        if tr.from_ == "*":
            sources = words["any"]
        moves.append(f"{_pick(tr.label, lang, tr.id)}{words['colon']}{sources} → {name(tr.to)}")
    outcomes = [f"{label}{words['colon']}{name(src)} → {name(dst)}"
                for src, dst, kind, label in _raw_edges(flow, lang) if kind == "approval"]
    parts = [words["initial"].format(state=name(flow.initial))]
    if current is not None and current in flow.states:
        parts.append(words["current"].format(state=name(current)))
    if moves:
        parts.append(words["transitions"].format(items=words["sep"].join(moves)))
    if outcomes:
        parts.append(words["approvals"].format(items=words["sep"].join(outcomes)))
    return " ".join(parts)


# --------------------------------------------------------------------------------------------- public


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "x"


def flow_svg(flow: CompiledFlow, lang: str = "en", *, current: str | None = None) -> Markup:
    """The flow as an inline ``<svg>`` state diagram in ``lang``, with ``current`` (a state id) highlighted."""
    layout = _layout(flow, lang)
    graph = layout.graph
    uid = f"gd-flow-{_slug(flow.name)}-{_lang(lang)}"
    marker = f"{uid}-arrow"
    ports = _ports(layout)
    body: list[str] = []
    body += [_draw_edge(layout, i, ports, marker) for i in range(len(graph.edges))]
    body += [_draw_initial(_node_box(layout, graph.initial), marker)]
    for key, node in graph.nodes.items():
        if node.loop:
            body.append(_draw_loop(_node_box(layout, key), node, marker))
    body += [_edge_label(layout, i) for i in range(len(graph.edges))]
    body += [_draw_node(_node_box(layout, key), node, key == current) for key, node in graph.nodes.items()]
    bottom = max(item.y + item.below for item in layout.items.values()) + MARGIN
    legend, legend_w, legend_h = _legend(graph, lang, bottom + 4)
    width = max(layout.left[-1] + layout.width[-1] + MARGIN, legend_w)
    height = bottom + 4 + legend_h + MARGIN
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="gd-flow" role="img" '
            f'aria-labelledby="{uid}-title" aria-describedby="{uid}-desc" '
            f'viewBox="0 0 {_num(width)} {_num(height)}" width="100%" '
            f'data-width="{_num(width)}" '  # sizes come from the page stylesheet: the CSP allows no inline style
            f'font-family="{_esc(FONT)}">')
    title = f'<title id="{uid}-title">{_esc(_title(flow, lang))}</title>'
    desc = f'<desc id="{uid}-desc">{_esc(_desc(flow, lang, current))}</desc>'
    return Markup(head + title + desc + _defs(marker) + "".join(body) + legend + "</svg>")
