"""Where each box of the graph picture goes: a small layered (Sugiyama-style) layout, computed once.

The picture draws the output(s) on top and the leaves at the bottom; arrows follow
``next_functions`` (from a node to its inputs), the way the gradient flows. Steps, all iterative:

1. choose the nodes: breadth first from the outputs, at most ``MAX_NODES`` (first display costs
   the same for a 10⁵-node graph as for a 10-node one); a drawn node with inputs left out gets
   one "⋯ n more" box for them;
2. layers by longest path from the outputs (every arrow points down), leaves on the bottom layer;
3. edges longer than one layer pass through invisible points, one per layer crossed;
4. order within each layer by the barycenter of the neighbours, sweeping down and up a few times
   (fewer crossings);
5. x positions: boxes side by side in that order, then pulled towards their neighbours' centres
   in a few passes that keep the order and the gaps.

No dependency: a graph of a few hundred boxes lays out in milliseconds, and the same layout feeds
the static SVG and the widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .graph_text import box_lines, edge_label

if TYPE_CHECKING:
    from ..graph import GraphNode, GraphReport

__all__ = ["Box", "Edge", "Layout", "layout", "MAX_NODES", "MOST_NODES"]

#: nodes drawn at first; the others are counted in "⋯ n more" boxes and listed in the tree view
#: (the widget's "draw more" doubles it, up to ``MOST_NODES``)
MAX_NODES = 40
MOST_NODES = 1600
#: text metrics of the picture (px): a monospace-ish estimate, good enough to size boxes
CHAR_W = 6.6
LINE_H = 15
PAD_X, PAD_Y = 8, 6
GAP_X, GAP_Y = 24, 46
#: boxes are at most this wide; longer lines are cut with an ellipsis
MAX_CHARS = 48
_SWEEPS = 4
_PULLS = 6


@dataclass
class Box:
    """One box: a node (``node`` its id) or, with ``node`` 0, the "⋯ n more" stand-in for inputs
    that were not drawn (``more`` of them, under ``owner``)."""

    key: int
    node: int
    lines: list[str]
    kind: str
    layer: int = 0
    x: float = 0.0  # centre
    y: float = 0.0  # top
    w: float = 0.0
    h: float = 0.0
    more: int = 0
    owner: int = 0
    title: str = ""


@dataclass
class Edge:
    """An arrow from a box (the node using the value) to one of its inputs, through ``points``."""

    source: int  # box key of the user
    target: int  # box key of the input
    label: str | None
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Layout:
    boxes: dict[int, Box]
    edges: list[Edge]
    width: float
    height: float
    drawn: int  # graph nodes drawn
    total: int  # graph nodes in the report

    @property
    def complete(self) -> bool:
        return self.drawn == self.total


def layout(report: GraphReport, max_nodes: int = MAX_NODES) -> Layout:
    """The picture's layout of ``report`` (at most ``max_nodes`` nodes, chosen breadth first)."""
    chosen, nodes = _choose(report, max_nodes)
    boxes: dict[int, Box] = {}
    edges: list[tuple[int, int, str | None]] = []
    users: dict[int, int] = {}
    next_key = report.count + 1
    for node_id in chosen:
        node = nodes[node_id]
        left_out = 0
        for position, child in enumerate(node.children):
            if child is None:
                continue
            if child in nodes:
                edges.append((node_id, child, edge_label(node, position) if report.flow else None))
                users[child] = users.get(child, 0) + 1
            else:
                left_out += 1
        if left_out:
            key = next_key
            next_key += 1
            boxes[key] = Box(key, 0, [f"⋯ {left_out:,} more input{'s' if left_out != 1 else ''}", "(in the tree view)"],
                             "more", more=left_out, owner=node_id)
            edges.append((node_id, key, None))
    for node_id in chosen:
        node = nodes[node_id]
        lines = box_lines(node, report.flow, report.details_limit, users=users.get(node_id, 0))
        lines[0] = f"#{node_id} {lines[0]}"
        boxes[node_id] = Box(node_id, node_id, [_cut(line) for line in lines], node.kind)
    _layers(boxes, edges)
    order, chains = _with_dummies(boxes, edges)
    _order(order, chains)
    width, height = _positions(boxes, order, chains)
    drawn_edges = []
    for (source, target, label), path in zip(edges, chains["paths"]):
        s, t = boxes[source], boxes[target]
        middle = [chains["points"][p] for p in path]
        after = middle[0][0] if middle else t.x
        before = middle[-1][0] if middle else s.x
        # ends spread along the boxes' edges, towards the other end, so arrows do not meet in one point
        points = [(_towards(s, after), s.y + s.h)] + middle + [(_towards(t, before), t.y)]
        drawn_edges.append(Edge(source, target, label, points))
    return Layout(boxes, drawn_edges, width, height, len(chosen), report.count)


def _towards(box: Box, x: float) -> float:
    """A point on the box's top or bottom edge, moved from its centre towards ``x``."""
    reach = max(0.0, box.w / 2 - 10)
    return box.x + max(-reach, min(reach, (x - box.x) * 0.5))


def _choose(report: GraphReport, limit: int) -> tuple[list[int], dict[int, GraphNode]]:
    """The first ``limit`` nodes breadth first from the roots (the levels nearest the output)."""
    nodes: dict[int, GraphNode] = {}
    queue = list(report.roots)
    i = 0
    while i < len(queue) and len(nodes) < limit:
        node_id = queue[i]
        i += 1
        if node_id in nodes:
            continue
        node = nodes[node_id] = report.node(node_id)
        queue.extend(c for c in node.children if c is not None and c not in nodes)
    return list(nodes), nodes


def _cut(line: str) -> str:
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"


def _layers(boxes: dict[int, Box], edges: list[tuple[int, int, str | None]]) -> None:
    """Longest-path layers from the roots (Kahn's order), then leaves and stand-ins at the bottom."""
    kids: dict[int, list[int]] = {k: [] for k in boxes}
    indegree = dict.fromkeys(boxes, 0)
    for source, target, _ in edges:
        kids[source].append(target)
        indegree[target] += 1
    ready = [k for k in boxes if not indegree[k]]
    for k in ready:
        boxes[k].layer = 0
    while ready:
        k = ready.pop()
        below = boxes[k].layer + 1
        for child in kids[k]:
            if below > boxes[child].layer:
                boxes[child].layer = below
            indegree[child] -= 1
            if not indegree[child]:
                ready.append(child)
    bottom = max((b.layer for b in boxes.values()), default=0)
    for b in boxes.values():
        if b.kind == "leaf":  # the inputs side by side on the bottom row, as courses draw them
            b.layer = bottom


def _with_dummies(boxes: dict[int, Box], edges: list[tuple[int, int, str | None]]):
    """Per layer, the keys in it (boxes and invisible points of long edges, negative keys)."""
    bottom = max((b.layer for b in boxes.values()), default=0)
    order: list[list[int]] = [[] for _ in range(bottom + 1)]
    for key, b in boxes.items():
        order[b.layer].append(key)
    ups: dict[int, list[int]] = {}  # key -> keys one layer up that link to it
    downs: dict[int, list[int]] = {}
    paths: list[list[int]] = []
    layer_of: dict[int, int] = {k: b.layer for k, b in boxes.items()}
    dummy = -1
    for source, target, _ in edges:
        path = []
        previous = source
        for layer in range(boxes[source].layer + 1, boxes[target].layer):
            order[layer].append(dummy)
            layer_of[dummy] = layer
            path.append(dummy)
            downs.setdefault(previous, []).append(dummy)
            ups.setdefault(dummy, []).append(previous)
            previous = dummy
            dummy -= 1
        downs.setdefault(previous, []).append(target)
        ups.setdefault(target, []).append(previous)
        paths.append(path)
    return order, {"ups": ups, "downs": downs, "paths": paths, "layer": layer_of, "points": {}}


def _order(order: list[list[int]], chains) -> None:
    """Barycenter sweeps: each layer sorted by the mean position of its neighbours in the layer
    above (going down) or below (going up); a key without neighbours keeps its place."""
    ups, downs = chains["ups"], chains["downs"]
    for sweep in range(_SWEEPS):
        layers = range(1, len(order)) if sweep % 2 == 0 else range(len(order) - 2, -1, -1)
        for i in layers:
            near = order[i - 1] if sweep % 2 == 0 else order[i + 1]
            where = {k: p for p, k in enumerate(near)}
            links = ups if sweep % 2 == 0 else downs
            keyed = []
            for p, k in enumerate(order[i]):
                ps = [where[n] for n in links.get(k, ()) if n in where]
                keyed.append((sum(ps) / len(ps) if ps else p, p, k))
            keyed.sort()
            order[i] = [k for _, _, k in keyed]


def _positions(boxes: dict[int, Box], order: list[list[int]], chains) -> tuple[float, float]:
    """Sizes from the text, x by order then pulled towards neighbours, y by layer."""
    widths: dict[int, float] = {}
    for key, b in boxes.items():
        b.w = max(len(line) for line in b.lines) * CHAR_W + 2 * PAD_X
        b.h = len(b.lines) * LINE_H + 2 * PAD_Y
        widths[key] = b.w
    x: dict[int, float] = {}
    for row in order:
        cursor = 0.0
        for k in row:
            w = widths.get(k, 8.0)
            x[k] = cursor + w / 2
            cursor += w + GAP_X
    ups, downs = chains["ups"], chains["downs"]
    for sweep in range(_PULLS):
        # alternately down (towards the users above) and up (towards the inputs below), and last
        # both ways: each row settles under or over what it links to
        links = (ups,) if sweep % 3 == 0 else (downs,) if sweep % 3 == 1 else (ups, downs)
        rows = order if sweep % 3 != 1 else order[::-1]
        for row in rows:
            wanted = []
            for k in row:
                near = [x[n] for m in links for n in m.get(k, ())]
                wanted.append(sum(near) / len(near) if near else x[k])
            # keep the order and the gaps: left to right, then right to left
            placed = []
            for i, k in enumerate(row):
                w = widths.get(k, 8.0)
                low = placed[-1][0] + placed[-1][1] / 2 + GAP_X + w / 2 if placed else -1e18
                placed.append((max(wanted[i], low), w))
            for i in range(len(placed) - 2, -1, -1):
                centre, w = placed[i]
                high = placed[i + 1][0] - placed[i + 1][1] / 2 - GAP_X - w / 2
                placed[i] = (min(centre, high), w)
            for (centre, _), k in zip(placed, row):
                x[k] = centre
    left = min((x[k] - widths.get(k, 8.0) / 2 for row in order for k in row), default=0.0)
    right = max((x[k] + widths.get(k, 8.0) / 2 for row in order for k in row), default=0.0)
    margin = 10.0
    y = margin
    tops = []
    for row in order:
        tops.append(y)
        tallest = max((boxes[k].h for k in row if k in boxes), default=LINE_H)
        y += tallest + GAP_Y
    for i, row in enumerate(order):
        for k in row:
            cx = x[k] - left + margin
            if k in boxes:
                boxes[k].x, boxes[k].y = cx, tops[i]
            else:
                chains["points"][k] = (cx, tops[i] + LINE_H)
    return right - left + 2 * margin, y - GAP_Y + margin
