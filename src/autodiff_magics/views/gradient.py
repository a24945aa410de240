"""Views of a :class:`~autodiff_magics.gradient.GradientReport`: text, static HTML, widget."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .common import STYLE, Markup, esc, fmt_int, fmt_num, fmt_seconds, html_table, text_table

__all__ = ["to_text", "to_html", "to_widget", "study_svg"]

#: most gradient components listed in a table (the first and the last ones, with a gap line)
MAX_ROWS = 16
_MARK_OK, _MARK_BAD = "✓", "✗"


# -- shared pieces ---------------------------------------------------------------------------------


def _nested(a) -> str:
    """A small array as the user wrote it: [[1, 2], [3, 4]] for a 2 × 2 (one level per dimension)."""
    if a.ndim == 0:
        return fmt_num(float(a))
    return "[" + ", ".join(_nested(b) for b in a) + "]"


def _point_text(report) -> str:
    parts = []
    for v in report.variables.values():
        if v.numel == 1:
            parts.append(f"{v.name} = {fmt_num(float(v.point.reshape(-1)[0]))}")
        elif v.numel <= 8:
            parts.append(f"{v.name} = {_nested(np.asarray(v.point).reshape(v.shape))}")
        else:
            parts.append(f"{v.name}: {' × '.join(map(str, v.shape))} = {fmt_int(v.numel)} values")
    return ", ".join(parts)


def _label(name: str, index: tuple[int, ...]) -> str:
    return name + (f"[{', '.join(map(str, index))}]" if index else "")


def _components(report) -> Iterator[tuple[str, str, tuple[int, ...]] | None]:
    """(label, variable, index) of the components to list: all of them, or for a long list the
    first ones, None for the gap, and the last three."""
    variables = list(report.variables.values())
    total = sum(v.numel for v in variables)
    wanted = range(total) if total <= MAX_ROWS else [*range(MAX_ROWS - 4), None, *range(total - 3, total)]
    for k in wanted:
        if k is None:
            yield None
            continue
        for v in variables:  # the variable holding the k-th component overall
            if k < v.numel:
                idx = tuple(int(i) for i in np.unravel_index(k, v.shape)) if v.shape else ()
                yield _label(v.name, idx), v.name, idx
                break
            k -= v.numel


def _bad_cells(report) -> set[tuple[str, str, tuple[int, ...]]]:
    """(method, variable, index) cells to mark: the suspect's side of each disagreement."""
    cells = set()
    for d in report.disagreements:
        if d.variable is None:
            continue
        method = d.method if d.method in report.suspects else (report.reference if report.reference in report.suspects else d.method)
        cells.add((method, d.variable, d.index))
    return cells


def _with_gradient(report) -> list[str]:
    return [n for n, m in report.methods.items() if m.status == "ok" and m.gradient is not None]


def _step_text(m) -> str:
    if m.step is None:
        return ""
    if m.name == "directional":
        return f"h = {m.step:.2g} along each direction"
    return f"{m.step:.2g}·max(1, |xᵢ|)"


_METHOD_HEADERS = ["method", "max |diff|", "time", "evaluations", "step"]


def _method_rows(report) -> list[list[str]]:
    """Rows of the methods that ran; see :func:`_not_run` for the others."""
    rows = []
    for name, m in report.methods.items():
        if m.status == "ok":
            err = "(reference)" if name == report.reference else fmt_num(m.max_abs_error, 3) if m.max_abs_error is not None else "—"
            evals = fmt_int(m.evaluations) if m.evaluations else ""
            rows.append([name, err, fmt_seconds(m.seconds), evals, _step_text(m)])
    return rows


def _not_run(report) -> list[str]:
    lines = [f"{name} {m.status}: {m.reason}" for name, m in report.methods.items() if m.status != "ok"]
    points = report.methods.get("points")
    if points is not None and points.status == "ok":
        d = points.details
        skipped = f", {d['skipped']} skipped where f is not finite" if d.get("skipped") else ""
        if d.get("bad"):
            first = d["bad"][0]
            lines.append(
                f"points: autograd and central differences disagree at {len(d['bad'])} of {d['compared']} random points around the point "
                f"(seed {d['seed']}{skipped}); first at {first['at']}: g·v {fmt_num(first['autograd'])} vs {fmt_num(first['central'])}"
            )
        else:
            lines.append(f"points: autograd and central differences agree at all {d['compared']} random points around the point (seed {d['seed']}{skipped})")
    return lines


def _directional_rows(report) -> list[list[str]]:
    m = report.methods.get("directional")
    if m is None or m.status != "ok" or "expected" not in m.details:
        return []
    bad = {d.index[0] for d in report.disagreements if d.method == "directional"}
    rows = []
    for k, (fd, ex, err) in enumerate(zip(m.details["differences"], m.details["expected"], m.details["errors"])):
        mark = _MARK_BAD if k in bad else _MARK_OK
        rows.append([f"v{k + 1}", fmt_num(ex), fmt_num(fd), fmt_num(abs(fd - ex), 3), fmt_num(err, 3), mark])
    return rows


# -- text ------------------------------------------------------------------------------------------


#: longest formula a view writes out; a longer one (a model's loss written in its weights) is named
#: by its length instead, and stays whole in the report (``r.symbolic``, ``to_dict()['symbolic']``)
FORMULA_LIMIT = 240


def _formula(text: str) -> str:
    if len(text) <= FORMULA_LIMIT:
        return text
    return f"… (a {len(text):,}-character formula, whole in r.symbolic and r.to_dict()['symbolic'])"


def _too_long(sym) -> str | None:
    """One sentence instead of the formulas when f itself is too long to read."""
    n = len(sym.expression)
    if n <= FORMULA_LIMIT:
        return None
    return (f"f is a {n:,}-character formula in the variables: too long to print here; r.symbolic and "
            "r.to_dict()['symbolic'] hold it and its derivatives; the table below shows their values")


def _formula_latex(text: str) -> str:
    if len(text) <= FORMULA_LIMIT:
        return text
    return f"\\ldots\\text{{ (a {len(text):,}-character formula, whole in r.symbolic)}}"


def to_text(report) -> str:
    """The report as terminal IPython prints it."""
    lines = [f"f = {fmt_num(report.value)}   at {_point_text(report)}   ({report.dtype} on {report.device})"]
    mark = _MARK_OK if report.agree else _MARK_BAD
    lines.append(f"{mark} {report.verdict}")
    for e in report.explanations:
        lines.append(f"  • {e}")
    sym = report.symbolic
    if sym is not None:
        lines.append("")
        long = _too_long(sym)
        lines.append(long or f"f = {sym.expression}")
        for comp in [] if long else _components(report):
            if comp is None:
                lines.append("⋮")
                continue
            _, var, idx = comp
            d, exact = sym.derivatives[var][idx], sym.exact_gradient[var][idx]
            lines.append(f"∂f/∂{_pretty_partial(var, idx)} = {_formula(d)}" + (f" = {exact}" if exact != d else ""))
    methods = _with_gradient(report)
    if methods:
        bad = _bad_cells(report)
        rows = []
        for comp in _components(report):
            if comp is None:
                rows.append(["⋮"] + ["⋮"] * len(methods))
                continue
            label, var, idx = comp
            cells = [label]
            for name in methods:
                value = float(report.methods[name].gradient[var][idx])
                cells.append(fmt_num(value, 12) + (f" {_MARK_BAD}" if (name, var, idx) in bad else ""))
            rows.append(cells)
        lines += ["", text_table(["component", *methods], rows, "l" + "r" * len(methods))]
    directional = _directional_rows(report)
    if directional:
        lines += ["", "Directional check (random directions v, |vᵢ| ≤ 1):",
                  text_table(["v", "g·v", "difference", "|diff|", "est. error", ""], directional, "lrrrrl")]
    lines += ["", text_table(_METHOD_HEADERS, _method_rows(report), "lrrrl")]
    lines += _not_run(report)
    if report.tolerance:
        lines.append(f"tolerance: {report.tolerance}")
    for note in report.notes:
        lines.append(f"note: {note}")
    if report.study is not None:
        lines += ["", _study_text(report.study)]
    if report.graph is not None:
        lines += ["", "Graph of the autograd run, with the gradient that flowed through each node:", report.graph.to_text()]
    return "\n".join(lines)


def _pretty_partial(var: str, idx: tuple[int, ...]) -> str:
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    return var + ",".join(str(i).translate(sub) for i in idx)


def _study_text(study) -> str:
    rows = [[f"{h:.0e}", fmt_num(fw, 3), fmt_num(ce, 3)] for h, fw, ce in zip(study.steps, study.forward, study.central)]
    used = []
    if study.used_forward:
        used.append(f"forward used h ≈ {study.used_forward:.1e}")
    if study.used_central:
        used.append(f"central used h ≈ {study.used_central:.1e}")
    return "Step-size study (error of the directional derivative against h):\n" + text_table(
        ["h", "forward error", "central error"], rows, "rrr"
    ) + ("\n" + "; ".join(used) if used else "")


# -- HTML ------------------------------------------------------------------------------------------


def _header_html(report) -> str:
    klass = "ok" if report.agree else "bad"
    mark = _MARK_OK if report.agree else _MARK_BAD
    parts = [
        f"<div><b>f = {esc(fmt_num(report.value))}</b> at <span class='mono'>{esc(_point_text(report))}</span> "
        f"<span class='muted'>({esc(report.dtype)} on {esc(report.device)})</span></div>",
        f"<div class='{klass}'>{mark} {esc(report.verdict)}</div>",
    ]
    if report.explanations:
        parts.append("<ul>" + "".join(f"<li>{esc(e)}</li>" for e in report.explanations) + "</ul>")
    return "".join(parts)


def _formulas_html(report, latex: bool) -> str:
    sym = report.symbolic
    if sym is None:
        reason = report.methods.get("symbolic")
        why = f": {reason.reason}" if reason is not None and reason.reason else ""
        return f"<div class='muted'>No symbolic formula{esc(why)}</div>"
    long = _too_long(sym)
    if long:
        return f"<div class='muted'>{esc(long)}</div>"
    items = []
    if latex:
        items.append(f"<div>$f = {esc(sym.latex)}$</div>")
    else:
        items.append(f"<div class='mono'>f = {esc(sym.expression)}</div>")
    for comp in _components(report):
        if comp is None:
            items.append("<div>⋮</div>")
            continue
        _, var, idx = comp
        exact = sym.exact_gradient[var][idx]
        if latex:
            d = _formula_latex(sym.derivatives_latex[var][idx])
            sym_name = _latex_symbol(var, idx)
            items.append(f"<div>$\\dfrac{{\\partial f}}{{\\partial {esc(sym_name)}}} = {esc(d)}$ <span class='muted'>= {esc(exact)}</span></div>")
        else:
            d = _formula(sym.derivatives[var][idx])
            items.append(f"<div class='mono'>∂f/∂{esc(_pretty_partial(var, idx))} = {esc(d)} = {esc(exact)}</div>")
    return "".join(items)


def _latex_symbol(var: str, idx: tuple[int, ...]) -> str:
    if not idx:
        return var
    return f"{var}_{{{','.join(map(str, idx))}}}"


def _comparison_html(report) -> str:
    methods = _with_gradient(report)
    if not methods:
        return ""
    bad = _bad_cells(report)
    rows = []
    for comp in _components(report):
        if comp is None:
            rows.append(["⋮"] * (len(methods) + 1))
            continue
        label, var, idx = comp
        cells: list[Any] = [label]
        for name in methods:
            value = fmt_num(float(report.methods[name].gradient[var][idx]), 12)
            if (name, var, idx) in bad:
                cells.append(Markup(f"<span class='bad' title='disagrees with {esc(report.reference)}'>{esc(value)} {_MARK_BAD}</span>"))
            elif name == report.reference:
                cells.append(Markup(f"<b>{esc(value)}</b>"))
            else:
                cells.append(Markup(f"<span class='ok'>{esc(value)}</span>"))
        rows.append(cells)
    headers = ["component"] + [f"{m} (reference)" if m == report.reference else m for m in methods]
    return html_table(headers, rows, [False] + [True] * len(methods))


def _methods_html(report) -> str:
    lines = "".join(f"<div class='muted'>{esc(line)}</div>" for line in _not_run(report))
    return html_table(_METHOD_HEADERS, _method_rows(report), [False, True, True, True, False]) + lines


def _directional_html(report) -> str:
    rows = _directional_rows(report)
    if not rows:
        return ""
    return "<h4>Directional check</h4>" + html_table(["v", "g·v", "difference", "|diff|", "est. error", ""], rows, [False, True, True, True, True, False])


def to_html(report) -> str:
    """Static HTML: what nbconvert and GitHub show where no widget runs."""
    parts = [STYLE, "<div class='adm'>", "<h4>%%gradient</h4>", _header_html(report), _formulas_html(report, latex=False)]
    parts += [_comparison_html(report), _directional_html(report), "<h4>Methods</h4>", _methods_html(report)]
    if report.tolerance:
        parts.append(f"<div class='muted'>tolerance: {esc(report.tolerance)}</div>")
    parts += [f"<div class='muted'>note: {esc(n)}</div>" for n in report.notes]
    if report.study is not None:
        parts.append("<h4>Step-size study</h4>" + study_svg(report.study))
    if report.graph is not None:
        parts.append("<h4>Graph of the autograd run</h4>" + report.graph.to_html())
    parts.append("</div>")
    return "".join(parts)


# -- step-size study picture -----------------------------------------------------------------------


def study_svg(study, width: int = 420, height: int = 240) -> str:
    """A log-log chart of the error against the step for forward and central differences."""
    pad_l, pad_r, pad_t, pad_b = 60, 12, 12, 34
    xs = [math.log10(h) for h in study.steps]
    finite = [v for v in study.forward + study.central if v > 0 and math.isfinite(v)]
    if not finite:
        return "<div class='muted'>(every error is zero: nothing to plot)</div>"
    lo, hi = math.floor(math.log10(min(finite))), math.ceil(math.log10(max(finite)))
    hi = max(hi, lo + 1)
    x_lo, x_hi = min(xs), max(xs)

    def px(x: float) -> float:
        return pad_l + (x - x_lo) / (x_hi - x_lo) * (width - pad_l - pad_r)

    def py(v: float) -> float:
        y = math.log10(v) if v > 0 else lo
        return pad_t + (hi - min(max(y, lo), hi)) / (hi - lo) * (height - pad_t - pad_b)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
           f"aria-label='error against step size' style='font:10px sans-serif'>"]
    for k in range(lo, hi + 1, max(1, (hi - lo) // 6)):
        y = py(10.0**k)
        out.append(f"<line x1='{pad_l}' x2='{width - pad_r}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>")
        out.append(f"<text x='{pad_l - 4}' y='{y + 3:.1f}' text-anchor='end'>1e{k}</text>")
    for x in range(int(x_hi), int(x_lo) - 1, -2):
        out.append(f"<text x='{px(x):.1f}' y='{height - pad_b + 14}' text-anchor='middle'>1e{x}</text>")
    out.append(f"<text x='{(pad_l + width) / 2:.0f}' y='{height - 4}' text-anchor='middle'>step h</text>")
    mid = pad_t + (height - pad_t - pad_b) / 2
    out.append(f"<text x='10' y='{mid:.0f}' text-anchor='middle' transform='rotate(-90 10 {mid:.0f})'>|error| of g·v</text>")
    legend_y = height - pad_b - 8
    out.append(f"<text x='{pad_l + 6}' y='{legend_y}' fill='#555'>dashed: the step each used</text>")
    for name, values, colour in (("forward", study.forward, "#d1242f"), ("central", study.central, "#0969da")):
        points = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in zip(xs, values) if math.isfinite(v))
        out.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>")
        used = study.used_forward if name == "forward" else study.used_central
        if used:
            x = px(min(max(math.log10(used), x_lo), x_hi))
            out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{pad_t}' y2='{height - pad_b}' stroke='{colour}' stroke-dasharray='3,3'/>")
        y_label = legend_y - (28 if name == "forward" else 14)
        out.append(f"<text x='{pad_l + 6}' y='{y_label}' fill='{colour}'>{name}</text>")
    out.append("</svg>")
    return "".join(out)


# -- widget ----------------------------------------------------------------------------------------


def to_widget(report):
    """An ipywidgets view: verdict, formulas in LaTeX, comparison table, methods, graph, study."""
    import ipywidgets as w

    head = w.HTML(STYLE + "<div class='adm'>" + _header_html(report) + "</div>")
    formulas = w.HTMLMath(STYLE + "<div class='adm'>" + _formulas_html(report, latex=True) + "</div>")
    table = w.HTML(STYLE + "<div class='adm'>" + _comparison_html(report) + _directional_html(report) + "</div>")
    def methods_box():
        extra = [f"tolerance: {report.tolerance}"] if report.tolerance else []
        extra += [f"note: {n}" for n in report.notes]
        notes = "".join(f"<div class='muted'>{esc(x)}</div>" for x in extra)
        return w.HTML(STYLE + "<div class='adm'>" + _methods_html(report) + notes + "</div>")

    details = [("Methods: time, steps, evaluations", methods_box)]
    if report.study is not None:
        details.append(("Step-size study", lambda: w.HTML(study_svg(report.study))))
    children = [head, formulas, table]
    if report.graph is not None:
        children.append(w.HTML("<b>Graph of the autograd run</b> <span style='color:#666'>(click a node to open it)</span>"))
        children.append(report.graph.to_widget())
    accordion = w.Accordion(children=[w.VBox() for _ in details], titles=tuple(t for t, _ in details))
    builders = [b for _, b in details]

    def on_open(change: dict[str, Any]) -> None:
        index = change["new"]
        if index is not None and not accordion.children[index].children:
            accordion.children[index].children = (builders[index](),)

    accordion.observe(on_open, names="selected_index")
    children.append(accordion)
    return w.VBox(children)



# -- progress of a slow check ----------------------------------------------------------------------


class Progress:
    """Which method runs and how many evaluations it has done, for checks over about a second:
    an ipywidgets bar when ``publish`` (a display publisher captured before the check silences
    displays) is given, else one text line on stderr; nothing is left behind when it closes."""

    def __init__(self, publish: Any = None, after: float = 1.0, text: bool = True) -> None:
        import sys
        import time

        self._clock = time.perf_counter
        self._start = self._clock()
        self._after = after
        self._stream = sys.stderr if text else None
        self._publish = publish
        self._widget = None
        self._shown = False
        self._last = 0.0
        self._previous: float | None = None
        self._fastest = float("inf")
        self._gaps = 0

    def __call__(self, method: str, done: int, total: int) -> None:
        now = self._clock()
        if self._previous is not None:
            # the fastest evaluation so far, so that one-time costs (imports) do not count
            self._fastest = min(self._fastest, now - self._previous)
            self._gaps += 1
        self._previous = now
        if self._widget is None and not self._shown:
            slow = self._gaps >= 2 and self._fastest * max(total - done, 0) >= self._after
            if now - self._start < self._after or not slow:
                return
        if now - self._last < 0.2:
            return
        self._last = now
        left = f", about {total - done:,} left" if total > done else ""
        text = f"%%gradient: {method or 'evaluating'}, {done:,} evaluations of the cell{left}"
        if self._publish is not None:
            self._show_widget(text, done, total)
            return
        if self._stream is None:
            return
        try:
            self._stream.write("\r" + text.ljust(72)[:100])
            self._stream.flush()
            self._shown = True
        except (OSError, ValueError):
            pass

    def _show_widget(self, text: str, done: int, total: int) -> None:
        import ipywidgets as w

        if self._widget is None:
            self._widget = w.HBox([w.IntProgress(min=0, max=max(total, 1)), w.Label()])
            bundle = self._widget._repr_mimebundle_()
            self._publish(data=bundle, metadata={})
        bar, label = self._widget.children
        bar.max, bar.value, label.value = max(total, done, 1), min(done, max(total, done)), text

    def close(self) -> None:
        if self._widget is not None:
            self._widget.close()  # the frontend removes a closed widget's view
            self._widget = None
        if self._shown:
            try:
                self._stream.write("\r" + " " * 100 + "\r")
                self._stream.flush()
            except (OSError, ValueError):
                pass
            self._shown = False
