"""The tree widget of a grad_fn graph: rows built when their parent first opens, wide nodes paged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import settings
from .common import esc, fmt_int
from .graph_text import computed_text, detail_rows, flow_text, header_text, meta_text, ref_line

if TYPE_CHECKING:
    from ..graph import GraphReport

__all__ = ["GraphTree", "INDENT_LEVELS"]

#: the tree stops indenting after this many levels (and shows the level)
INDENT_LEVELS = 24


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
        self.roots = [self._node_row(root, 0) for root in report.roots]
        self.root = self.roots[0]
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
        parts = [f"#{node.id} {node.label()}", node.name]
        computed = computed_text(node)
        if computed:
            parts.append(computed)
        meta = meta_text(node)
        if meta and meta != self._context(node):
            parts.append(meta)
        if not node.detailed:
            parts.append("details not recorded")
        elif self.report.flow:
            parts.append(flow_text(node))
        return f"{arrow} {level}" + " · ".join(parts)

    def _context(self, node: Any) -> str | None:
        """The shape, dtype and device of the node this one feeds (rows repeat them only when they change)."""
        return meta_text(self.report.node(node.parent)) if node.parent else None

    def _ref_row(self, node_id: int, depth: int) -> _Row:
        row = _Row("ref", node_id, depth)
        node = self.report.node(node_id)
        row.widget = self._w.Button(
            description=ref_line(node),
            tooltip=f"show #{node.id}, where it first appears",
            layout=self._w.Layout(width="auto", margin=self._indent(depth)),
            style={"button_color": "transparent", "text_color": "#0969da", "text_decoration": "underline"},
        )
        row.widget.on_click(lambda _b, node_id=node_id: self.reveal(node_id))
        return row

    def _details_row(self, node_id: int, depth: int) -> _Row:
        row = _Row("details", node_id, depth)
        node = self.report.node(node_id)
        rows = detail_rows(node, self.report.flow, self.report.details_limit)
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
        row = self.canonical[path[-1]]
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
        stack = list(reversed(self.roots))
        while stack:
            row = stack.pop()
            visible.append(row.widget)
            if row.open and row.sub:
                stack.extend(reversed(row.sub))
        self.rows.children = tuple(visible)

    def visible_rows(self) -> Sequence[Any]:
        """The row widgets shown now, top to bottom."""
        return self.rows.children

