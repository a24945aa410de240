"""The graph picture: its layout, the inline SVG of the static HTML, and the widget around it."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

from autodiff_magics.graph import capture_flow, grad_graph
from autodiff_magics.views.graph import GraphView
from autodiff_magics.views.graph_layout import MAX_NODES, MOST_NODES, layout
from autodiff_magics.views.graph_picture import GraphPicture
from autodiff_magics.views.graph_svg import to_svg

from .graphs import chain, diamond

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def seed(x):
    return 3 * x[0] * x[2] - 2 * x[1] ** 2 + 5 * x[2] ** 3


@pytest.fixture
def flow():
    """The seed's f2 at (1, 2, 3) with the gradient that flowed through each node."""
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    f = seed(x)
    cap = capture_flow(f, {"x": x})
    with cap:
        torch.autograd.grad(f, [x])
    return cap.report()


def texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


# -- layout ----------------------------------------------------------------------------------------


def test_every_node_once_every_edge_drawn_and_arrows_point_down(flow):
    d = layout(flow)
    assert (d.drawn, d.total, d.complete) == (13, 13, True)
    assert sorted(b.node for b in d.boxes.values()) == list(range(1, 14))
    assert len(d.edges) == 15  # 18 next_functions entries, less the 3 None of constant factors
    into_x = [e for e in d.edges if e.target == 6]
    assert len(into_x) == 4  # x is used by four selects: one box, four arrows
    for e in d.edges:
        (_, y0), (_, y1) = e.points[0], e.points[-1]
        assert y1 > y0, e
    leaf = d.boxes[6]
    assert leaf.y == max(b.y for b in d.boxes.values())  # inputs at the bottom
    assert d.boxes[1].y == min(b.y for b in d.boxes.values())  # the output on top
    same_layer = {}
    for b in d.boxes.values():
        same_layer.setdefault(b.y, []).append(b)
    for row in same_layer.values():  # boxes of one layer do not overlap
        row.sort(key=lambda b: b.x)
        for left, right in zip(row, row[1:]):
            assert left.x + left.w / 2 <= right.x - right.w / 2


def test_a_big_graph_draws_the_nodes_nearest_the_output_and_says_what_is_left_out():
    x, y = chain(100_000)
    r = grad_graph(y, names={"x": x})
    d = layout(r)
    assert (d.drawn, d.total) == (MAX_NODES, 100_001)
    more = [b for b in d.boxes.values() if b.kind == "more"]
    assert len(more) == 1 and more[0].more == 1 and more[0].owner == MAX_NODES
    assert more[0].lines[0] == "⋯ 1 more input"
    html = r.to_html()
    assert f"the picture shows the {MAX_NODES} nodes nearest the output (breadth first) of 100,001" in html


def test_a_diamond_with_2_to_the_60_paths_draws_each_node_once():
    x, y = diamond(60)
    r = grad_graph(y, names={"x": x})
    d = layout(r, 200)
    assert d.complete and len(d.boxes) == 121
    assert len(d.edges) == 60 * 4  # each mul uses y twice, each add uses the mul and y


# -- the SVG ---------------------------------------------------------------------------------------


def test_svg_boxes_say_op_class_gradient_and_edges_the_gradient_passed(flow):
    svg = to_svg(flow)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "<script" not in svg
    assert svg.count('class="adm-node"') == 13 and svg.count('class="adm-edge"') == 15
    lines = texts(svg)
    assert "#12 pow · PowBackward0" in lines and "grad 5" in lines
    assert "#6 x · leaf · AccumulateGrad" in lines
    assert "x.grad = sum of its 4 edges = [9, -8, 138]" in lines
    assert "135" in lines and "[0, 0, 135]" in lines  # what #12 pow passed to #13, and #13 to x
    edge = re.search(r'<g class="adm-edge" data-source="12" data-target="13">.*?</g>', svg).group(0)
    assert ">135</text>" in edge


def test_svg_escapes_names():
    evil = "<img src=x onerror=alert(1)>"
    w = torch.randn(2, requires_grad=True)
    svg = to_svg(grad_graph((w * 2).sum(), names={evil: w}))
    assert evil not in svg and "&lt;img src=x onerror=alert(1)&gt; · leaf" in svg


def test_an_mlp_picture_names_its_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    loss = nn.functional.mse_loss(model(torch.randn(5, 3)), torch.randn(5, 1))
    svg = to_svg(grad_graph(loss, namespace={"model": model}))
    lines = texts(svg)
    for name in ("model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"):
        assert f"{name} · leaf · AccumulateGrad" in [line.split(" ", 1)[1] for line in lines if line.startswith("#")]
    assert any("mse_loss · MseLossBackward0" in line for line in lines)
    assert any("relu · ReluBackward0" in line for line in lines)


def test_the_static_html_holds_the_picture_and_the_tree(ip, flow):
    data, _ = ip.display_formatter.format(flow)
    html = data["text/html"]
    assert html.count("<svg") == 1 and html.count('class="adm-node"') == 13
    assert "the same graph as a tree" in html and "<b>#12</b> pow" in html
    assert WIDGET_MIME in data and data["text/plain"] == flow.to_text()


# -- the widget ------------------------------------------------------------------------------------


def test_widget_is_the_picture_then_the_tree_in_a_closed_accordion(flow):
    view = GraphView(flow)
    header, picture, accordion = view.widget.children
    assert "13 nodes (12 operations + 1 leaf: x)" in header.value
    assert isinstance(picture, GraphPicture) and picture.svg == to_svg(flow, layout(flow), uid=re.search(r'id="([^"]+)"', picture.svg).group(1))
    assert accordion.selected_index is None and "tree view" in accordion.get_title(0)
    details = json.loads(picture.details)["12"]
    assert details["title"] == "#12 pow · PowBackward0"
    rows = dict(map(tuple, details["rows"]))
    assert (rows["grad_fn"], rows["saved exponent"], rows["saved self"]) == ("PowBackward0", "3", "3 (float64)")
    assert (rows["gradient received"], rows["passed to #13"]) == ("5 (float64)", "135 (float64)")
    assert (rows["used by"], rows["inputs"]) == ("#11", "#13")
    assert picture.more is False  # every node is drawn already
    assert view.tree is None and accordion.children[0].children == ()  # the tree is built when it opens
    accordion.selected_index = 0  # what a click on its title does
    assert view.tree is not None and accordion.children[0].children[1] is view.tree.rows
    assert view.tree.visible_rows()[0].description.startswith("▾ #1 add · AddBackward0")


def test_draw_more_doubles_the_nodes_drawn():
    x, y = chain(10_000)
    picture = GraphView(grad_graph(y, names={"x": x})).picture
    assert picture.more and picture.svg.count('class="adm-node"') == MAX_NODES + 1
    picture._on_message(picture, {"draw": "more"}, [])  # what the "draw more" button sends
    assert picture.svg.count('class="adm-node"') == 2 * MAX_NODES + 1 and len(json.loads(picture.details)) == 2 * MAX_NODES + 1
    while picture.more:
        picture.draw_more()
    assert picture.svg.count('class="adm-node"') == MOST_NODES + 1


def test_widget_state_is_plain_json(flow):
    picture = GraphView(flow).picture
    state = picture.get_state()
    assert json.loads(json.dumps({k: state[k] for k in ("svg", "details", "selected", "more")}))
    assert "render" in picture._esm and "adm-gp" in picture._css


def test_to_dot_keeps_the_gradients_and_saved_values(flow):
    dot = flow.to_dot()
    assert 'n13 -> n12 [label="135"];' in dot and 'n6 -> n13 [label="[0, 0, 135]"];' in dot
    assert '#12 pow · PowBackward0\\nsaved exponent=3, self=3\\ngrad 5"' in dot
    assert "x.grad = sum of its 4 edges = [9, -8, 138]" in dot
