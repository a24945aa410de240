"""The interactive graph picture: an anywidget that shows the SVG of :mod:`.graph_svg` and adds
click-highlighting, details and zoom/pan (its JavaScript and CSS are in :mod:`.graph_picture_assets`).

anywidget (one small, well-kept dependency) runs the same ES module in JupyterLab 4, Notebook 7
and VS Code without a lab extension of our own; nothing is fetched from the network. Without
anywidget the picture is an ``ipywidgets.HTML`` holding the same SVG, without the clicks.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .graph_layout import MAX_NODES, MOST_NODES, Layout, layout
from .graph_picture_assets import CSS, ESM
from .graph_svg import picture_note, to_svg
from .graph_text import detail_rows

if TYPE_CHECKING:
    from ..graph import GraphReport

__all__ = ["picture_widget", "picture_details", "GraphPicture"]

#: the tallest the picture starts (px); zoom and pan show the rest
HEIGHT = 760

try:
    import anywidget
    import traitlets
except ImportError:  # pragma: no cover - anywidget is a dependency
    anywidget = None

if anywidget is not None:

    class GraphPicture(anywidget.AnyWidget):
        """The picture: ``svg`` (markup built in Python), ``details`` (JSON: per box key, a title
        and (what, value) rows), ``selected`` (the node id clicked last, set by the browser)."""

        _esm = ESM
        _css = CSS
        svg = traitlets.Unicode("").tag(sync=True)
        #: JSON text (one string: ipywidgets walks a nested dict's every item looking for buffers)
        details = traitlets.Unicode("{}").tag(sync=True)
        selected = traitlets.Int(0).tag(sync=True)
        height = traitlets.Int(HEIGHT).tag(sync=True)
        #: whether "draw more" can draw more nodes
        more = traitlets.Bool(False).tag(sync=True)

        def __init__(self, report: GraphReport | None = None, drawn: int = MAX_NODES, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._report = report
            self._drawn = drawn
            self.more = report is not None and drawn < min(report.count, MOST_NODES)
            self.on_msg(self._on_message)

        def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("draw") == "more":
                self.draw_more()

        def draw_more(self) -> None:
            """Draw twice as many nodes (at most ``MOST_NODES``)."""
            if self._report is None:
                return
            self._drawn = min(self._drawn * 2, MOST_NODES)
            drawing = layout(self._report, self._drawn)
            self.details = json.dumps(picture_details(self._report, drawing), ensure_ascii=False)
            self.svg = to_svg(self._report, drawing)
            self.more = self._drawn < min(self._report.count, MOST_NODES)

else:  # pragma: no cover
    GraphPicture = None  # type: ignore[assignment,misc]


def picture_details(report: GraphReport, drawing: Layout) -> dict[str, dict[str, Any]]:
    """What a click on each drawn box opens: the node's rows (saved values, shapes, gradients)."""
    out: dict[str, dict[str, Any]] = {}
    users_of: dict[int, list[str]] = {}
    for e in drawing.edges:
        users_of.setdefault(e.target, []).append(f"#{e.source}")
    for key, box in drawing.boxes.items():
        if box.node:
            node = report.node(box.node)
            rows = [["grad_fn", node.name]]
            if node.expression:
                rows.append(["computed", node.expression])
            if node.value:
                rows.append(["value", node.value])
            rows += [[k, v] for k, v in detail_rows(node, report.flow, report.details_limit)]
            inputs = [str(c) for c in node.children if c is not None]
            rows.append(["used by", ", ".join(users_of.get(key, ())) or "— (an output)"])
            rows.append(["inputs", ", ".join(f"#{i}" for i in inputs) or "— (a leaf)"])
            out[str(key)] = {"title": box.lines[0], "rows": rows}
        else:
            out[str(key)] = {"title": box.lines[0], "rows": [["left out", f"{box.more:,} inputs of #{box.owner}: open it in the tree view"]]}
    return out


def picture_widget(report: GraphReport, max_nodes: int = MAX_NODES):
    """The picture as a widget (a :class:`GraphPicture`, or an HTML widget without anywidget),
    and the note saying what it leaves out (or None)."""
    if max_nodes == MAX_NODES:
        from .graph import picture

        drawing, svg = picture(report)
    else:
        drawing = layout(report, max_nodes)
        svg = to_svg(report, drawing)
    note = picture_note(drawing)
    if GraphPicture is None:  # pragma: no cover
        import ipywidgets as w

        return w.HTML(svg), note
    details = json.dumps(picture_details(report, drawing), ensure_ascii=False)
    return GraphPicture(report, drawing.drawn, svg=svg, details=details), note
