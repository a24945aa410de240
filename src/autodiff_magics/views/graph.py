"""Views of a :class:`~autodiff_magics.graph.GraphReport`: the picture, a text tree, static HTML and a widget.

The picture (:mod:`.graph_layout` places the boxes, :mod:`.graph_svg` draws them,
:mod:`.graph_picture` makes it interactive) is in the static HTML as an inline SVG and in the
widget, with the tree under it. The tree shows the output's node on top, each node's inputs under
it in ``next_functions`` order, every node in full once (where a depth-first reading first meets
it) and a "same as #7 mul" line wherever it is met again, so a graph with 2⁶⁰ paths prints in size
linear in its nodes. Every walk here is iterative (explicit stacks), so a 100,000-deep chain
needs no recursion. The text is cut at ``text_depth``/``text_nodes`` and the HTML at
``html_budget`` characters, each with a line saying what was left out; the widget's tree builds
rows only when they are opened and pages wide nodes. Nodes past the walk's detail budget
(``graph_details``) are shown with their structure and "details not recorded" in every view.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from .. import settings
from .common import STYLE, esc, fmt_int
from .graph_text import (detail_rows, flow_text, header_text, meta_text, node_line, not_recorded,
                         ref_line, summary_text)
from .graph_layout import MAX_NODES, Layout, layout
from .graph_svg import picture_note, to_svg
from .graph_tree import INDENT_LEVELS, GraphTree

if TYPE_CHECKING:
    from ..graph import GraphNode, GraphReport

__all__ = ["to_text", "to_html", "to_widget", "GraphTree", "node_line", "summary_text", "header_text", "not_recorded",
           "detail_rows"]

#: nested <details> deeper than this are not emitted (browsers flatten very deep markup)
HTML_MAX_DEPTH = 64
_ids = itertools.count(1)


# -- text ------------------------------------------------------------------------------------------


def to_text(report: GraphReport) -> str:
    """The graph as a box-drawn tree, cut at ``text_depth`` levels and ``text_nodes`` lines."""
    current = settings.current()
    return "\n".join(_text_lines(report, max(1, current.text_depth), max(1, current.text_nodes)))


def _text_lines(report: GraphReport, max_depth: int, max_lines: int) -> list[str]:
    lines = [header_text(report)]
    shown = bytearray(report.count + 1)
    printed = 0
    cut_by_depth = False
    stack: list[tuple[int, str, str, int]] = [(root, "", "", 0) for root in reversed(report.roots)]
    while stack:
        if printed >= max_lines:
            break
        node_id, head, tail, depth = stack.pop()
        node = report.node(node_id)
        printed += 1
        if shown[node_id]:
            lines.append(head + ref_line(node))
            continue
        shown[node_id] = 1
        level = f"[level {depth + 1}] " if depth >= INDENT_LEVELS else ""
        lines.append(head + level + node_line(node, report.flow, report.details_limit, _context(report, node)))
        kids = [c for c in node.children if c is not None]
        if not kids:
            continue
        if depth + 1 >= max_depth:
            cut_by_depth = True
            lines.append(f"{tail}└─ ⋯ {_inputs(len(kids))} below, not shown (depth limit {max_depth})")
            continue
        grow = depth < INDENT_LEVELS
        for i in range(len(kids) - 1, -1, -1):
            last = i == len(kids) - 1
            child_tail = tail + ("   " if last else "│  ") if grow else tail
            stack.append((kids[i], tail + ("└─ " if last else "├─ ") if grow else tail, child_tail, depth + 1))
    missing = report.count - sum(shown)
    if missing:
        limits = []
        if cut_by_depth:
            limits.append(f"depth {max_depth}")
        if stack:
            limits.append(f"{max_lines} lines")
        lines.append(
            f"… {fmt_int(missing)} of {fmt_int(report.count)} nodes not shown: the text view stops at "
            f"{' and '.join(limits) or 'its limits'} (%config AutodiffMagics.text_depth / .text_nodes; "
            "the widget and to_dict() have every node)"
        )
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


def _context(report: GraphReport, node: GraphNode) -> str | None:
    """The shape, dtype and device of the node ``node`` feeds in the tree (shown again only when they change)."""
    return meta_text(report.node(node.parent)) if node.parent else None


def _inputs(n: int) -> str:
    return f"{fmt_int(n)} input{'s' if n != 1 else ''}"


# -- static HTML -----------------------------------------------------------------------------------


def to_html(report: GraphReport, *, style: bool = True) -> str:
    """The picture as an inline SVG, then the tree as nested ``<details>`` (no script), within
    ``html_budget`` characters; names escaped."""
    budget = max(2_000, settings.current().html_budget)
    uid = f"adm-graph-{next(_ids)}"
    head = (STYLE if style else "") + f'<div class="adm adm-graph" id="{uid}">'
    head += f"<h4>{esc(header_text(report))}</h4>"
    tree = '<details class="adm-tree"><summary class="muted">the same graph as a tree (saved values, every node)</summary>'
    notes = "".join(f'<p class="muted">note: {esc(note)}</p>' for note in report.notes)
    close_all = "</details>" + notes + "</div>"
    reserve = 400  # room for the closing tags' "left out" line
    # the picture gets its share of what the style, header, notes and closing tags leave
    head += picture_html(report, budget - len(head) - len(tree) - len(close_all) - reserve) + tree
    parts = [head]
    size = len(head) + len(close_all)
    shown = bytearray(report.count + 1)
    open_all = report.count <= 30
    stack: list[tuple[int, int]] = [(root, 0) for root in reversed(report.roots)]  # node id 0 closes a <details>
    depth_open = 0
    cut_by_depth = cut_by_size = False
    while stack:
        node_id, depth = stack.pop()
        if node_id == 0:
            parts.append("</details>")
            size += 10
            depth_open -= 1
            continue
        node = report.node(node_id)
        if shown[node_id]:
            fragment = (
                f'<div class="muted" style="margin-left:14px">↪ same as <a href="#{uid}-n{node.id}">'
                f"#{node.id} {esc(node.label())}</a>"
                + ("" if node.kind == "leaf" else f" · {esc(node.name)}")
                + "</div>"
            )
        else:
            kids = [c for c in node.children if c is not None]
            deeper = bool(kids) and depth + 1 >= HTML_MAX_DEPTH
            opened = " open" if open_all or depth < 2 else ""
            fragment = (
                f'<details id="{uid}-n{node.id}"{opened}><summary>{_summary_html(node, report.flow)}</summary>'
                f"{_details_html(node, report.flow, report.details_limit)}"
            )
            if deeper:
                fragment += f'<div class="muted">⋯ {_inputs(len(kids))} deeper than {HTML_MAX_DEPTH} levels, not shown</div>'
        if size + len(fragment) + reserve + 10 * (depth_open + 1) > budget:
            cut_by_size = True
            break
        parts.append(fragment)
        size += len(fragment)
        if shown[node_id]:
            continue
        shown[node_id] = 1
        depth_open += 1
        stack.append((0, depth))
        if deeper:
            cut_by_depth = True
            continue
        for child in reversed(kids):
            stack.append((child, depth + 1))
    parts.append("</details>" * depth_open)
    missing = report.count - sum(shown)
    if missing:
        why = []
        if cut_by_size:
            why.append(f"this view is limited to {fmt_int(budget)} characters (html_budget)")
        if cut_by_depth:
            why.append(f"it stops at {HTML_MAX_DEPTH} levels")
        parts.append(
            f'<p class="muted">… {fmt_int(missing)} of {fmt_int(report.count)} nodes not shown: '
            f"{esc(' and '.join(why))}; the widget and to_dict() have every node.</p>"
        )
    parts.append(close_all)
    return "".join(parts)


def picture_html(report: GraphReport, budget: int) -> str:
    """The picture (SVG) and what it leaves out, in about three quarters of ``budget`` characters
    (fewer nodes are drawn until it fits; the rest is the tree's)."""
    drawing, svg = picture(report)
    room = max(0, budget) * 3 // 4
    while len(svg) > room and drawing.drawn > 1:
        drawing = layout(report, drawing.drawn // 2)
        svg = to_svg(report, drawing)
    if len(svg) > room:
        return '<p class="muted">(no picture: the html_budget setting leaves no room for it)</p>'
    note = picture_note(drawing)
    text = f'<div class="adm-picture" style="overflow:auto;max-height:900px">{svg}</div>'
    if note:
        text += f'<p class="muted">{esc(note)}</p>'
    return text


def picture(report: GraphReport) -> tuple[Layout, str]:
    """The layout and SVG of the report's picture, computed once per report (the HTML and the
    widget show the same one)."""
    cached = report.__dict__.get("_picture")
    if cached is None:
        drawing = layout(report, MAX_NODES)
        cached = report.__dict__["_picture"] = (drawing, to_svg(report, drawing))
    return cached


def _summary_html(node: GraphNode, flow: bool) -> str:
    text = f"<b>#{node.id}</b> {esc(node.label())} <span class=\"muted mono\">{esc(node.name)}</span>"
    if not node.detailed:
        return text + ' · <span class="muted">details not recorded</span>'
    meta = meta_text(node)
    if meta:
        text += f" · <span class=\"mono\">{esc(meta)}</span>"
    if flow:
        text += f" · {esc(flow_text(node))}"
    return text



def _details_html(node: GraphNode, flow: bool, limit: int | None = None) -> str:
    """One muted line under the summary: what the node saved and where its gradient went."""
    parts = []
    if node.kind == "leaf" and not node.variable:
        parts.append("its variable was not found in your namespace")
    if not node.detailed:
        parts.append(not_recorded(limit or 0, long=True))
        flow = False
    if node.saved:
        parts.append("saved " + ", ".join(f"{k}={summary_text(v)}" for k, v in node.saved.items()))
    if flow and node.grad is not None and node.grad["passed"]:
        sent = []
        for child, s in zip(node.children, node.grad["passed"]):
            sent.append(f"{summary_text(s)} to #{child}" if child is not None else "nothing to a constant")
        parts.append("passed " + ", ".join(sent))
    if node.outputs is not None and node.outputs > 1:
        parts.append(f"{node.outputs} outputs (the shape shown is the first's)")
    if not parts:
        return ""
    return '<div class="muted mono" style="margin-left:14px">' + esc(" · ".join(parts)) + "</div>"


# -- widget ----------------------------------------------------------------------------------------


def to_widget(report: GraphReport):
    """The picture (click a box for its details; zoom, pan), then the tree of every node in a
    closed accordion (rows built when opened, see GraphTree)."""
    return GraphView(report).widget


class GraphView:
    """The widget of a graph report: ``header`` (HTML), ``picture`` (see :mod:`.graph_picture`),
    ``tree`` (a :class:`GraphTree`) inside ``accordion``; ``widget`` holds them in a VBox."""

    def __init__(self, report: GraphReport) -> None:
        import ipywidgets as w

        from .graph_picture import picture_widget

        self.report = report
        self.picture, note = picture_widget(report)
        self.tree: GraphTree | None = None  # built when the tree view first opens
        header = f"<b>{esc(header_text(report))}</b>"
        for line in ([note] if note else []) + [f"note: {n}" for n in report.notes]:
            header += f'<br><span style="color:#666">{esc(line)}</span>'
        self.header = w.HTML(header)
        self._tree_box = w.VBox()
        self.accordion = w.Accordion([self._tree_box], selected_index=None)
        self.accordion.set_title(0, "tree view: every node, its saved values and gradients (click a row to open it)")
        self.accordion.observe(self._opened, names="selected_index")
        self.widget = w.VBox([self.header, self.picture, self.accordion])

    def _opened(self, change: dict) -> None:
        if change.get("new") is not None:
            self.open_tree()

    def open_tree(self) -> GraphTree:
        """Build the tree view (once) and open it."""
        if self.tree is None:
            import ipywidgets as w

            self.tree = GraphTree(self.report)
            hint = w.HTML('<span style="color:#666">click a row to open it; ↪ rows jump to where that node is shown</span>')
            self._tree_box.children = (hint, self.tree.rows)
        if self.accordion.selected_index is None:
            self.accordion.selected_index = 0
        return self.tree
