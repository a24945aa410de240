"""Wording shared by every view of a grad_fn graph: summaries, a node's line, a box's lines, an edge's label."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import fmt_int, fmt_num, fmt_shape

if TYPE_CHECKING:
    from ..graph import GraphNode, GraphReport

__all__ = ["summary_text", "flow_text", "not_recorded", "meta_text", "node_line", "ref_line", "header_text",
           "detail_rows", "box_lines", "edge_label", "received_text"]

#: values shown in a one-line summary of a list
_INLINE_ITEMS = 10

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


def flow_text(node: GraphNode) -> str:
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


def meta_text(node: GraphNode) -> str:
    if node.shape is None and node.dtype is None:
        return ""
    shape = fmt_shape(node.shape) if node.shape is not None else "?"
    return " ".join(p for p in (shape, node.dtype, node.device) if p)


def node_line(node: GraphNode, flow: bool, limit: int | None = None, context: str | None = None) -> str:
    """One node on one line: ``#12 pow · PowBackward0 · x₂**3 = 27 · saved exponent=3 · grad 5 → 135``.

    ``limit``: the report's detail budget, named on nodes past it. ``context``: the shape, dtype
    and device of the node this one feeds; the node's own are shown only where they differ."""
    parts = [f"#{node.id} {node.label()}", node.name]
    computed = computed_text(node)
    if computed:
        parts.append(computed)
    if not node.detailed:
        parts.append(not_recorded(limit or 0))
        return " · ".join(parts)
    meta = meta_text(node)
    if meta and meta != context:
        parts.append(meta)
    shown = short_saved(node)
    if shown:
        parts.append("saved " + shown)
    if flow:
        parts.append(flow_text(node))
    return " · ".join(parts)


def computed_text(node: GraphNode) -> str:
    """``x₂**3 = 27``: what the node computed and its value (empty without annotations)."""
    if node.expression and node.value:
        return f"{node.expression} = {node.value}"
    return node.expression or (f"= {node.value}" if node.value else "")


def short_saved(node: GraphNode) -> str:
    """The saved values worth a line: sizes and strides torch keeps for itself go to the details."""
    return ", ".join(f"{k}={summary_text(v)}" for k, v in node.saved.items() if not _bookkeeping(k))


def _bookkeeping(key: str) -> bool:
    return "sym_" in key or key.endswith(("_sizes", "_strides", "_storage_offset", "_options"))


def received_text(node: GraphNode) -> str | None:
    """The gradient the node received, in words, or None where none was recorded."""
    if node.grad is None:
        return None
    received = [s for s in node.grad["received"] if s is not None]
    return ", ".join(summary_text(s) for s in received) if received else None


def box_lines(node: GraphNode, flow: bool, limit: int | None = None, *, users: int = 0, saved: bool = False) -> list[str]:
    """The lines of the node's box in the picture: ``pow · PowBackward0``, ``x₂**3 = 27``,
    ``grad 5``; a leaf's ``x.grad = sum of its 4 edges = [3, -8, 144]``. ``users``: edges into it."""
    if node.kind == "leaf":
        lines = [f"{node.variable or 'leaf (unnamed)'} · leaf · AccumulateGrad"]
    else:
        lines = [f"{node.label()} · {node.name}"]
    computed = computed_text(node)
    if computed:
        lines.append(computed)
    if node.detailed and node.shape is not None and (node.kind == "leaf" or node.shape):
        lines.append(meta_text(node))
    if saved and node.detailed:
        shown = short_saved(node)
        if shown:
            lines.append("saved " + shown)
    if flow and node.detailed:
        received = received_text(node)
        if node.kind == "leaf":
            name = f"{node.variable}.grad" if node.variable else "grad"
            if received is None:
                lines.append(f"{name}: none recorded")
            elif users > 1:
                lines.append(f"{name} = sum of its {users} edges = {received}")
            else:
                lines.append(f"{name} = {received}")
        elif received is not None:
            lines.append(f"grad {received}")
    elif not node.detailed:
        lines.append("details not recorded")
    return lines


def edge_label(user: GraphNode, position: int) -> str | None:
    """The gradient ``user`` passed to its input number ``position``, in words."""
    if user.grad is None:
        return None
    passed = user.grad["passed"]
    if position >= len(passed) or passed[position] is None:
        return None
    return summary_text(passed[position])


def ref_line(node: GraphNode) -> str:
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


def detail_rows(node: GraphNode, flow: bool, limit: int | None = None) -> list[tuple[str, str]]:
    """(what, value) rows of the widget's details (``limit``: the detail budget)."""
    rows: list[tuple[str, str]] = []
    if node.kind == "leaf":
        rows.append(("variable", node.variable or "(not found in your namespace)"))
    elif node.kind == "custom":
        rows.append(("custom Function", f"{node.op}.backward"))
    if not node.detailed:
        rows.append(("details", not_recorded(limit or 0, long=True).removeprefix("details ")))
        flow = False
    meta = meta_text(node)
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

