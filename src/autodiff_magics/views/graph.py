"""Views of a :class:`~autodiff_magics.graph.GraphReport`: a text tree, static HTML and a widget.

All three show the same tree: the output's node on top, each node's inputs under it in
``next_functions`` order, every node in full once (where a depth-first reading first meets it)
and a "same as #7 mul" line wherever it is met again, so a graph with 2⁶⁰ paths prints in size
linear in its nodes. Every walk here is iterative (explicit stacks), so a 100,000-deep chain
needs no recursion. The text is cut at ``text_depth``/``text_nodes`` and the HTML at
``html_budget`` characters, each with a line saying what was left out; the widget builds rows
only when they are opened and pages wide nodes. Nodes past the walk's detail budget
(``graph_details``) are shown with their structure and "details not recorded" in every view.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import settings
from .common import STYLE, esc, fmt_int, fmt_num, fmt_shape

if TYPE_CHECKING:
    from ..graph import GraphNode, GraphReport

__all__ = ["to_text", "to_html", "to_widget", "GraphTree", "node_line", "summary_text", "header_text", "not_recorded"]

#: nested <details> deeper than this are not emitted (browsers flatten very deep markup)
HTML_MAX_DEPTH = 64
#: the text and widget trees stop indenting after this many levels (and print the level)
INDENT_LEVELS = 24
#: values shown in a one-line summary of a list
_INLINE_ITEMS = 10
_ids = itertools.count(1)


# -- shared wording ----------------------------------------------------------------------------------


def summary_text(summary: dict[str, Any] | None, long: bool = False) -> str:
    """One summary in words: ``3``, ``[9, −8, 138]``, ``(1000,) float32 min −1 max 2``, ``freed``."""
    if summary is None:
        return "—"
    kind = summary.get("kind")
    if kind == "tensor":
        if "values" in summary:
            text = _values_text(summary["values"])
            if long and summary["shape"]:
                text += f" (shape {fmt_shape(summary['shape'])}, {summary['dtype']}, {summary['device']})"
            elif long:
                text += f" ({summary['dtype']})"
            return text
        text = f"{fmt_shape(summary['shape'])} {summary['dtype']}"
        if "layout" in summary:
            text += f" {summary['layout']}"
        if "min" in summary:
            text += f" min {fmt_num(summary['min'], 4)} max {fmt_num(summary['max'], 4)}"
        elif "true" in summary:
            text += f" ({fmt_int(summary['true'])} true)"
        if long:
            text += f", {summary['device']}"
        return text
    if kind == "value":
        text = _values_text(summary["value"])
        if "count" in summary:
            text += f" (first {len(summary['value'])} of {fmt_int(summary['count'])})"
        return text
    if kind == "tensors":
        items = "; ".join(summary_text(s) for s in summary["items"][:3])
        more = "" if summary["count"] <= 3 else "; …"
        return f"{fmt_int(summary['count'])} tensors: {items}{more}" if long else f"{fmt_int(summary['count'])} tensors"
    if kind == "freed":
        return "freed (backward already ran)" if long else "freed"
    if kind == "hooked":
        return "not unpacked (behind a saved-tensor hook, e.g. checkpointing)" if long else "not unpacked"
    if kind == "none":
        return "None"
    if kind == "unreadable":
        return f"unreadable ({summary.get('error', 'error')})"
    return str(summary)


def _values_text(values: Any) -> str:
    if isinstance(values, list):
        parts = [_values_text(v) for v in values[:_INLINE_ITEMS]]
        if len(values) > _INLINE_ITEMS:
            parts.append("…")
        return "[" + ", ".join(parts) + "]"
    if isinstance(values, str):
        return values
    return fmt_num(values, 6)


def _flow_text(node: GraphNode) -> str:
    """``grad 5 → 135``: what the node received and what it passed on to its inputs."""
    grad = node.grad
    if grad is None:
        return "no gradient flowed here"
    received = [s for s in grad["received"] if s is not None]
    text = "grad " + (", ".join(summary_text(s) for s in received) if received else "—")
    passed = [s for s in grad["passed"] if s is not None]
    if passed:
        text += " → " + ", ".join(summary_text(s) for s in passed)
    return text


def not_recorded(limit: int, long: bool = False) -> str:
    """What a node past the detail budget shows instead of its shape, saved values and gradient."""
    if long:
        return f"details not recorded: beyond the first {fmt_int(limit)} nodes; raise %config AutodiffMagics.graph_details"
    return f"details not recorded (beyond the first {fmt_int(limit)} nodes)"


def _meta_text(node: GraphNode) -> str:
    if node.shape is None and node.dtype is None:
        return ""
    shape = fmt_shape(node.shape) if node.shape is not None else "?"
    return " ".join(p for p in (shape, node.dtype, node.device) if p)


def node_line(node: GraphNode, flow: bool, limit: int | None = None) -> str:
    """One node on one line: ``#12 pow · PowBackward0 · () float64 cpu · saved … · grad 5 → 135``.

    ``limit``: the report's detail budget, named on nodes past it."""
    parts = [f"#{node.id} {node.label()}", node.name]
    if not node.detailed:
        parts.append(not_recorded(limit or 0))
        return " · ".join(parts)
    meta = _meta_text(node)
    if meta:
        parts.append(meta)
    if node.saved:
        parts.append("saved " + ", ".join(f"{k}={summary_text(v)}" for k, v in node.saved.items()))
    if flow:
        parts.append(_flow_text(node))
    return " · ".join(parts)


def _ref_line(node: GraphNode) -> str:
    return f"↪ same as #{node.id} {node.label()}" + ("" if node.kind == "leaf" else f" · {node.name}")


def header_text(report: GraphReport) -> str:
    """``grad_fn graph of f: 13 nodes (12 operations + 1 leaf: x), depth 6``."""
    leaves = report.leaf_names()
    named = [n for n in leaves if n]
    shown = ", ".join(named[:4]) + (f", +{len(named) - 4} more" if len(named) > 4 else "")
    unnamed = len(leaves) - len(named)
    if unnamed and named:
        shown += f", {fmt_int(unnamed)} unnamed"
    count = report.count
    ops = report.operations
    leaf_word = "leaf" if len(leaves) == 1 else "leaves"
    what = f"grad_fn graph of {report.tensor}" if report.tensor else "grad_fn graph"
    text = (
        f"{what}: {fmt_int(count)} node{'s' if count != 1 else ''} "
        f"({fmt_int(ops)} operation{'s' if ops != 1 else ''} + {fmt_int(len(leaves))} {leaf_word}"
        f"{': ' + shown if shown else ''}), depth {fmt_int(report.depth)}"
    )
    if report.detailed < count:
        text += f"; details for the first {fmt_int(report.detailed)}"
    if report.flow:
        text += "; grad a → b: gradient received → passed on to its inputs"
    return text


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
    stack: list[tuple[int, str, str, int]] = [(report.root, "", "", 0)]
    while stack:
        if printed >= max_lines:
            break
        node_id, head, tail, depth = stack.pop()
        node = report.node(node_id)
        printed += 1
        if shown[node_id]:
            lines.append(head + _ref_line(node))
            continue
        shown[node_id] = 1
        level = f"[level {depth + 1}] " if depth >= INDENT_LEVELS else ""
        lines.append(head + level + node_line(node, report.flow, report.details_limit))
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


def _inputs(n: int) -> str:
    return f"{fmt_int(n)} input{'s' if n != 1 else ''}"


# -- static HTML -----------------------------------------------------------------------------------


def to_html(report: GraphReport, *, style: bool = True) -> str:
    """Nested ``<details>`` (no script), within ``html_budget`` characters; names escaped."""
    budget = max(2_000, settings.current().html_budget)
    uid = f"adm-graph-{next(_ids)}"
    head = (STYLE if style else "") + f'<div class="adm adm-graph" id="{uid}">'
    head += f"<h4>{esc(header_text(report))}</h4>"
    close_all = "</div>"
    parts = [head]
    size = len(head) + len(close_all)
    reserve = 400  # room for the closing tags' "left out" line
    shown = bytearray(report.count + 1)
    open_all = report.count <= 30
    stack: list[tuple[int, int]] = [(report.root, 0)]  # (node id, depth); node id 0 closes a <details>
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
    for note in report.notes:
        parts.append(f'<p class="muted">note: {esc(note)}</p>')
    parts.append(close_all)
    return "".join(parts)


def _summary_html(node: GraphNode, flow: bool) -> str:
    text = f"<b>#{node.id}</b> {esc(node.label())} <span class=\"muted mono\">{esc(node.name)}</span>"
    if not node.detailed:
        return text + ' · <span class="muted">details not recorded</span>'
    meta = _meta_text(node)
    if meta:
        text += f" · <span class=\"mono\">{esc(meta)}</span>"
    if flow:
        text += f" · {esc(_flow_text(node))}"
    return text


def _detail_rows(node: GraphNode, flow: bool, limit: int | None = None) -> list[tuple[str, str]]:
    """(what, value) rows of the widget's details (``limit``: the detail budget)."""
    rows: list[tuple[str, str]] = []
    if node.kind == "leaf":
        rows.append(("variable", node.variable or "(not found in your namespace)"))
    elif node.kind == "custom":
        rows.append(("custom Function", f"{node.op}.backward"))
    if not node.detailed:
        rows.append(("details", not_recorded(limit or 0, long=True).removeprefix("details ")))
        flow = False
    meta = _meta_text(node)
    if meta:
        what = "variable's shape" if node.kind == "leaf" else "forward produced"
        rows.append((what, meta + (f" (first of {node.outputs} outputs)" if node.outputs and node.outputs > 1 else "")))
    for key, value in node.saved.items():
        rows.append((f"saved {key}", summary_text(value, long=True)))
    if flow:
        if node.grad is None:
            rows.append(("gradient", "none flowed through this node"))
        else:
            received = node.grad["received"]
            for i, s in enumerate(received):
                rows.append(("gradient received" + (f" (output {i})" if len(received) > 1 else ""), summary_text(s, long=True)))
            for child, s in zip(node.children, node.grad["passed"]):
                target = f"#{child}" if child is not None else "a constant"
                rows.append((f"passed to {target}", summary_text(s, long=True) if s is not None else "nothing"))
    none_edges = sum(1 for c in node.children if c is None)
    if none_edges and not flow:
        rows.append(("inputs without gradient", f"{none_edges} (constants or tensors without requires_grad)"))
    return rows


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
    """An expandable tree: rows are built when their parent is first opened (see GraphTree)."""
    return GraphTree(report).widget


class _Row:
    """One visible line of the widget tree and what it needs to open."""

    __slots__ = ("kind", "node", "depth", "widget", "open", "sub", "kids", "built", "owner")

    def __init__(self, kind: str, node: int, depth: int, owner: _Row | None = None) -> None:
        self.kind = kind  # "node", "ref", "details" or "more"
        self.node = node
        self.depth = depth
        self.widget: Any = None
        self.open = False
        self.sub: list[_Row] | None = None  # details, child rows, "more" (built on first open)
        self.kids: list[int] = []  # the node's non-None inputs, in next_functions order
        self.built = 0  # how many of kids have rows
        self.owner = owner  # for "more" rows: the node row they extend


class GraphTree:
    """The widget tree of a graph report.

    ``widget`` is a VBox: a header (HTML) and a VBox of rows. A node row is one Button; clicking
    it opens the node: a details row (one HTML) and one row per input, the first ``page_size``
    of them, then a "show … more" button. Inputs met before show as "↪ same as #7 …" rows;
    clicking one opens the path to #7 and highlights it. Nothing is built before it is shown.
    """

    HIGHLIGHT = "#fff3b0"

    def __init__(self, report: GraphReport, page_size: int | None = None) -> None:
        import ipywidgets as w

        self._w = w
        self.report = report
        self.page_size = max(1, page_size or settings.current().page_size)
        self.canonical: dict[int, _Row] = {}
        self.highlighted: _Row | None = None
        header = f"<b>{esc(header_text(report))}</b>"
        header += '<br><span style="color:#666">click a row to open it; ↪ rows jump to where that node is shown</span>'
        for note in report.notes:
            header += f'<br><span style="color:#666">note: {esc(note)}</span>'
        self.header = w.HTML(header)
        self.rows = w.VBox(layout=w.Layout(align_items="flex-start"))
        self.widget = w.VBox([self.header, self.rows])
        self.root = self._node_row(report.root, 0)
        self.toggle(self.root)

    # -- building rows -----------------------------------------------------------------------------

    def _indent(self, depth: int) -> str:
        return f"0 0 0 {min(depth, INDENT_LEVELS) * 18}px"

    def _node_row(self, node_id: int, depth: int) -> _Row:
        row = _Row("node", node_id, depth)
        node = self.report.node(node_id)
        row.widget = self._w.Button(
            description=self._node_label(row),
            tooltip=f"{node.name}: click to open",
            layout=self._w.Layout(width="auto", margin=self._indent(depth)),
            style={"button_color": "transparent", "font_weight": "normal"},
        )
        row.widget.on_click(lambda _b, row=row: self.toggle(row))
        self.canonical[node_id] = row
        return row

    def _node_label(self, row: _Row) -> str:
        arrow = "▾" if row.open else "▸"
        level = f"[level {row.depth + 1}] " if row.depth >= INDENT_LEVELS else ""
        node = self.report.node(row.node)
        parts = [f"#{node.id} {node.label()}"]
        meta = _meta_text(node)
        if meta:
            parts.append(meta)
        if not node.detailed:
            parts.append("details not recorded")
        elif self.report.flow:
            parts.append(_flow_text(node))
        return f"{arrow} {level}" + " · ".join(parts)

    def _ref_row(self, node_id: int, depth: int) -> _Row:
        row = _Row("ref", node_id, depth)
        node = self.report.node(node_id)
        row.widget = self._w.Button(
            description=_ref_line(node),
            tooltip=f"show #{node.id}, where it first appears",
            layout=self._w.Layout(width="auto", margin=self._indent(depth)),
            style={"button_color": "transparent", "text_color": "#0969da", "text_decoration": "underline"},
        )
        row.widget.on_click(lambda _b, node_id=node_id: self.reveal(node_id))
        return row

    def _details_row(self, node_id: int, depth: int) -> _Row:
        row = _Row("details", node_id, depth)
        node = self.report.node(node_id)
        rows = _detail_rows(node, self.report.flow, self.report.details_limit)
        body = "<br>".join(f'<span style="color:#666">{esc(k)}:</span> <code>{esc(v)}</code>' for k, v in rows)
        html = f'<div style="font-size:12px;line-height:1.45">{body or "(nothing saved)"}</div>'
        row.widget = self._w.HTML(html, layout=self._w.Layout(margin=f"0 0 4px {min(depth, INDENT_LEVELS) * 18 + 22}px"))
        return row

    def _more_row(self, owner: _Row) -> _Row:
        row = _Row("more", owner.node, owner.depth + 1, owner)
        row.widget = self._w.Button(
            description=self._more_label(owner),
            layout=self._w.Layout(width="auto", margin=self._indent(owner.depth + 1)),
        )
        row.widget.on_click(lambda _b, owner=owner: self.more(owner))
        return row

    def _more_label(self, owner: _Row) -> str:
        left = len(owner.kids) - owner.built
        return f"show {fmt_int(min(self.page_size, left))} more ({fmt_int(left)} of {fmt_int(len(owner.kids))} inputs not shown yet)"

    def _build(self, row: _Row) -> None:
        """First opening of a node row: its details and the first page of its inputs."""
        node = self.report.node(row.node)
        row.kids = [c for c in node.children if c is not None]
        row.sub = [self._details_row(row.node, row.depth)]
        self._add_page(row)

    def _add_page(self, row: _Row) -> None:
        assert row.sub is not None
        if row.sub and row.sub[-1].kind == "more":
            row.sub.pop()
        stop = min(len(row.kids), row.built + self.page_size)
        for child in row.kids[row.built:stop]:
            if child not in self.canonical and self.report.node(child).parent == row.node:
                row.sub.append(self._node_row(child, row.depth + 1))
            else:
                row.sub.append(self._ref_row(child, row.depth + 1))
        row.built = stop
        if row.built < len(row.kids):
            row.sub.append(self._more_row(row))

    # -- actions (the click handlers) ---------------------------------------------------------------

    def toggle(self, row: _Row) -> None:
        """Open a closed node row (building it the first time) or close an open one."""
        if row.sub is None:
            self._build(row)
        row.open = not row.open
        row.widget.description = self._node_label(row)
        self.render()

    def more(self, owner: _Row) -> None:
        """Show the next page of a node's inputs."""
        self._add_page(owner)
        self.render()

    def reveal(self, node_id: int) -> _Row:
        """Open every node on the way to ``node_id``'s full row and highlight that row."""
        path = []
        current: int | None = node_id
        while current is not None:
            path.append(current)
            current = self.report.node(current).parent
        row = self.root
        for target in reversed(path[:-1]):
            if row.sub is None:
                self._build(row)
            if not row.open:
                row.open = True
                row.widget.description = self._node_label(row)
            while target not in self.canonical and row.built < len(row.kids):
                self._add_page(row)
            row = self.canonical[target]
        if self.highlighted is not None:
            self.highlighted.widget.style.button_color = "transparent"
        row.widget.style.button_color = self.HIGHLIGHT
        self.highlighted = row
        self.render()
        return row

    def render(self) -> None:
        """Lay out the visible rows (open rows show their sub-rows), iteratively."""
        visible = []
        stack = [self.root]
        while stack:
            row = stack.pop()
            visible.append(row.widget)
            if row.open and row.sub:
                stack.extend(reversed(row.sub))
        self.rows.children = tuple(visible)

    def visible_rows(self) -> Sequence[Any]:
        """The row widgets shown now, top to bottom."""
        return self.rows.children
