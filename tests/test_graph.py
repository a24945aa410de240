"""The grad_fn graph core: the walk, names, saved values, the captured gradient flow, limits."""

from __future__ import annotations

import gc
import json

import pytest
import torch

from .graphs import chain, diamond
import autodiff_magics as adm
from autodiff_magics.errors import InputError
from autodiff_magics.graph import GraphReport, capture_flow, grad_graph, op_name


def seed_f(x):
    """The seed notebook's f2 (with 2*x1**2, as the notebook computes it)."""
    return 3 * x[0] * x[2] - 2 * x[1] ** 2 + 5 * x[2] ** 3


@pytest.fixture
def x():
    return torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)


def ops(report: GraphReport) -> list[str]:
    return [n.op for n in report.nodes]


def find(report: GraphReport, op: str, **saved_values) -> list:
    """Nodes with this op whose saved values match (e.g. exponent=3)."""
    out = []
    for n in report.nodes:
        if n.op != op:
            continue
        if all(n.saved.get(k, {}).get("value", n.saved.get(k, {}).get("values")) == v for k, v in saved_values.items()):
            out.append(n)
    return out


# -- the seed's graph ------------------------------------------------------------------------------


def test_seed_graph_counts_every_backward_node_once(x):
    f = seed_f(x)
    r = grad_graph(f, names={"x": x, "f": f})
    assert r.count == 13  # 12 operations + AccumulateGrad; torchviz adds 2 boxes for the tensors
    assert (r.operations, r.leaves, r.depth, r.root) == (12, 1, 6, 1)
    assert r.tensor == "f"
    assert ops(r) == ["add", "sub", "mul", "mul", "select", "leaf", "select", "mul", "pow", "select", "mul", "pow", "select"]
    assert [n.id for n in r.nodes] == list(range(1, 14))
    assert r.node(1).name == "AddBackward0" and r.node(6).name == "AccumulateGrad"
    leaf = r.node(6)
    assert (leaf.kind, leaf.variable, leaf.shape, leaf.dtype, leaf.device) == ("leaf", "x", [3], "float64", "cpu")
    # the one leaf is reached by 4 select nodes; each lists it as its only child
    assert [n.children for n in r.nodes if n.op == "select"] == [[6]] * 4
    # children follow next_functions order; a Python-scalar factor is a None edge
    assert r.node(1).children == [2, 11]
    assert r.node(11).children == [12, None]
    # each node's tree parent is the first node (depth-first) that reaches it
    assert [n.parent for n in r.nodes] == [None, 1, 2, 3, 4, 5, 3, 2, 8, 9, 1, 11, 12]
    assert all(n.device == "cpu" for n in r.nodes)


def test_seed_graph_saved_values(x):
    r = grad_graph(seed_f(x))
    (cube,) = find(r, "pow", exponent=3)
    assert cube.saved["exponent"] == {"kind": "value", "value": 3}
    assert cube.saved["self"] == {"kind": "tensor", "shape": [], "dtype": "float64", "device": "cpu", "values": 3.0}
    (five,) = find(r, "mul", other=5)
    assert "self" not in five.saved  # not needed (the other factor is a constant): left out
    assert find(r, "select", index=1)[0].saved["self_sym_sizes"] == {"kind": "value", "value": [3]}


def test_walk_changes_nothing(x):
    f = seed_f(x)
    fn = f.grad_fn
    gc_was = gc.isenabled()
    grad_graph(f, names={"x": x})
    assert gc.isenabled() == gc_was
    assert x.grad is None and x.requires_grad and x._backward_hooks is None
    assert f.grad_fn is fn and not f.retains_grad and fn.metadata == {}
    f.backward()  # the walk freed nothing and left no hook: backward still works once
    assert x.grad.tolist() == [9.0, -8.0, 138.0]


def test_walk_keeps_gc_disabled_if_it_was():
    t = torch.ones(2, requires_grad=True) * 2
    gc.disable()
    try:
        grad_graph(t)
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- bad input: one sentence -----------------------------------------------------------------------


def test_leaf_tensor_is_explained(x):
    with pytest.raises(InputError, match=r"^x is a leaf tensor .* no grad_fn"):
        grad_graph(x, names={"x": x})


def test_tensor_without_grad_is_explained():
    t = torch.ones(3) * 2
    with pytest.raises(InputError, match=r"^t was made without gradient tracking"):
        grad_graph(t, namespace={"t": t})
    with torch.no_grad():
        u = torch.ones(3, requires_grad=True) * 2
    with pytest.raises(InputError, match=r"^this tensor was made without gradient tracking .*torch.no_grad"):
        grad_graph(u)


@pytest.mark.parametrize("value, kind", [({"a": 1.0}, "dict"), ([1.0, 2.0], "float"), (3.5, "float"), (None, "NoneType")])
def test_non_tensor_is_explained(value, kind):
    with pytest.raises(InputError, match=rf"needs a torch.Tensor computed with autograd, not a {kind}\.$"):
        grad_graph(value)


def test_numpy_array_is_explained():
    import numpy as np

    with pytest.raises(InputError, match=r"not a numpy.ndarray\.$"):
        grad_graph(np.ones(3))


def test_public_api_twin(x):
    assert adm.grad_graph is grad_graph and adm.GraphReport is GraphReport
    assert adm.grad_graph(x * 2).count == 2


# -- names of leaves -------------------------------------------------------------------------------


def test_names_come_first_then_namespace(x):
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    f = (x * w).sum()
    r = grad_graph(f, names={"cell_x": x}, namespace={"x": x, "w": w, "_": w, "_3": w, "Out": {1: w}})
    assert sorted(r.leaf_names()) == ["cell_x", "w"]


def test_module_parameters_and_containers_are_named():
    model = torch.nn.Linear(3, 2)
    extra = torch.ones(2, requires_grad=True)
    params = [torch.ones(2, requires_grad=True)]
    loss = (model(torch.ones(3)) * extra * params[0]).sum()
    r = grad_graph(loss, namespace={"model": model, "scale": {"k": extra}, "params": params})
    assert sorted(r.leaf_names()) == ["model.bias", "model.weight", "params[0]", "scale['k']"]
    assert "addmm" in ops(r)


def test_unnamed_leaf_is_none():
    r = grad_graph(torch.ones(2, requires_grad=True) * 3)
    assert r.leaf_names() == [None]


# -- node kinds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("MulBackward0", ("mul", "operation")),
        ("AddmmBackward0", ("addmm", "operation")),
        ("NativeLayerNormBackward0", ("native_layer_norm", "operation")),
        ("Log1pBackward0", ("log1p", "operation")),
        ("PowBackward1", ("pow", "operation")),
        ("torch::autograd::AccumulateGrad", ("leaf", "leaf")),
        ("torch::autograd::CopySlices", ("in-place write into a view", "engine")),
    ],
)
def test_op_name(name, expected):
    assert op_name(name) == expected


def test_in_place_write_into_a_view(x):
    y = x.clone()
    y[0] = 5.0
    r = grad_graph(y.sum())
    assert r.node(2).name == "CopySlices" and r.node(2).kind == "engine"
    assert r.node(2).label() == "in-place write into a view"


class Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, k):
        ctx.save_for_backward(a)
        ctx.k = k
        return a * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


def test_custom_function_node(x):
    r = grad_graph(Scale.apply(x, 2.0).sum(), names={"x": x})
    node = r.node(2)
    assert (node.op, node.kind, node.name, node.label()) == ("Scale", "custom", "ScaleBackward", "Scale (custom Function)")
    assert node.saved["saved_tensors[0]"]["values"] == [1.0, 2.0, 3.0]
    assert node.saved["ctx.k"] == {"kind": "value", "value": 2.0}
    assert r.node(3).variable == "x"


def test_multi_output_node(x):
    a, b, c = x.unbind()
    r = grad_graph(a * c)
    unbind = [n for n in r.nodes if n.op == "unbind"]
    assert len(unbind) == 1 and unbind[0].outputs == 3


# -- saved tensors ---------------------------------------------------------------------------------


def test_freed_saved_tensors_still_render(x):
    f = seed_f(x)
    f.backward()
    r = grad_graph(f, names={"x": x})
    (cube,) = find(r, "pow", exponent=3)
    assert cube.saved["self"] == {"kind": "freed"}
    assert cube.saved["exponent"]["value"] == 3  # plain values survive backward
    assert "freed" in r.to_text() and "freed" in r.to_html()


def test_large_saved_tensor_is_summarised_not_listed():
    big = torch.arange(1000.0, requires_grad=True)
    r = grad_graph((big * big).sum())
    saved = r.node(2).saved["self"]
    assert "values" not in saved
    # one pass (aminmax): min and max, no mean
    assert saved == {"kind": "tensor", "shape": [1000], "dtype": "float32", "device": "cpu", "min": 0.0, "max": 999.0}
    ints = grad_graph((torch.arange(-5, 20) * big[:25]).sum()).node(2).saved["self"]
    assert (ints["dtype"], ints["min"], ints["max"]) == ("int64", -5, 19) and type(ints["min"]) is int
    small = grad_graph((big[:10] * 2).sum()).to_dict()
    assert all(len(json.dumps(n["saved"])) < 400 for n in small["nodes"])


def test_checkpointed_saved_tensors_are_not_unpacked():
    """Unpacking would rerun the user's forward (checkpointing): the walk must not."""
    from torch.utils.checkpoint import checkpoint

    calls = []

    def block(a):
        calls.append(1)
        return (a.sin() * 2).cos()

    w = torch.randn(3, requires_grad=True)
    out = checkpoint(block, w, use_reentrant=False).sum()
    assert len(calls) == 1
    r = grad_graph(out)
    assert len(calls) == 1
    cos = [n for n in r.nodes if n.op == "cos"][0]
    assert cos.saved["self"]["kind"] == "hooked"
    assert r.notes == [
        "2 saved tensors are kept by a saved-tensor hook (checkpointing, offloading) and not unpacked: "
        "that would rerun or move your computation."
    ]
    out.backward()  # and the checkpoint still works (its saved tensors were not unpacked)
    assert len(calls) == 2 and w.grad is not None


# -- big graphs ------------------------------------------------------------------------------------




def test_100k_deep_chain_walks_without_recursion():
    x, y = chain(100_000)
    r = grad_graph(y, names={"x": x})
    assert (r.count, r.depth, r.leaves) == (100_001, 100_001, 1)
    assert r.node(100_001).variable == "x"
    assert r.node(50_000).children == [50_001, None] and r.node(50_001).parent == 50_000
    # every constant 1.0001 is the same summary, shared, not 100,000 copies
    assert r.node(7).saved["other"] is r.node(9).saved["other"]
    assert r.to_dict()["nodes"][6]["saved"]["other"] is not r.node(7).saved["other"]


def test_diamond_with_2_to_the_60_paths_is_linear():
    x, y = diamond(60)
    r = grad_graph(y, names={"x": x})
    assert (r.count, r.depth, r.leaves) == (121, 121, 1)
    muls = [n for n in r.nodes if n.op == "mul"]
    assert len(muls) == 60 and all(n.children[0] == n.children[1] for n in muls)
    assert len(json.dumps(r.to_dict())) < 121 * 1000


# -- the detail budget ------------------------------------------------------------------------------


def test_details_for_the_first_n_nodes_only():
    x, y = chain(30)  # 31 nodes: 30 mul and the leaf x, last
    r = grad_graph(y, names={"x": x}, details=10)
    assert (r.count, r.detailed, r.details_limit, r.depth) == (31, 10, 10, 31)
    assert [n.detailed for n in r.nodes] == [True] * 10 + [False] * 21
    first, beyond = r.node(10), r.node(11)
    assert (first.shape, first.dtype, first.device, first.outputs) == ([4], "float32", "cpu", 1)
    assert first.saved["other"]["values"] == 1.0001
    # past the budget: no metadata, no saved values; the structure is all there
    assert (beyond.shape, beyond.dtype, beyond.device, beyond.outputs, beyond.saved) == (None, None, None, None, {})
    assert (beyond.op, beyond.kind, beyond.name, beyond.children, beyond.parent) == ("mul", "operation", "MulBackward0", [12, None], 10)
    leaf = r.node(31)
    assert (leaf.kind, leaf.variable, leaf.detailed, leaf.shape) == ("leaf", "x", False, None)
    assert r.leaf_names() == ["x"] and r.leaves == 1
    assert r.notes[0] == (
        "details (shape, saved values, gradient) recorded for the first 10 of 31 nodes (depth-first): "
        "raise %config AutodiffMagics.graph_details for more."
    )


def test_details_budget_in_to_dict():
    x, y = chain(30)
    d = grad_graph(y, names={"x": x}, details=10).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert (d["count"], d["detailed"], d["details_limit"]) == (31, 10, 10)
    assert [n["detailed"] for n in d["nodes"]] == [True] * 10 + [False] * 21
    assert d["nodes"][10] == {
        "id": 11, "name": "MulBackward0", "op": "mul", "kind": "operation", "children": [12, None], "parent": 10,
        "variable": None, "saved": {}, "grad": None, "shape": None, "dtype": None, "device": None, "outputs": None,
        "detailed": False, "expression": None, "value": None,
    }
    assert d["nodes"][-1]["variable"] == "x"
    small = grad_graph(y, details=1_000).to_dict()
    assert (small["detailed"], small["details_limit"]) == (31, 1_000) and all(n["detailed"] for n in small["nodes"])
    assert not any("details" in note for note in small["notes"])


def test_no_details_at_all(x):
    r = grad_graph(seed_f(x), names={"x": x}, details=0)
    assert (r.count, r.detailed, r.depth, r.leaf_names()) == (13, 0, 6, ["x"])
    assert not any(n.detailed or n.saved or n.shape for n in r.nodes)
    assert r.node(1).children == [2, 11] and r.node(11).children == [12, None]
    assert [n.parent for n in r.nodes] == [None, 1, 2, 3, 4, 5, 3, 2, 8, 9, 1, 11, 12]  # as with details


def test_details_default_is_the_setting(ip):
    from autodiff_magics.settings import Settings

    magics = ip.magics_manager.registry["AutodiffMagics"]
    assert magics.graph_details == Settings().graph_details > 60  # the text view's nodes all have details
    x, y = chain(30)
    ip.run_line_magic("config", "AutodiffMagics.graph_details = 7")
    try:
        assert grad_graph(y).detailed == 7
        assert grad_graph(y, details=12).detailed == 12  # the argument wins
    finally:
        magics.graph_details = Settings().graph_details
    assert grad_graph(y).detailed == 31


def test_depth_when_a_node_is_met_again_deeper():
    """b is first reached from the add (level 2), then from c (level 3): the depth is 4, not 3."""
    x = torch.ones(2, requires_grad=True)
    b = x * 2
    c = b * 3
    r = grad_graph((b + c), names={"x": x})
    assert ops(r) == ["add", "mul", "leaf", "mul"]
    assert r.node(4).children == [2, None] and r.node(2).parent == 1
    assert r.depth == 4
    assert grad_graph((c + b)).depth == 4  # met the other way round, the tree is already deepest


def test_reports_hold_no_node_or_tensor():
    """A report pins nothing: the user's leaf and saved tensors go when the user drops them."""
    import weakref

    x = torch.randn(1000, requires_grad=True)
    y = (x * x).sin()
    reports = [grad_graph(y, names={"x": x}), grad_graph(y, details=1)]
    leaf = x.detach().clone().requires_grad_(True)
    out = (leaf * leaf).sin().sum()
    cap = capture_flow(out, {"x": leaf})
    with cap:
        torch.autograd.grad(out, [leaf])
    reports.append(cap.report())
    refs = [weakref.ref(t) for t in (x, y, leaf, out)]
    del x, y, leaf, out, cap
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert [(r.count, r.detailed) for r in reports] == [(3, 3), (3, 1), (4, 4)]


def test_flow_only_through_detailed_nodes():
    leaf = torch.tensor([1.0, 2.0], requires_grad=True)
    out = (leaf * 2).exp().sum()  # sum, exp, mul, leaf
    cap = capture_flow(out, {"x": leaf}, details=2)
    with cap:
        torch.autograd.grad(out, [leaf])
    r = cap.report()
    assert [n.detailed for n in r.nodes] == [True, True, False, False]
    assert r.node(2).grad["received"][0]["values"] == [1.0, 1.0]
    assert r.node(3).grad is None and r.node(4).grad is None  # not hooked: past the budget
    assert r.node(4).variable == "x"
    assert len(cap._flow) == 2


def test_large_gradients_are_summarised_once_and_within_a_budget(monkeypatch):
    import autodiff_magics.graph.saved as graph_saved

    calls = []
    real = torch.aminmax
    monkeypatch.setattr(torch, "aminmax", lambda t: calls.append(t.numel()) or real(t))
    monkeypatch.setattr(graph_saved, "STATS_BUDGET", 2_500)
    leaf = torch.arange(1000.0, requires_grad=True)
    out = (leaf * 2).sin().sum()
    cap = capture_flow(out, {"x": leaf})
    with cap:
        torch.autograd.grad(out, [leaf])
    r = cap.report()
    # the walk: sin saved self (1000 elements), mul nothing large. The backward pass: 1000-element
    # gradients passed by sum, received and passed by sin and mul: 5, of which 2 fit; and the
    # variable's gradient, summarised whatever the budget (it is the answer, and comes last)
    assert calls == [1000, 1000, 1000, 1000]
    sin = r.node(2)
    assert set(sin.saved["self"]) == {"kind", "shape", "dtype", "device", "min", "max"}
    summaries = [s for n in r.nodes for key in ("received", "passed") for s in n.grad[key] if s and s["shape"] == [1000]]
    assert len(summaries) == 6 and sum("min" in s for s in summaries) == 3
    x_grad = r.node(4).grad["received"][0]
    expected = 2 * torch.cos(2 * leaf.detach())  # d/dx sin(2x)
    assert (r.node(4).variable, x_grad["min"], x_grad["max"]) == ("x", expected.min().item(), expected.max().item())
    assert r.notes == [
        "min/max not computed for 3 large gradients: summaries read at most 2,500 elements per backward pass "
        "(shape and dtype are shown)."
    ]
    monkeypatch.setattr(graph_saved, "STATS_BUDGET", 500)
    walked = grad_graph((leaf * 2).sin().sum())  # a fresh graph: backward freed the one above
    assert walked.node(2).saved["self"] == {"kind": "tensor", "shape": [1000], "dtype": "float32", "device": "cpu"}
    assert walked.notes == [
        "min/max not computed for 1 large saved tensor: summaries read at most 500 elements per graph "
        "(shape and dtype are shown)."
    ]


def test_nodes_is_a_sequence_built_on_access(x):
    r = grad_graph(seed_f(x), names={"x": x})
    nodes = r.nodes
    assert len(nodes) == 13 and nodes[0].id == 1 and nodes[-1].id == 13 and [n.id for n in nodes[5:7]] == [6, 7]
    assert nodes[5] == r.node(6) and nodes[5] is not r.node(6)  # plain snapshots, equal by value
    with pytest.raises(IndexError):
        nodes[13]
    with pytest.raises(IndexError, match="ids run from 1 to 13"):
        r.node(0)


def test_node_kinds_of_a_type_shared_by_several_node_names():
    """torch gives C++ nodes without a class of their own one generic type: named per node."""
    from autodiff_magics.graph.kinds import Kinds as _Kinds

    class CppFunction:  # the generic type's name, whatever each node's name()
        def __init__(self, name):
            self._name = name

        def name(self):
            return self._name

    kinds = _Kinds(torch.autograd.function.BackwardCFunction)
    first = kinds.info(CppFunction("torch::autograd::CopySlices"))
    second = kinds.info(CppFunction("FooBackward0"))
    assert (first, second) == (("CopySlices", "in-place write into a view", "engine"), ("FooBackward0", "foo", "operation"))
    assert kinds.by_type[CppFunction] is None  # never answered by type


# -- to_dict / to_dot -------------------------------------------------------------------------------


def test_to_dict_contract(x):
    d = grad_graph(seed_f(x), names={"x": x}).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {"tensor", "root", "roots", "count", "depth", "leaves", "flow", "detailed", "details_limit", "notes", "nodes"}
    assert (d["root"], d["count"], d["depth"], d["leaves"], d["flow"], d["detailed"]) == (1, 13, 6, 1, False, 13)
    node = d["nodes"][10]
    assert node == {
        "id": 11,
        "name": "MulBackward0",
        "op": "mul",
        "kind": "operation",
        "children": [12, None],
        "parent": 1,
        "variable": None,
        "saved": {"other": {"kind": "tensor", "shape": [], "dtype": "int64", "device": "cpu", "values": 5}},
        "grad": None,
        "shape": [],
        "dtype": "float64",
        "device": "cpu",
        "outputs": 1,
        "detailed": True, "expression": None, "value": None,
    }
    node["saved"]["other"]["values"] = 99  # a copy: the report is unchanged
    assert grad_graph(seed_f(x)).node(11).saved["other"]["values"] == 5


def test_to_dot_is_graphviz_source_with_escaped_names(x):
    dot = grad_graph(seed_f(x), names={'say "hi"\\': x}).to_dot()
    assert dot.startswith("digraph grad_fn {") and dot.endswith("}")
    assert dot.count(" -> ") == 15  # 18 next_functions entries, less the 3 of constant factors
    assert '#6 say \\"hi\\"\\\\ · leaf · AccumulateGrad' in dot
    assert "n6 -> n5;" in dot and "n2 -> n1;" in dot


# -- the gradient flow (%%gradient) -----------------------------------------------------------------


def flow_run(x):
    leaf = x.detach().clone().requires_grad_(True)
    out = seed_f(leaf)
    cap = capture_flow(out, {"x": leaf})
    with cap:
        (g,) = torch.autograd.grad(out, [leaf], allow_unused=True)
    return cap, cap.report(), g, leaf


def test_flow_matches_the_chain_rule(x):
    _, r, g, _ = flow_run(x)
    assert r.flow and g.tolist() == [9.0, -8.0, 138.0]

    def flowed(node):
        grad = node.grad
        return (
            [s["values"] for s in grad["received"]],
            [None if s is None else s["values"] for s in grad["passed"]],
        )

    (cube,) = find(r, "pow", exponent=3)
    assert flowed(cube) == ([5.0], [135.0])  # d(5·u)/du = 5 in, 5·3·3² = 135 out
    (five,) = find(r, "mul", other=5)
    assert flowed(five) == ([1.0], [5.0, None])  # nothing flows to the constant 5
    (square,) = find(r, "pow", exponent=2)
    assert flowed(square) == ([-2.0], [-8.0])
    assert flowed(r.node(2)) == ([1.0], [1.0, -1.0])  # sub passes −1 to its right side
    assert flowed(find(r, "select", index=1)[0]) == ([-8.0], [[0.0, -8.0, 0.0]])
    leaf = r.node(6)
    assert flowed(leaf) == ([[9.0, -8.0, 138.0]], [])
    assert all(n.grad is not None for n in r.nodes)


def test_flow_hooks_are_removed(x):
    cap, r, _, leaf = flow_run(x)
    assert not leaf._backward_hooks
    before = dict(cap._flow)
    out = seed_f(leaf)
    torch.autograd.grad(out, [leaf])
    assert cap._flow == before
    with pytest.raises(RuntimeError, match="one backward pass"):
        with cap:
            pass


def test_flow_hooks_are_removed_on_interrupt(x):
    leaf = x.detach().clone().requires_grad_(True)
    out = seed_f(leaf)
    cap = capture_flow(out, {"x": leaf})
    with pytest.raises(KeyboardInterrupt):
        with cap:
            raise KeyboardInterrupt
    assert not leaf._backward_hooks
    torch.autograd.grad(out, [leaf])
    assert cap._flow == {}


def test_flow_of_a_leaf_output():
    leaf = torch.tensor(3.0, requires_grad=True)
    cap = capture_flow(leaf, {"x": leaf})
    with cap:
        torch.autograd.grad(leaf, [leaf])
    r = cap.report()
    assert r.count == 1 and r.node(1).variable == "x" and r.node(1).grad["received"][0]["values"] == 1.0


def test_flow_through_custom_function(x):
    leaf = x.detach().clone().requires_grad_(True)
    out = Scale.apply(leaf, 2.0).sum()
    cap = capture_flow(out, {"x": leaf})
    with cap:
        torch.autograd.grad(out, [leaf])
    node = cap.report().node(2)
    assert node.kind == "custom"
    assert [s["values"] for s in node.grad["passed"] if s is not None] == [[2.0, 2.0, 2.0]]


def test_flow_not_reached_is_none(x):
    leaf = x.detach().clone().requires_grad_(True)
    other = torch.ones(3, dtype=torch.float64, requires_grad=True)
    out = (leaf * 2).sum() + (other * 3).sum()
    cap = capture_flow(out, {"x": leaf})
    with cap:
        torch.autograd.grad(out, [leaf])
    r = cap.report()
    not_reached = [n for n in r.nodes if n.grad is None]
    # the branch to `other` is not needed for d/dx: autograd skips it (and the user's leaf is not hooked)
    assert sorted(n.op for n in not_reached) == ["leaf", "mul", "sum"]
    assert other._backward_hooks is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_shows_devices_and_flow():
    leaf = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, device="cuda", requires_grad=True)
    out = seed_f(leaf.cpu() * 1) + (leaf * 2).sum().cpu()
    cap = capture_flow(out, {"x": leaf})
    with cap:
        (g,) = torch.autograd.grad(out, [leaf])
    r = cap.report()
    devices = {n.device for n in r.nodes}
    assert devices == {"cpu", "cuda:0"}
    (x_node,) = [n for n in r.nodes if n.kind == "leaf"]
    assert (x_node.variable, x_node.device) == ("x", "cuda:0")
    assert x_node.grad["received"][0]["values"] == g.tolist() == [11.0, -6.0, 140.0]
    big = torch.arange(1000.0, device="cuda", requires_grad=True)
    saved = grad_graph((big * big).sum()).node(2).saved["self"]
    assert (saved["device"], saved["min"], saved["max"]) == ("cuda:0", 0.0, 999.0)
