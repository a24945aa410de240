"""Every report's HTML keeps user text as text: static HTML and the HTML inside its widgets.

A custom ``autograd.Function``, a module class, a tensor and an expression all carry a name with
``<script>`` in it; the markup must reach the page escaped, whichever view shows it.
"""

from __future__ import annotations

import ipywidgets as widgets
import pytest
import torch

import autodiff_magics as adm

EVIL = '<script>alert("adm-xss")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;adm-xss&quot;)&lt;/script&gt;"


def _evil_function():
    def forward(ctx, x):
        return x * 2

    def backward(ctx, g):
        return g * 2

    # the class name is fixed when the class is made: autograd names its node class after it
    return type(EVIL, (torch.autograd.Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


def _children(w) -> list:
    kids = list(getattr(w, "children", ()) or ())
    return [k for k in kids if isinstance(k, widgets.Widget)]


def open_all(root, limit: int = 500) -> int:
    """Open every closed accordion (the graph's tree view is built when it opens) and click every
    closed tree row (``▸ …``) until none is left; return the number of clicks."""
    clicks = 0
    while clicks < limit:
        shut = [w for w in walk(root) if isinstance(w, widgets.Accordion) and w.selected_index is None and w.children]
        if shut:
            shut[0].selected_index = 0
            clicks += 1
            continue
        closed = [w for w in walk(root) if isinstance(w, widgets.Button) and w.description.startswith("▸")]
        if not closed:
            return clicks
        closed[0].click()
        clicks += 1
    raise AssertionError(f"still closed rows after {limit} clicks")


def walk(root) -> list:
    """Every widget under ``root`` (iteratively)."""
    seen, out, todo = set(), [], [root]
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        out.append(w)
        todo.extend(_children(w))
    return out


def html_in_widget(root) -> list[str]:
    """The strings a browser parses as HTML in this widget tree."""
    out = []
    for w in walk(root):
        if isinstance(w, (widgets.HTML, widgets.HTMLMath)):
            out.append(w.value)
        if getattr(w, "description_allow_html", False):
            out.append(w.description)
        if isinstance(w, widgets.Accordion) or isinstance(w, widgets.Tab):
            out.extend(w.titles)
        if w.has_trait("svg"):  # the graph picture: its script puts this markup in the page
            out.append(w.svg)
    return out


def assert_escaped(report, *, in_text: bool = True) -> None:
    html = report.to_html()
    assert "<script>alert" not in html
    assert ESCAPED in html, "the name is shown, escaped"
    if in_text:
        assert EVIL in report.to_text(), "text keeps the name as typed"
    tree = report.to_widget()
    open_all(tree)
    parts = html_in_widget(tree)
    assert parts, "the widget shows some HTML"
    assert not [p for p in parts if "<script>alert" in p]
    assert any(ESCAPED in p or "&lt;script&gt;" in p for p in parts) or _shown_as_text(tree)


def _shown_as_text(root) -> bool:
    """True when the name appears in a widget that shows plain text (button or label)."""
    for w in walk(root):
        for attr in ("description", "value"):
            value = getattr(w, attr, None)
            if isinstance(value, str) and EVIL in value and not isinstance(w, (widgets.HTML, widgets.HTMLMath)):
                if attr == "description" and getattr(w, "description_allow_html", False):
                    continue
                return True
    return False


def test_gradient_report_escapes_a_custom_function_name():
    evil = _evil_function()
    r = adm.gradient("Evil.apply(x).sum()", x=[1.0, 2.0], namespace={"Evil": evil})
    assert r.gradient["x"].tolist() == [2.0, 2.0]
    assert_escaped(r)


def test_graph_report_escapes_a_custom_function_name():
    evil = _evil_function()
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = evil.apply(x).sum()
    r = adm.grad_graph(y, names={"x": x})
    assert r.count == 3
    assert_escaped(r)


def test_move_report_escapes_a_module_class_name():
    module = type(EVIL, (torch.nn.Module,), {})()
    module.lin = torch.nn.Linear(2, 2)
    r = adm.move({"m": module, "t": torch.ones(3)}, ["m", "t"], "cpu")
    assert [v["name"] for v in r.to_dict()["variables"]] == ["m", "t"]
    assert_escaped(r)


def test_device_report_html_is_wellformed_and_escaped():
    r = adm.devices()
    html = r.to_html()
    assert "<script" not in html
    assert html.count("<table") == html.count("</table>") >= 1
    assert not [p for p in html_in_widget(r.to_widget()) if "<script" in p]


def test_tensorinfo_escapes_a_tensor_name():
    t = torch.ones(2, 3)
    r = adm.tensorinfo(t, names=[EVIL])
    assert r.to_dict()["shape"] == [2, 3]
    assert_escaped(r)


def test_tensorinfo_escapes_the_graph_of_a_custom_function():
    evil = _evil_function()
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = evil.apply(x)
    r = adm.tensorinfo(y, names=["y"], namespace={"x": x, "y": y})
    assert r.to_dict()["grad_fn"] is not None
    assert_escaped(r)


def test_alias_check_escapes_names():
    x = torch.zeros(4)
    r = adm.alias_check(x, x[::2], names=[EVIL, "x[::2]"])
    (pair,) = r.to_dict()["pairs"]
    assert pair["shares_memory"] is True
    assert_escaped(r)


@pytest.mark.parametrize("magic", ["tensorinfo", "alias_check"])
def test_magics_escape_expressions_typed_by_the_user(ip, magic):
    """The magics name objects by the expression typed; markup in it stays text."""
    ip.user_ns["d"] = {EVIL: torch.ones(3)}
    expr = f"d['{EVIL}']"
    line = expr if magic == "tensorinfo" else f"{expr} d['{EVIL}'][1:]"
    r = ip.run_line_magic(magic, line)
    html = r.to_html()
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
