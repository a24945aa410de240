"""The graph picture as an inline SVG string (no script): static HTML, nbconvert, GitHub, and the widget.

Every style is a presentation attribute, so the picture looks the same where stylesheets are
stripped (GitHub's notebook view). Boxes and arrows carry ``data-`` attributes (node ids, the two
ends of each arrow) that the widget's script uses to highlight a node's neighbours; all user text
is escaped.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from .common import esc, fmt_int
from .graph_layout import LINE_H, PAD_X, PAD_Y, Layout, layout

if TYPE_CHECKING:
    from ..graph import GraphReport

__all__ = ["to_svg", "picture_note", "COLORS"]

#: fill and stroke per kind of box
COLORS = {
    "operation": ("#ffffff", "#6b7280"),
    "leaf": ("#dbeafe", "#2563eb"),
    "custom": ("#fef3c7", "#b45309"),
    "engine": ("#f3f4f6", "#6b7280"),
    "more": ("#f9fafb", "#9ca3af"),
}
FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
_ids = itertools.count(1)


def to_svg(report: GraphReport, drawing: Layout | None = None, *, uid: str | None = None) -> str:
    """``<svg …>`` of the report's graph: one box per node (at most ``MAX_NODES``), arrows along
    ``next_functions`` labelled with the gradient passed along them."""
    drawing = drawing or layout(report)
    uid = uid or f"adm-g{next(_ids)}"
    width, height = max(drawing.width, 40), max(drawing.height, 30)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="adm-graph-svg" id="{uid}" data-nodes="{drawing.drawn}" '
        f'data-total="{drawing.total}" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'style="max-width:100%;height:auto" font-family="{FONT}" font-size="11" role="img" '
        f'aria-label="grad_fn graph: {drawing.drawn} of {drawing.total} nodes drawn">',
        f'<defs><marker id="{uid}-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>',
    ]
    for edge in drawing.edges:
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in edge.points)
        parts.append(f'<g class="adm-edge" data-source="{edge.source}" data-target="{edge.target}">'
                     f'<path d="{d}" fill="none" stroke="#9ca3af" stroke-width="1.3" marker-end="url(#{uid}-arrow)"/>')
        if edge.label:
            (x0, y0), (x1, y1) = edge.points[0], edge.points[1]
            lx, ly = x0 + (x1 - x0) * 0.55, y0 + (y1 - y0) * 0.55
            parts.append(f'<text x="{lx + 4:.1f}" y="{ly:.1f}" font-size="10" fill="#7c3aed" stroke="#ffffff" '
                         f'stroke-width="3" paint-order="stroke">{esc(edge.label)}</text>')
        parts.append("</g>")
    for box in drawing.boxes.values():
        fill, stroke = COLORS.get(box.kind, COLORS["operation"])
        left = box.x - box.w / 2
        dash = ' stroke-dasharray="4 3"' if box.kind == "more" else ""
        parts.append(f'<g class="adm-node" data-node="{box.node}" data-key="{box.key}" data-kind="{esc(box.kind)}">'
                     f'<title>{esc(chr(10).join(box.lines))}</title>'
                     f'<rect x="{left:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="5" '
                     f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>')
        for i, line in enumerate(box.lines):
            y = box.y + PAD_Y + (i + 0.78) * LINE_H
            parts.append(f'<text x="{left + PAD_X:.1f}" y="{y:.1f}"{_line_style(box.kind, i, line)}>{esc(line)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _line_style(kind: str, i: int, line: str) -> str:
    if i == 0:
        return ' font-weight="bold" fill="#111827"'
    if line.startswith(("grad ", "grad:")) or ".grad" in line.split(" ", 1)[0]:
        return ' fill="#7c3aed"'
    if kind == "more" or line.startswith(("details", "saved")):
        return ' fill="#6b7280"'
    return ' fill="#0f766e"' if "=" in line else ' fill="#374151"'


def picture_note(drawing: Layout) -> str | None:
    """What the picture leaves out, in words (None when it shows every node)."""
    if drawing.complete:
        return None
    return (f"the picture shows the {fmt_int(drawing.drawn)} nodes nearest the output (breadth first) of "
            f"{fmt_int(drawing.total)}; the \u22ef boxes count the inputs left out, the tree view and to_dict() have every node.")
