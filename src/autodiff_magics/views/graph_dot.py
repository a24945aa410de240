"""Graphviz source of a grad_fn graph: the same boxes and edge labels as the picture."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from .graph_text import box_lines, edge_label

if TYPE_CHECKING:
    from ..graph import GraphReport

__all__ = ["to_dot"]


def to_dot(report: GraphReport) -> str:
    """``digraph grad_fn {…}``: inputs point to the operation that used them, as torchviz draws;
    each box holds the picture's lines (op · class, expression = value, saved values, gradient)
    and each edge the gradient passed along it."""
    lines = ["digraph grad_fn {", '  node [shape=box, fontname="Helvetica", fontsize=10];']
    flow = report.flow
    users = Counter(c for i in range(1, report.count + 1) for c in report.children(i) if c)
    nodes = {}
    for n in report.nodes:
        nodes[n.id] = n
        box = box_lines(n, flow, report.details_limit, users=users[n.id], saved=True)
        text = [f"#{n.id} {line}" if i == 0 else line for i, line in enumerate(box)]
        style = ', style=filled, fillcolor="#dbeafe"' if n.kind == "leaf" else ""
        lines.append(f'  n{n.id} [label="{_escape(chr(10).join(text))}"{style}];')
    for n in nodes.values():
        for position, child in enumerate(n.children):
            if child:
                label = edge_label(n, position) if flow else None
                attr = f' [label="{_escape(label)}"]' if label else ""
                lines.append(f"  n{child} -> n{n.id}{attr};")
    lines.append("}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
