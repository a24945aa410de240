"""Views of the grad_fn graph: the text tree, static HTML, the lazy widget tree, IPython display."""

from __future__ import annotations

import re

import pytest
import torch

from .graphs import chain, diamond
from autodiff_magics.graph import capture_flow, grad_graph
from autodiff_magics.report import WIDGET_MIME
from autodiff_magics.views.graph import HTML_MAX_DEPTH, GraphTree, to_html, to_text


def seed_f(x):
    return 3 * x[0] * x[2] - 2 * x[1] ** 2 + 5 * x[2] ** 3


@pytest.fixture
def x():
    return torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)


@pytest.fixture
def flow(x):
    leaf = x.detach().clone().requires_grad_(True)
    out = seed_f(leaf)
    cap = capture_flow(out, {"x": leaf})
    with cap:
        torch.autograd.grad(out, [leaf])
    return cap.report()




@pytest.fixture
def config(ip):
    """Set AutodiffMagics settings for one test, restored afterwards."""
    magics = ip.magics_manager.registry["AutodiffMagics"]
    saved = {}

    def set_(**values):
        for k, v in values.items():
            saved.setdefault(k, getattr(magics, k))
            setattr(magics, k, v)

    yield set_
    for k, v in saved.items():
        setattr(magics, k, v)


# -- text --------------------------------------------------------------------------------------------


def test_text_tree_of_the_seed(x):
    f = seed_f(x)
    lines = grad_graph(f, names={"x": x, "f": f}).to_text().splitlines()
    assert lines[0] == "grad_fn graph of f: 13 nodes (12 operations + 1 leaf: x), depth 6"
    assert lines[1] == "#1 add · AddBackward0 · () float64 cpu · saved alpha=1"
    assert lines[2] == "├─ #2 sub · SubBackward0 · saved alpha=1"
    assert lines[6] == "│  │  │     └─ #6 x (leaf) · AccumulateGrad · (3,) float64 cpu"
    assert lines[8] == "│  │     └─ ↪ same as #6 x (leaf)"
    assert lines[-3] == "   └─ #12 pow · PowBackward0 · saved exponent=3, self=3"
    assert len(lines) == 17 and sum("same as #6" in line for line in lines) == 3
    assert all(f"#{i} " in "\n".join(lines) for i in range(1, 14))


def test_text_tree_shows_the_flow(flow):
    text = flow.to_text()
    assert "received → passed on" in text.splitlines()[0]
    assert "#12 pow · PowBackward0 · saved exponent=3, self=3 · grad 5 → 135" in text
    assert "#6 x (leaf) · AccumulateGrad · (3,) float64 cpu · grad [9, -8, 138]" in text
    assert "#11 mul · MulBackward0 · saved other=5 · grad 1 → 5\n" in text


def test_text_is_cut_at_depth_and_lines(ip, config):
    x, y = chain(100_000)
    r = grad_graph(y, names={"x": x})
    lines = r.to_text().splitlines()
    assert len(lines) == 1 + 12 + 1 + 1 + len(r.notes)  # header, 12 levels, cut line, footer
    assert lines[13].endswith("└─ ⋯ 1 input below, not shown (depth limit 12)")
    assert lines[14].startswith("… 99,989 of 100,001 nodes not shown: the text view stops at depth 12 ")
    config(text_depth=1_000_000, text_nodes=40)
    lines = r.to_text().splitlines()
    assert sum(line.lstrip("│ ├└─").startswith("#") or "[level" in line for line in lines) == 40
    assert "stops at 40 lines" in lines[41]
    assert max(len(line) for line in lines) < 200  # indentation stops growing deep down
    assert "[level 40] #40 mul" in r.to_text()


def test_text_of_the_diamond_is_linear(ip, config):
    x, y = diamond(60)
    r = grad_graph(y, names={"x": x})
    config(text_depth=1_000, text_nodes=1_000)
    lines = r.to_text().splitlines()
    # each node once in full, each further edge one "same as" line: 121 nodes, 2·60 extra edges
    assert sum(" ↪ same as " in line or line.startswith("↪") or "↪ same as" in line for line in lines) == 120
    assert len(lines) == 1 + 121 + 120


# -- static HTML -----------------------------------------------------------------------------------


def test_html_escapes_user_text(x):
    evil = "<img src=x onerror=alert(1)>"
    html = grad_graph(seed_f(x), names={evil: x}).to_html()
    assert evil not in html and "&lt;img src=x onerror=alert(1)&gt; (leaf)" in html
    assert html.count("<details") == 14 and html.count("</details>") == 14  # the tree's 13 and the one around it
    assert html.count("↪ same as") == 3 and "<script" not in html


def test_html_shows_details_and_flow(flow):
    html = flow.to_html()
    summary = re.search(r'<details id="adm-graph-\d+-n12" open><summary>(.*?)</summary>(.*?)<details', html)
    assert summary.group(1) == (
        '<b>#12</b> pow <span class="muted mono">PowBackward0</span> · <span class="mono">() float64 cpu</span> · grad 5 → 135'
    )
    assert summary.group(2) == '<div class="muted mono" style="margin-left:14px">saved exponent=3, self=3 · passed 135 to #13</div>'
    assert "saved other=5 · passed 5 to #12, nothing to a constant</div>" in html


def test_html_stays_within_budget_and_depth(ip, config):
    x, y = chain(100_000)
    r = grad_graph(y, names={"x": x})
    html = r.to_html()
    assert html.count("<details") == HTML_MAX_DEPTH + 1 == html.count("</details>")
    assert f"deeper than {HTML_MAX_DEPTH} levels" in html and "99,937 of 100,001 nodes not shown" in html
    config(html_budget=5_000)
    html = r.to_html()
    assert len(html) <= 5_000
    assert html.count("<details") == html.count("</details>") >= 2
    assert "limited to 5,000 characters (html_budget)" in html


def test_html_of_the_diamond_is_linear(ip, config):
    x, y = diamond(60)
    config(html_budget=10_000_000)
    html = grad_graph(y, names={"x": x}).to_html()
    ids = re.findall(r'<details id="(adm-graph-\d+-n\d+)"', html)
    assert HTML_MAX_DEPTH <= len(ids) == len(set(ids)) <= 121  # each node at most once, cut by depth
    assert len(html) < 121 * 2_000


def test_freed_graph_renders_everywhere(x):
    f = seed_f(x)
    f.backward()
    r = grad_graph(f)
    assert "self=freed" in r.to_text()
    assert r.to_text().startswith("grad_fn graph: 13 nodes (12 operations + 1 leaf), depth 6\n")
    assert r.to_text().endswith("note: 7 saved values were freed: backward() or autograd.grad already ran through "
                                "this graph (its structure is intact; retain_graph=True keeps them).")
    assert "self=freed" in r.to_html() and "7 saved values were freed" in r.to_html()
    tree = GraphTree(r)
    tree.toggle(tree.reveal(12))  # the pow under 5*x2**3
    assert any("saved self" in w.value and "freed (backward already ran)" in w.value for w in tree.visible_rows() if not hasattr(w, "on_click"))


# -- the widget ------------------------------------------------------------------------------------


def labels(tree: GraphTree) -> list[str]:
    """Each visible row: a button's text, or "<details>" for a node's details (an HTML)."""
    return [w.description if hasattr(w, "on_click") else "<details>" for w in tree.visible_rows()]


def open_everything(tree: GraphTree) -> None:
    """Click every closed node row and every "show more" until nothing is left to open."""
    while True:
        closed = [w for w in tree.visible_rows() if hasattr(w, "on_click") and w.description.startswith(("▸", "show"))]
        if not closed:
            return
        closed[0].click()


def test_widget_opens_one_level_at_a_time(x):
    r = grad_graph(seed_f(x), names={"x": x})
    tree = GraphTree(r)
    header, picture, accordion = r.to_widget().children
    assert "13 nodes (12 operations + 1 leaf: x), depth 6" in header.value
    assert labels(tree) == ["▾ #1 add · AddBackward0 · () float64 cpu", "<details>", "▸ #2 sub · SubBackward0", "▸ #11 mul · MulBackward0"]
    assert len(tree.canonical) == 3  # nothing below the first level is built yet
    tree.visible_rows()[3].click()  # open #11
    assert labels(tree)[3:] == ["▾ #11 mul · MulBackward0", "<details>", "▸ #12 pow · PowBackward0"]
    assert "saved other" in tree.visible_rows()[4].value
    tree.visible_rows()[5].click()
    tree.visible_rows()[7].click()  # #13 select
    assert labels(tree)[-1] == "↪ same as #6 x (leaf)"  # x is shown in full under #5, not here
    opened = labels(tree)
    assert len(opened) == 10
    tree.visible_rows()[3].click()  # close #11: its rows go away ...
    assert labels(tree) == ["▾ #1 add · AddBackward0 · () float64 cpu", "<details>", "▸ #2 sub · SubBackward0", "▸ #11 mul · MulBackward0"]
    tree.visible_rows()[3].click()  # ... and come back as they were (#12 and #13 still open)
    assert labels(tree) == opened


def test_widget_same_as_row_reveals_the_node(x):
    r = grad_graph(seed_f(x), names={"x": x})
    tree = GraphTree(r)
    rows = tree.visible_rows()
    rows[3].click()
    tree.visible_rows()[5].click()
    tree.visible_rows()[7].click()
    ref = tree.visible_rows()[-1]
    assert ref.description == "↪ same as #6 x (leaf)"
    ref.click()  # opens #2, #3, #4, #5 down to x's full row and highlights it
    shown = labels(tree)
    x_rows = [label for label in shown if label.startswith(("▸ #6 ", "▾ #6 "))]
    assert x_rows == ["▸ #6 x (leaf) · AccumulateGrad · (3,) float64 cpu"]
    assert tree.canonical[6].widget.style.button_color == GraphTree.HIGHLIGHT
    for n in (2, 3, 4, 5):
        assert tree.canonical[n].open
    assert shown.index("▾ #5 select · SelectBackward0") < shown.index("▸ #6 x (leaf) · AccumulateGrad · (3,) float64 cpu")


def test_widget_rows_show_the_flow(flow):
    tree = GraphTree(flow)
    tree.visible_rows()[3].click()
    assert labels(tree)[3:5] == ["▾ #11 mul · MulBackward0 · grad 1 → 5", "<details>"]
    assert "grad 5 → 135" in labels(tree)[5]
    tree.reveal(6)
    assert "▸ #6 x (leaf) · AccumulateGrad · (3,) float64 cpu · grad [9, -8, 138]" in labels(tree)


def test_widget_pages_wide_nodes():
    leaves = [torch.ones(1, requires_grad=True) for _ in range(120)]
    r = grad_graph(torch.cat(leaves).sum(), namespace={"p": leaves})
    tree = GraphTree(r, page_size=50)
    tree.visible_rows()[2].click()  # the cat node
    shown = labels(tree)
    assert sum(label.startswith("▸ #") and "(leaf)" in label for label in shown) == 50
    assert shown[-1] == "show 50 more (70 of 120 inputs not shown yet)"
    tree.visible_rows()[-1].click()
    assert labels(tree)[-1] == "show 20 more (20 of 120 inputs not shown yet)"
    tree.visible_rows()[-1].click()
    shown = labels(tree)
    assert sum("(leaf)" in label for label in shown) == 120 and not shown[-1].startswith("show")
    assert "p[119] (leaf)" in shown[-1]
    tree2 = GraphTree(r, page_size=50)
    tree2.reveal(r.count)  # a node on a later page: pages are added until it is there
    assert tree2.canonical[r.count].widget.style.button_color == GraphTree.HIGHLIGHT


def test_widget_is_built_lazily_for_a_100k_chain():
    x, y = chain(100_000)
    r = grad_graph(y, names={"x": x})
    tree = GraphTree(r)
    assert len(tree.visible_rows()) == 3 and len(tree.canonical) == 2
    row = tree.reveal(300)  # 299 clicks' worth
    assert row.widget.description == "▸ [level 300] #300 mul · MulBackward0" and len(tree.canonical) == 300
    assert len(tree.visible_rows()) == 2 * 299 + 1


def test_widget_of_the_diamond_is_linear():
    x, y = diamond(60)
    r = grad_graph(y, names={"x": x})
    tree = GraphTree(r)
    open_everything(tree)
    rows = labels(tree)
    assert sum(label.startswith("▾") for label in rows) == r.count  # each node once, in full
    assert sum(label.startswith("↪ same as") for label in rows) == 240 - 120  # the other edges


# -- the detail budget ------------------------------------------------------------------------------


def test_nodes_past_the_budget_say_so_in_every_view(ip, config):
    x, y = chain(30)  # 31 nodes: 30 mul, then x
    config(text_depth=100, text_nodes=100)
    r = grad_graph(y, names={"x": x}, details=10)
    lines = r.to_text().splitlines()
    assert lines[0] == "grad_fn graph: 31 nodes (30 operations + 1 leaf: x), depth 31; details for the first 10"
    assert lines[10].endswith("└─ #10 mul · MulBackward0 · saved other=1.0001")
    assert lines[11].endswith("└─ #11 mul · MulBackward0 · details not recorded (beyond the first 10 nodes)")
    assert lines[31].endswith("#31 x (leaf) · AccumulateGrad · details not recorded (beyond the first 10 nodes)")
    assert sum("details not recorded" in line for line in lines) == 21
    assert lines[-1] == (
        "note: details (shape, saved values, gradient) recorded for the first 10 of 31 nodes (depth-first): "
        "raise %config AutodiffMagics.graph_details for more."
    )

    html = r.to_html()
    assert "depth 31; details for the first 10</h4>" in html
    n10 = re.search(r'<details id="adm-graph-\d+-n10"[^>]*><summary>(.*?)</summary>(.*?)<details', html)
    assert n10.group(1).endswith('<span class="mono">(4,) float32 cpu</span>') and "saved other=1.0001" in n10.group(2)
    n11 = re.search(r'<details id="adm-graph-\d+-n11"[^>]*><summary>(.*?)</summary>(.*?)<details', html)
    assert n11.group(1) == '<b>#11</b> mul <span class="muted mono">MulBackward0</span> · <span class="muted">details not recorded</span>'
    assert n11.group(2) == (
        '<div class="muted mono" style="margin-left:14px">'
        "details not recorded: beyond the first 10 nodes; raise %config AutodiffMagics.graph_details</div>"
    )
    assert html.count("details not recorded: beyond the first 10 nodes") == 21
    assert "raise %config AutodiffMagics.graph_details for more.</p>" in html

    tree = GraphTree(r)
    assert "details for the first 10" in tree.header.value and "graph_details for more" in tree.header.value
    row = tree.reveal(11)
    assert row.widget.description == "▸ #11 mul · MulBackward0 · details not recorded"
    assert tree.canonical[10].widget.description == "▾ #10 mul · MulBackward0"
    tree.toggle(row)
    details = tree.visible_rows()[tree.visible_rows().index(row.widget) + 1]
    assert "details:</span> <code>not recorded: beyond the first 10 nodes; raise %config AutodiffMagics.graph_details" in details.value
    assert "forward produced" not in details.value

    dot = r.to_dot()
    assert dot.count("details not recorded") == 21 and 'n10 [label="#10 mul · MulBackward0\\n(4,) float32 cpu\\nsaved other=1.0001"];' in dot


def test_flow_past_the_budget_is_not_recorded_rather_than_missing(x):
    leaf = x.detach().clone().requires_grad_(True)
    out = seed_f(leaf)
    cap = capture_flow(out, {"x": leaf}, details=6)
    with cap:
        torch.autograd.grad(out, [leaf])
    r = cap.report()
    text = r.to_text()
    assert "#6 x (leaf) · AccumulateGrad · (3,) float64 cpu · grad [9, -8, 138]" in text
    assert "#12 pow · PowBackward0 · details not recorded (beyond the first 6 nodes)\n" in text
    assert "no gradient flowed" not in text
    tree = GraphTree(r)
    assert labels(tree)[3] == "▸ #11 mul · MulBackward0 · details not recorded"
    tree.visible_rows()[3].click()
    assert "none flowed" not in tree.visible_rows()[4].value and "not recorded" in tree.visible_rows()[4].value


def test_100k_chain_with_the_budget_renders_in_every_view(ip, config):
    x, y = chain(100_000)
    config(graph_details=250)
    r = grad_graph(y, names={"x": x})
    assert (r.count, r.detailed, r.details_limit) == (100_001, 250, 250)
    text = r.to_text()
    assert text.splitlines()[0].endswith("depth 100,001; details for the first 250")
    assert "note: details (shape, saved values, gradient) recorded for the first 250 of 100,001 nodes" in text
    html = r.to_html()
    assert html.count("<details") == HTML_MAX_DEPTH + 1 and "details not recorded" not in html  # 64 levels, all detailed
    tree = GraphTree(r)
    assert len(tree.visible_rows()) == 3
    assert tree.reveal(251).widget.description == "▸ [level 251] #251 mul · MulBackward0 · details not recorded"
    assert tree.canonical[250].widget.description == "▾ [level 250] #250 mul · MulBackward0"
    data, _ = ip.display_formatter.format(r)
    assert data["text/plain"] == text and WIDGET_MIME in data and "details for the first 250" in data["text/html"]
    d = r.to_dict()
    assert (len(d["nodes"]), d["detailed"], d["nodes"][-1]["variable"], d["nodes"][-1]["detailed"]) == (100_001, 250, "x", False)
    dot = r.to_dot()
    assert dot.count(" -> ") == 100_000 and dot.count("details not recorded") == 100_001 - 250


# -- IPython display ---------------------------------------------------------------------------------


def test_mime_bundle_offers_widget_html_and_text(ip, x):
    r = grad_graph(seed_f(x), names={"x": x})
    data, _ = ip.display_formatter.format(r)
    assert data["text/plain"] == r.to_text()
    assert data["text/html"].startswith("<style>") and "grad_fn graph" in data["text/html"]
    assert WIDGET_MIME in data


def test_to_html_without_style(x):
    html = to_html(grad_graph(seed_f(x)), style=False)
    assert not html.startswith("<style>") and re.match(r'<div class="adm adm-graph" id="adm-graph-\d+">', html)
    assert to_text(grad_graph(seed_f(x))).startswith("grad_fn graph: 13 nodes")
