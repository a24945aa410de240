"""Pieces every view shares: number formatting, aligned text tables and escaped HTML."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "esc",
    "fmt_bytes",
    "fmt_int",
    "fmt_num",
    "fmt_seconds",
    "fmt_shape",
    "html_table",
    "receiver",
    "Markup",
    "section_html",
    "text_table",
    "STYLE",
]


def esc(value: Any) -> str:
    """HTML-escape any value's text (quotes included)."""
    return html.escape(str(value), quote=True)


def receiver(expr: str) -> str:
    """``expr`` ready to have a method called on it: ``w*2`` becomes ``(w*2)``; ``x``, ``x.T``,
    ``x[1:]`` and ``f(x)`` stay as they are."""
    import ast

    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return f"({expr})"
    return expr if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)) else f"({expr})"


def fmt_int(n: int) -> str:
    """An integer with thousands separators: 1,000,000."""
    return f"{n:,}"


def fmt_num(x: Any, digits: int = 10) -> str:
    """A number as people read it: ints with separators, floats to ``digits`` significant
    digits, NaN and infinities as nan, inf, -inf; plain ASCII minus signs so numbers copy cleanly, complex as a+bj."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return fmt_int(x)
    if isinstance(x, complex):
        return f"{fmt_num(x.real, digits)}{'+' if x.imag >= 0 else '-'}{fmt_num(abs(x.imag), digits)}j"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return fmt_int(int(x)) if abs(x) >= 1e4 else str(int(x))
    return f"{x:.{digits}g}"


def fmt_bytes(n: int | None) -> str:
    """Bytes in binary units: 512 B, 3.0 KiB, 1.50 GiB."""
    if n is None:
        return "—"
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    value = float(n)
    for unit in units:
        if abs(value) < 1024 or unit == units[-1]:
            if unit == "B":
                return f"{int(value):,} B"
            return f"{value:.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_seconds(s: float | None) -> str:
    """Seconds in the unit that reads best: 850 ns, 12.3 µs, 4.56 ms, 1.23 s."""
    if s is None:
        return "—"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_shape(shape: Sequence[int]) -> str:
    """A shape as (2, 3); a 0-d shape as ()."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """An aligned plain-text table with a ruled header; ``align`` holds one of l/r per column."""
    body = [[str(c) for c in row] for row in rows]
    cols = len(headers)
    align = align or "l" * cols
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("─" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in body)])


#: one small stylesheet, scoped by the ``adm`` class, shared by every static HTML view
STYLE = """<style>
.adm{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;line-height:1.4}
.adm table{border-collapse:collapse;margin:4px 0}
.adm th,.adm td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.adm td.num{text-align:right;font-family:var(--jp-code-font-family,monospace)}
.adm .ok{color:#1a7f37}.adm .bad{color:#cf222e;font-weight:bold}.adm .muted{color:#666}
.adm code,.adm .mono{font-family:var(--jp-code-font-family,monospace)}
.adm h4{margin:6px 0 2px 0;font-size:14px}
.adm details{margin-left:14px}.adm summary{cursor:pointer}
</style>"""


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; every cell is escaped unless passed as ``Markup`` (already-safe HTML)."""
    numeric = numeric or [False] * len(headers)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            klass = ' class="num"' if numeric[i] else ""
            content = cell.html if isinstance(cell, Markup) else esc(cell)
            cells.append(f"<td{klass}>{content}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


class Markup:
    """HTML that is already safe (built from escaped pieces) and must not be escaped again."""

    __slots__ = ("html",)

    def __init__(self, html_text: str) -> None:
        self.html = html_text

    def __str__(self) -> str:
        return self.html


def section_html(title: str, body_html: str) -> str:
    """A titled block of the report's HTML; the title is escaped, the body is trusted."""
    return f"<h4>{esc(title)}</h4>{body_html}"
