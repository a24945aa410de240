"""Views of :class:`~autodiff_magics.aliasing.AliasReport` (pairs of objects) and
:class:`~autodiff_magics.aliasing.AliasCellReport` (what a cell changed).

Text: a table of pairs with a mark each, then the explanation of every pair that shares memory
(or lives in the same storage). HTML: a matrix of marks (shared / same storage, no shared
element / independent) and the explanations. Widget: the matrix, and a drop-down that shows one
pair's explanation at a time. The cell report lists silent changes first, with the variable
they came through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import STYLE, esc, fmt_bytes, fmt_int, fmt_shape, html_table, Markup, text_table

if TYPE_CHECKING:
    from ..aliasing import AliasCellReport, AliasPair, AliasReport

__all__ = ["to_text", "to_html", "to_widget", "mark"]

#: (text mark, html colour, short word) per relation
_MARKS = {
    "same_memory": ("SHARED", "#cf222e", "shared"),
    "a_in_b": ("SHARED", "#cf222e", "shared"),
    "b_in_a": ("SHARED", "#cf222e", "shared"),
    "partial_overlap": ("SHARED", "#cf222e", "shared"),
    "overlap": ("SHARED", "#cf222e", "shared"),
    "may_share": ("MAY SHARE", "#bc4c00", "may share"),
    "disjoint_interleaved": ("separate", "#9a6700", "same storage"),
    "disjoint_separate": ("separate", "#9a6700", "same storage"),
    "independent": ("independent", "#1a7f37", "independent"),
}
_STYLE = """<style>
.adm table.adm-mx td.mk{text-align:center;font-weight:bold}
.adm .adm-pair{margin:4px 0 8px 0}
.adm .adm-silent{color:#cf222e;font-weight:bold}
</style>"""


def mark(pair: AliasPair) -> str:
    """The pair's one-word mark: SHARED, MAY SHARE, separate (same storage) or independent."""
    return _MARKS[pair.relation][0]


def _is_cell(report: Any) -> bool:
    return hasattr(report, "silent")


def _pair_lines(p: AliasPair) -> list[str]:
    lines = [f"{p.a} and {p.b}: {p.summary} [{mark(p)}]", f"  {p.meaning}"]
    for how in p.how:
        lines.append(f"  {how}.")
    if p.overlap_range is not None:
        amount = "" if p.overlap_bytes is None else f"{fmt_bytes(p.overlap_bytes)} shared; "
        lines.append(f"  {amount}their byte ranges meet at bytes {fmt_int(p.overlap_range[0])} to {fmt_int(p.overlap_range[1])} of the allocation")
    lines.append(f"  {p.advice}")
    return lines


def _pairs_rows(report: AliasReport) -> list[list[str]]:
    return [
        [p.a, p.b, mark(p), p.summary, "—" if p.overlap_bytes is None else fmt_bytes(p.overlap_bytes)]
        for p in report.pairs
    ]


def _objects_rows(report: AliasReport) -> list[list[str]]:
    return [[o["name"], o["type"], o["device"], fmt_shape(o["shape"]), o["dtype"], fmt_bytes(o["nbytes"])] for o in report.objects]


def _cell_text(r: AliasCellReport) -> str:
    lines = []
    if r.silent:
        n = len(r.silent)
        lines.append(f"{n} variable{'s' if n != 1 else ''} changed silently (the cell never wrote to {'them' if n != 1 else 'it'} by name):")
        for item in r.silent:
            lines.append(f"  ! {_silent_words(item)}")
    else:
        lines.append("no variable changed silently: every change was to a variable the cell writes to by name.")
    if r.changed:
        lines.append("changed by the cell (it writes to them): " + ", ".join(d["name"] for d in r.changed))
    for item in r.new_sharing:
        lines.append(f"new or rebound {item['name']} shares memory with {', '.join(item['with'])}: writing to one will change the other")
    if r.rebound:
        lines.append("rebound or deleted (a new object, not a silent change): " + ", ".join(r.rebound))
    if r.unchanged:
        lines.append("unchanged: " + ", ".join(r.unchanged))
    if r.too_large:
        items = ", ".join(f"{d['name']} ({fmt_bytes(d['nbytes'])})" for d in r.too_large)
        lines.append(f"too large to fingerprint (over {fmt_bytes(r.budget)}; raise it with --budget): {items}")
    for d in r.not_watched:
        lines.append(f"not watched: {d['name']}: {d['reason']}")
    if r.error:
        lines.append(f"the cell raised {r.error}; the changes above are those made before it stopped")
    return "\n".join(lines)


def _silent_words(item: dict[str, Any]) -> str:
    """One silent change, naming who changed it only when the cell shows it."""
    text = f"{item['name']} changed: {item['how']}"
    if item.get("through"):
        via = item["through"]
        rel = {d["name"]: d["relation"] for d in item.get("shares_with", [])}
        text += " — through " + ", ".join(f"{v} ({rel.get(v, 'shared memory')})" for v in via)
    elif item.get("by"):
        text += " — " + item["by"]
    elif item.get("shares_with"):
        others = item["shares_with"]
        changed = [d["name"] for d in others if d.get("changed")]
        text += " — it shares memory with " + ", ".join(d["name"] for d in others)
        if changed:
            text += f" ({', '.join(changed)} changed too); the cell wrote to none of them by name, so the change came from code that reached the memory another way"
    elif item.get("passed"):
        text += " — the cell passed it to a function, which may have written into it"
    else:
        text += " — through memory no variable in your namespace holds (a view kept elsewhere, or a function)"
    return text


def to_text(report: AliasReport | AliasCellReport) -> str:
    if _is_cell(report):
        return _cell_text(report)
    lines = [f"memory of {', '.join(o['name'] for o in report.objects)}"]
    lines.append(text_table(["a", "b", "", "relation", "overlap"], _pairs_rows(report)))
    for p in report.pairs:
        if p.relation != "independent":
            lines.append("")
            lines += _pair_lines(p)
    independent = [p for p in report.pairs if p.relation == "independent"]
    if independent:
        lines.append("")
        for p in independent:
            lines.append(f"{p.a} and {p.b}: {p.meaning}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


# -- HTML ---------------------------------------------------------------------------------------


def _mark_html(p: AliasPair | None) -> str:
    if p is None:
        return '<span class="muted">·</span>'
    word, colour, short = _MARKS[p.relation]
    symbol = {"shared": "●", "may share": "?", "same storage": "◐", "independent": "○"}[short]
    return f'<span style="color:{colour}" title="{esc(p.summary)}">{symbol} {esc(short)}</span>'


def _matrix_html(report: AliasReport) -> str:
    names = [o["name"] for o in report.objects]
    head = "".join(f"<th><code>{esc(n)}</code></th>" for n in names[1:])
    rows = []
    for i, a in enumerate(names[:-1]):
        cells = []
        for j, b in enumerate(names[1:], start=1):
            cells.append(f'<td class="mk">{_mark_html(report.pair(a, b))}</td>' if j > i else "<td></td>")
        rows.append(f"<tr><th><code>{esc(a)}</code></th>{''.join(cells)}</tr>")
    return f'<table class="adm-mx"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _pair_html(p: AliasPair) -> str:
    body = f"<b><code>{esc(p.a)}</code> and <code>{esc(p.b)}</code>: {esc(p.summary)}</b> {_mark_html(p)}<br>{esc(p.meaning)}"
    for how in p.how:
        body += f"<br>{esc(how)}."
    if p.overlap_range is not None:
        amount = "" if p.overlap_bytes is None else f"{fmt_bytes(p.overlap_bytes)} shared; "
        body += f'<br><span class="muted">{esc(amount)}byte ranges meet at bytes {esc(fmt_int(p.overlap_range[0]))} to {esc(fmt_int(p.overlap_range[1]))} of the allocation</span>'
    body += f"<br><i>{esc(p.advice)}</i>"
    return f'<div class="adm-pair">{body}</div>'


def _objects_html(report: AliasReport) -> str:
    rows = [[Markup(f"<code>{esc(r[0])}</code>"), *r[1:]] for r in _objects_rows(report)]
    return html_table(["name", "type", "device", "shape", "dtype", "memory"], rows, [False, False, False, False, False, True])


def _cell_html(r: AliasCellReport) -> str:
    parts = []
    if r.silent:
        items = "".join(f'<li class="adm-silent">{esc(_silent_words(d))}</li>' for d in r.silent)
        parts.append(f"<h4>changed silently (the cell never wrote to them by name)</h4><ul>{items}</ul>")
    else:
        parts.append('<h4 class="ok">no variable changed silently</h4>')
    rows = []
    if r.changed:
        rows.append(("changed by the cell", ", ".join(d["name"] for d in r.changed)))
    for item in r.new_sharing:
        rows.append(("new sharing", f"{item['name']} shares memory with {', '.join(item['with'])}"))
    if r.rebound:
        rows.append(("rebound or deleted", ", ".join(r.rebound)))
    if r.unchanged:
        rows.append(("unchanged", ", ".join(r.unchanged)))
    if r.too_large:
        rows.append((f"too large (> {fmt_bytes(r.budget)})", ", ".join(f"{d['name']} ({fmt_bytes(d['nbytes'])})" for d in r.too_large)))
    for d in r.not_watched:
        rows.append(("not watched", f"{d['name']}: {d['reason']}"))
    if r.error:
        rows.append(("the cell raised", r.error))
    if rows:
        parts.append("<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>")
    return "".join(parts)


def to_html(report: AliasReport | AliasCellReport) -> str:
    if _is_cell(report):
        return f'{STYLE}{_STYLE}<div class="adm">{_cell_html(report)}</div>'
    body = _matrix_html(report) + _objects_html(report)
    body += "".join(_pair_html(p) for p in report.pairs)
    body += "".join(f'<p class="muted">{esc(n)}</p>' for n in report.notes)
    return f'{STYLE}{_STYLE}<div class="adm">{body}</div>'


# -- widgets ------------------------------------------------------------------------------------


def to_widget(report: AliasReport | AliasCellReport):
    """The mark matrix and one pair's explanation, picked from a drop-down (sharing pairs
    first); the cell report as one HTML widget, silent changes first."""
    import ipywidgets as widgets

    if _is_cell(report):
        return widgets.HTML(value=to_html(report))
    order = sorted(report.pairs, key=lambda p: (not p.shares_memory, p.relation == "independent"))
    top = widgets.HTML(value=f'{STYLE}{_STYLE}<div class="adm">{_matrix_html(report)}{_objects_html(report)}</div>')
    options = [(f"{p.a} ↔ {p.b}: {_MARKS[p.relation][2]}", i) for i, p in enumerate(order)]
    pick = widgets.Dropdown(options=options, value=0, description="pair", layout=widgets.Layout(width="max-content"))
    detail = widgets.HTML(value=f'{STYLE}{_STYLE}<div class="adm">{_pair_html(order[0])}</div>')

    def show(change) -> None:
        detail.value = f'{STYLE}{_STYLE}<div class="adm">{_pair_html(order[change["new"]])}</div>'

    pick.observe(show, names="value")
    notes = "".join(f'<p class="muted">{esc(n)}</p>' for n in report.notes)
    children = [top, pick, detail] + ([widgets.HTML(value=f'<div class="adm">{notes}</div>')] if notes else [])
    return widgets.VBox(children)
