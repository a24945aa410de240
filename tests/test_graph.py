"""The grad_fn graph core: the walk, names, saved values, the captured gradient flow, limits."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap

import pytest
import torch

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


@pytest.mark.parametrize("value, kind", [([1.0, 2.0], "list"), (3.5, "float"), (None, "NoneType")])
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
    assert (saved["shape"], saved["min"], saved["max"], saved["mean"]) == ([1000], 0.0, 999.0, 499.5)
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


def chain(n: int):
    x = torch.randn(4, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    return x, y


def diamond(k: int):
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(k):
        y = y * y + y
    return x, y


def test_100k_deep_chain_walks_without_recursion():
    x, y = chain(100_000)
    r = grad_graph(y, names={"x": x})
    assert (r.count, r.depth, r.leaves) == (100_001, 100_001, 1)
    assert r.node(100_001).variable == "x"
    assert r.node(50_000).children == [50_001, None] and r.node(50_001).parent == 50_000
    # every constant 1.0001 is the same summary, shared, not 100,000 copies
    assert r.node(7).saved["other"] is r.node(9).saved["other"]
    assert r.to_dict()["nodes"][6]["saved"]["other"] is not r.node(7).saved["other"]


def test_freeing_a_walked_100k_chain_does_not_crash():
    """torch 2.13 frees a graph recursively once Python has seen its nodes (8 MiB of stack is
    not enough for 10⁵ levels): grad_graph makes room for it, in a fresh process."""
    code = textwrap.dedent(
        """
        import torch
        from autodiff_magics.graph import grad_graph
        x = torch.randn(4, requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y * 1.0001
        r = grad_graph(y)
        print(r.notes)
        del x, y
        print("freed")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("freed")


def test_diamond_with_2_to_the_60_paths_is_linear():
    x, y = diamond(60)
    r = grad_graph(y, names={"x": x})
    assert (r.count, r.depth, r.leaves) == (121, 121, 1)
    muls = [n for n in r.nodes if n.op == "mul"]
    assert len(muls) == 60 and all(n.children[0] == n.children[1] for n in muls)
    assert len(json.dumps(r.to_dict())) < 121 * 1000


# -- to_dict / to_dot -------------------------------------------------------------------------------


def test_to_dict_contract(x):
    d = grad_graph(seed_f(x), names={"x": x}).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {"tensor", "root", "count", "depth", "leaves", "flow", "notes", "nodes"}
    assert (d["root"], d["count"], d["depth"], d["leaves"], d["flow"]) == (1, 13, 6, 1, False)
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
    }
    node["saved"]["other"]["values"] = 99  # a copy: the report is unchanged
    assert grad_graph(seed_f(x)).node(11).saved["other"]["values"] == 5


def test_to_dot_is_graphviz_source_with_escaped_names(x):
    dot = grad_graph(seed_f(x), names={'say "hi"\\': x}).to_dot()
    assert dot.startswith("digraph grad_fn {") and dot.endswith("}")
    assert dot.count(" -> ") == 15  # 18 next_functions entries, less the 3 of constant factors
    assert '#6 say \\"hi\\"\\\\ (leaf)' in dot
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
