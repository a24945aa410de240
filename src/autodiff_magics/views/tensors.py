"""Views of a :class:`~autodiff_magics.tensors.TensorReport` (one object) and of a
:class:`~autodiff_magics.tensors.TensorsReport` (several, side by side).

Text: a labelled card, or a comparison table with one column per object. HTML: the same card(s)
with a small histogram and, for matrices, a heat map, drawn with plain ``<div>``/``<table>``
elements (no images, no script), so they survive nbconvert and GitHub's notebook preview. Widget:
each card as an ``HTML`` widget plus an ``Accordion`` whose sections (memory details, the values'
preview, the autograd graph, ``.grad``) are built when first opened.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .common import STYLE, esc, fmt_bytes, fmt_int, fmt_num, fmt_shape, text_table

if TYPE_CHECKING:
    from ..tensors import TensorReport, TensorsReport

__all__ = ["to_text", "to_html", "to_widget", "fmt_value", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
#: local styles for the card, histogram and heat map (scoped by class names)
_STYLE = """<style>
.adm .adm-cards{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.adm .adm-card{border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;min-width:260px;max-width:560px}
.adm .adm-card h4{margin:2px 0 4px 0}
.adm .adm-hist{display:flex;align-items:flex-end;height:46px;gap:1px;margin-top:4px}
.adm .adm-hist div{width:7px;background:#4c78a8;min-height:0}
.adm .adm-axis{display:flex;justify-content:space-between;font-size:11px;color:#666}
.adm table.adm-hm{border-collapse:collapse;margin:2px 6px 2px 0;display:inline-table}
.adm table.adm-hm td{width:8px;height:8px;padding:0;border:0}
.adm pre.adm-pre{font-size:11px;margin:2px 0;white-space:pre;overflow-x:auto;max-height:220px}
</style>"""


# -- numbers in words ---------------------------------------------------------------------------


def fmt_value(v: Any, dtype: str = "", digits: int | None = None) -> str:
    """A value as exactly as its dtype holds it (shortest round-trip text), or to ``digits``
    significant digits for derived numbers such as a mean."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return fmt_int(v)
    if isinstance(v, complex):
        return fmt_num(v, digits or 7)
    if digits is not None:
        return fmt_num(v, digits)
    if not math.isfinite(v) or (v == int(v) and abs(v) < 1e15):
        return fmt_num(v)
    short = dtype.replace("torch.", "")
    if short in ("float32", "float16", "bfloat16") or short.startswith("float8"):
        import numpy as np

        text = str(np.float32(v))
    else:
        text = repr(float(v))
    return text


def sparkline(counts: list[int]) -> str:
    """Counts as a row of block characters (▁ … █); empty bins as spaces."""
    top = max(counts) if counts else 0
    if top <= 0:
        return ""
    return "".join(" " if c == 0 else _BARS[min(len(_BARS) - 1, int(c / top * (len(_BARS) - 1) + 0.5))] for c in counts)


def _title(r: TensorReport) -> str:
    return f"{r.name}: {r.type}"


def _kind_words(r: TensorReport) -> str:
    return {
        "tensor": "tensor",
        "parameter": "Parameter (a leaf tensor a module trains)",
        "ndarray": "NumPy array",
        "number": "number",
        "list": "Python list",
        "sympy": "SymPy matrix",
        "grad": "gradient",
    }.get(r.kind, r.kind)


def _shape_line(r: TensorReport) -> str:
    if r.shape is None:
        return r.shape_text
    return f"{fmt_shape(r.shape)}: {r.shape_text} · {r.ndim} dim{'s' if r.ndim != 1 else ''} · {fmt_int(r.numel)} element{'s' if r.numel != 1 else ''}"


def _dtype_line(r: TensorReport) -> str:
    return f"{r.dtype} ({r.dtype_text}) · device {r.device}"


def _memory_line(r: TensorReport) -> str:
    parts = []
    if r.nbytes is not None:
        per = f" ({fmt_int(r.itemsize)} B per element)" if r.itemsize else ""
        parts.append(fmt_bytes(r.nbytes) + per)
    parts.append(r.layout)
    if r.memory_format is not None:
        parts.append(r.memory_format)
    elif r.contiguous is not None:
        parts.append("contiguous" if r.contiguous else "not contiguous")
    return " · ".join(parts)


def _strides_line(r: TensorReport) -> str | None:
    if r.strides_bytes is None:
        return None
    elems = fmt_shape(r.strides) if r.strides is not None else "—"
    text = f"{elems} elements = {fmt_shape(r.strides_bytes)} bytes"
    if r.storage_offset is not None:
        text += f" · storage offset {fmt_int(r.storage_offset)}"
    if r.storage_nbytes is not None:
        text += f" · storage {fmt_bytes(r.storage_nbytes)}"
    return text


def _view_line(r: TensorReport) -> str | None:
    if r.is_view is None:
        return None
    text = f"yes, of {r.view_of}" if r.is_view and r.view_of else ("yes" if r.is_view else "no: it owns its memory")
    if r.version is not None:
        text += f" · version {fmt_int(r.version)} (counts in-place changes)"
    return text


def _autograd_line(r: TensorReport) -> str | None:
    if r.requires_grad is None:
        return None
    parts = [f"requires_grad {r.requires_grad}"]
    parts.append("leaf" if r.is_leaf else "not a leaf (computed)")
    if r.retains_grad:
        parts.append("retains grad")
    parts.append(f"grad_fn {r.grad_fn}" if r.grad_fn else "no grad_fn")
    if r.kind != "grad":
        if r.grad is not None:
            parts.append(".grad set (below)")
        elif r.is_leaf or r.retains_grad:
            parts.append(".grad not set")
    return " · ".join(parts)


def _stats_lines(r: TensorReport) -> list[tuple[str, str]]:
    s = r.stats
    if s is None:
        return []
    if s["count"] == 0 and s["nan"] == 0 and s["posinf"] == 0 and s["neginf"] == 0:
        return [("values", s.get("over", "no values"))]
    lines = []
    if r.item is not None:
        lines.append(("item()", fmt_value(r.item, r.dtype)))
        if r.numel == 1:
            return lines  # one value: min, max and mean would only repeat it
    mm = f"min {fmt_value(s['min'], r.dtype)} · max {fmt_value(s['max'], r.dtype)} · " if s["min"] is not None else ""
    lines.append(("values", f"{mm}mean {fmt_value(s['mean'], digits=7)} · {_std_words(s)}   (over {s['over']})"))
    if s.get("masked") is not None:
        lines.append(("masked", f"{fmt_int(s['masked'])} of {fmt_int(r.numel)} elements (not values: left out of every statistic)"))
    special = f"NaN {fmt_int(s['nan'])} · +inf {fmt_int(s['posinf'])} · -inf {fmt_int(s['neginf'])} · zeros {fmt_int(s['zeros'])}"
    if r.numel:
        if s["zeros"] and s["count"]:
            special += f" ({s['zeros'] / r.numel:.1%})"
    lines.append(("special", special))
    return lines


def _std_words(s: dict[str, Any]) -> str:
    """``std (n−1, as x.std()) 0.707107``: the value with the convention it follows."""
    conv = s.get("std_convention")
    label = f"std ({conv})" if conv else "std"
    if s["std"] is None and s.get("std_ddof") == 1 and s["count"] == 1:
        return f"{label} — (undefined for one value)"
    return f"{label} {fmt_value(s['std'], digits=6)}"


def _hist_caption(h: dict[str, Any], r: TensorReport) -> str:
    if h.get("labels") and len(h["labels"]) <= 2 and h["labels"][0] == "False":
        return f"False {fmt_int(h['counts'][0])} · True {fmt_int(h['counts'][1])}"
    lo, hi = h["edges"][0], h["edges"][-1]
    if h.get("labels"):
        span = f"one bar per value from {h['labels'][0]} to {h['labels'][-1]}"
    else:
        span = f"{len(h['counts'])} bins from {fmt_value(lo, digits=4)} to {fmt_value(hi, digits=4)}"
    sample = f"; every value of a strided sample of {fmt_int(h['sample_size'])}" if h["sampled"] else ""
    return span + sample


# -- text ---------------------------------------------------------------------------------------


def _single_lines(r: TensorReport, indent: str = "  ", compact: bool = False) -> list[str]:
    rows: list[tuple[str, str | None]] = [
        ("shape", _shape_line(r)),
        ("dtype", _dtype_line(r)),
        ("memory", None if compact else _memory_line(r)),
        ("strides", None if compact else _strides_line(r)),
        ("view", None if compact else _view_line(r)),
        ("autograd", None if compact else _autograd_line(r)),
        *_stats_lines(r),
    ]
    if r.histogram:
        rows.append(("histogram", f"|{sparkline(r.histogram['counts'])}|  {_hist_caption(r.histogram, r)}"))
    width = max(len(k) for k, v in rows if v is not None)
    lines = [f"{_title(r)} ({_kind_words(r)})"]
    lines += [f"{indent}{k.ljust(width)}  {v}" for k, v in rows if v is not None]
    for note in r.notes:
        lines.append(f"{indent}note: {note}")
    if r.preview is not None and not compact:
        lines.append(f"{indent}preview:")
        lines += [f"{indent}  {line}" for line in r.preview.splitlines()]
    if r.grad is not None:
        lines += [f"{indent}{line}" for line in _single_lines(r.grad, indent, compact=True)]
    if r.graph is not None:
        lines.append(f"{indent}graph of {r.name}:")
        lines += [f"{indent}  {line}" for line in r.graph.to_text().splitlines()]
    return lines


def _compare_rows(items: list[TensorReport]) -> list[list[str]]:
    def stat(r: TensorReport, key: str, digits: int | None = None) -> str:
        if r.stats is None:
            return "—"
        return fmt_value(r.stats[key], r.dtype, digits) if key in ("min", "max", "mean", "std") else fmt_int(r.stats[key])

    spec: list[tuple[str, Any]] = [
        ("type", lambda r: r.type),
        ("shape", lambda r: fmt_shape(r.shape) if r.shape is not None else "—"),
        ("in words", lambda r: r.shape_text),
        ("elements", lambda r: fmt_int(r.numel) if r.numel is not None else "—"),
        ("dtype", lambda r: r.dtype),
        ("device", lambda r: r.device),
        ("memory", lambda r: fmt_bytes(r.nbytes)),
        ("contiguous", lambda r: "—" if r.contiguous is None else ("yes" if r.contiguous else "no")),
        ("memory format", lambda r: r.memory_format or "—"),
        ("view", lambda r: "—" if r.is_view is None else ("yes" if r.is_view else "no")),
        ("requires_grad", lambda r: "—" if r.requires_grad is None else str(r.requires_grad)),
        ("grad_fn", lambda r: r.grad_fn or "—"),
        ("min", lambda r: stat(r, "min")),
        ("max", lambda r: stat(r, "max")),
        ("mean", lambda r: stat(r, "mean", 7)),
        ("std", lambda r: stat(r, "std", 6) + ("" if r.stats is None or r.stats.get("std_ddof") is None else f" (n−{r.stats['std_ddof']})" if r.stats["std_ddof"] else " (n)")),
        ("masked", lambda r: "—" if r.stats is None or r.stats.get("masked") is None else fmt_int(r.stats["masked"])),
        ("NaN", lambda r: stat(r, "nan")),
        ("+inf / -inf", lambda r: "—" if r.stats is None else f"{fmt_int(r.stats['posinf'])} / {fmt_int(r.stats['neginf'])}"),
        ("zeros", lambda r: stat(r, "zeros")),
        ("histogram", lambda r: f"|{sparkline(r.histogram['counts'])}|" if r.histogram else "—"),
    ]
    return [[label, *(fn(r) for r in items)] for label, fn in spec]


def to_text(report: TensorReport | TensorsReport) -> str:
    if hasattr(report, "items"):
        items = report.items
        table = text_table(["", *(r.name for r in items)], _compare_rows(items))
        lines = [f"{len(items)} objects side by side", table]
        for r in items:
            for note in r.notes:
                lines.append(f"note on {r.name}: {note}")
        return "\n".join(lines)
    return "\n".join(_single_lines(report))


# -- HTML ---------------------------------------------------------------------------------------


def _hist_html(h: dict[str, Any], r: TensorReport) -> str:
    counts = h["counts"]
    top = max(counts) or 1
    edges = h["edges"]
    bars = []
    for i, c in enumerate(counts):
        if h.get("labels"):
            label = h["labels"][i]
        else:
            label = f"{fmt_value(edges[i], digits=4)} to {fmt_value(edges[i + 1], digits=4)}"
        height = 0 if c == 0 else max(2.0, 100 * c / top)
        bars.append(f'<div style="height:{height:.1f}%" title="{esc(label)}: {esc(fmt_int(c))}"></div>')
    if h.get("labels"):
        left, right = h["labels"][0], h["labels"][-1]
    else:
        left, right = fmt_value(edges[0], digits=4), fmt_value(edges[-1], digits=4)
    width = 8 * len(counts)
    return (
        f'<div style="width:{width}px"><div class="adm-hist">{"".join(bars)}</div>'
        f'<div class="adm-axis"><span>{esc(left)}</span><span>{esc(right)}</span></div></div>'
        f'<div class="muted" style="font-size:11px">{esc(_hist_caption(h, r))}</div>'
    )


def _colour(v: float | None, lo: float, hi: float) -> str:
    if v is None:
        return "#bbbbbb"
    if lo < 0 < hi:
        m = max(-lo, hi)
        t = max(-1.0, min(1.0, v / m))
        if t < 0:  # blue for negative
            a = -t
            rgb = (int(255 - a * (255 - 33)), int(255 - a * (255 - 102)), int(255 - a * (255 - 172)))
        else:  # red for positive
            rgb = (int(255 - t * (255 - 178)), int(255 - t * (255 - 24)), int(255 - t * (255 - 43)))
    else:
        t = 0.0 if hi == lo else max(0.0, min(1.0, (v - lo) / (hi - lo)))
        rgb = (int(247 - t * (247 - 8)), int(251 - t * (251 - 48)), int(255 - t * (255 - 107)))
    return "#%02x%02x%02x" % rgb


def _heat_html(hm: dict[str, Any], r: TensorReport) -> str:
    lo, hi = hm["min"], hm["max"]
    tables = []
    # cells big enough to read a small matrix (a 4 × 6 one is 144 px wide), 8 px at least
    longest = max((max(len(m), max((len(row) for row in m), default=1)) for m in hm["matrices"]), default=1)
    size = max(8, min(24, 144 // max(longest, 1)))
    for k, m in enumerate(hm["matrices"]):
        rows = []
        for row in m:
            cells = "".join(
                f'<td style="width:{size}px;height:{size}px;background:{_colour(v, lo, hi)}" title="{esc(fmt_value(v, r.dtype) if v is not None else "NaN/inf")}"></td>'
                for v in row
            )
            rows.append(f"<tr>{cells}</tr>")
        label = "" if len(hm["matrices"]) == 1 and hm["of"] == 1 else f'<div class="muted" style="font-size:11px">[{k}]</div>'
        tables.append(f'<div style="display:inline-block;vertical-align:top">{label}<table class="adm-hm">{"".join(rows)}</table></div>')
    caption = "heat map"
    if hm["row_step"] > 1 or hm["col_step"] > 1:
        caption += f" of every {hm['row_step']}th row and {hm['col_step']}th column"
    if hm["of"] > hm["first"]:
        caption += f"; first {hm['first']} of {fmt_int(hm['of'])} matrices"
    scale = "blue negative, white 0, red positive" if lo < 0 < hi else f"light {fmt_value(lo, r.dtype)} to dark {fmt_value(hi, r.dtype)}"
    return f'<div>{"".join(tables)}</div><div class="muted" style="font-size:11px">{esc(caption)} ({esc(scale)})</div>'


def _facts_html(r: TensorReport, rows: list[tuple[str, str | None]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v is not None)
    return f"<table>{body}</table>"


def _summary_rows(r: TensorReport) -> list[tuple[str, str | None]]:
    return [
        ("shape", _shape_line(r)),
        ("dtype", _dtype_line(r)),
        ("memory", _memory_line(r)),
        ("autograd", _autograd_line(r)),
        *_stats_lines(r),
    ]


def _detail_rows(r: TensorReport) -> list[tuple[str, str | None]]:
    return [("strides", _strides_line(r)), ("view", _view_line(r))]


def _pictures_html(r: TensorReport) -> str:
    parts = []
    if r.histogram:
        parts.append(f'<div style="display:inline-block;vertical-align:top;margin-right:14px">{_hist_html(r.histogram, r)}</div>')
    if r.heatmap:
        parts.append(f'<div style="display:inline-block;vertical-align:top">{_heat_html(r.heatmap, r)}</div>')
    return f'<div style="margin:4px 0">{"".join(parts)}</div>' if parts else ""


def _notes_html(r: TensorReport) -> str:
    if not r.notes:
        return ""
    return "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in r.notes) + "</ul>"


def _preview_html(r: TensorReport) -> str:
    return f'<pre class="adm-pre">{esc(r.preview)}</pre>' if r.preview is not None else '<span class="muted">no values to show</span>'


def _head_html(r: TensorReport) -> str:
    return f'<h4><code>{esc(r.name)}</code> <span class="muted">{esc(r.type)} · {esc(_kind_words(r))}</span></h4>'


def _card_html(r: TensorReport, full: bool = True) -> str:
    """One object's card; ``full`` adds the detail sections the widget keeps in its accordion."""
    html = _head_html(r) + _facts_html(r, _summary_rows(r)) + _pictures_html(r) + _notes_html(r)
    if full:
        details = _facts_html(r, _detail_rows(r))
        html += f"<details><summary>memory details</summary>{details}</details>"
        html += f"<details><summary>values (preview)</summary>{_preview_html(r)}</details>"
        if r.grad is not None:
            html += f"<details><summary>.grad</summary>{_card_html(r.grad)}</details>"
        if r.graph is not None:
            html += f"<details><summary>autograd graph of {esc(r.name)}</summary>{r.graph.to_html()}</details>"
    return f'<div class="adm-card">{html}</div>'


def to_html(report: TensorReport | TensorsReport) -> str:
    items = report.items if hasattr(report, "items") else [report]
    cards = "".join(_card_html(r) for r in items)
    return f'{STYLE}{_STYLE}<div class="adm"><div class="adm-cards">{cards}</div></div>'


# -- widgets ------------------------------------------------------------------------------------


def _card_widget(widgets, r: TensorReport):
    head = widgets.HTML(value=f'{STYLE}{_STYLE}<div class="adm"><div>{_head_html(r)}{_facts_html(r, _summary_rows(r))}{_pictures_html(r)}{_notes_html(r)}</div></div>')
    sections: list[tuple[str, Any]] = [
        ("memory details", lambda: widgets.HTML(value=f'{STYLE}<div class="adm">{_facts_html(r, _detail_rows(r))}</div>')),
        ("values (preview)", lambda: widgets.HTML(value=f'{STYLE}{_STYLE}<div class="adm">{_preview_html(r)}</div>')),
    ]
    if r.grad is not None:
        grad = r.grad
        sections.append((".grad", lambda: _card_widget(widgets, grad)))
    if r.graph is not None:
        graph = r.graph
        sections.append((f"autograd graph of {r.name}", lambda: graph.to_widget()))
    accordion = widgets.Accordion(children=[widgets.HTML() for _ in sections], titles=tuple(t for t, _ in sections))
    built: set[int] = set()

    def on_open(change) -> None:
        i = change["new"]
        if i is None or i in built:
            return
        built.add(i)
        children = list(accordion.children)
        children[i] = sections[i][1]()
        accordion.children = children
        accordion.titles = tuple(t for t, _ in sections)

    accordion.observe(on_open, names="selected_index")
    return widgets.VBox([head, accordion], layout=widgets.Layout(border="1px solid #d0d7de", padding="4px 8px", margin="0 12px 8px 0", max_width="540px"))


def to_widget(report: TensorReport | TensorsReport):
    """A card per object (an HTML summary with its pictures, and an accordion of details built
    on first opening); several cards wrap side by side."""
    import ipywidgets as widgets

    if hasattr(report, "items"):
        return widgets.HBox([_card_widget(widgets, r) for r in report.items], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
    return _card_widget(widgets, report)
