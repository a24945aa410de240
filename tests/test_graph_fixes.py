"""The graph walk's fixes: annotations, several outputs, signed ints and enum names, names of
leaves in lists, dicts and attributes, the vmap hint, deep graphs freed without a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from autodiff_magics.errors import InputError
from autodiff_magics.graph import capture_flow, grad_graph


def seed(x):
    return 3 * x[0] * x[2] - 2 * x[1] ** 2 + 5 * x[2] ** 3


@pytest.fixture
def x():
    return torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)


def annotations_of(f):
    """What the symbolic engine will give: (expression, value) keyed by the real autograd nodes."""
    add = f.grad_fn
    mul = add.next_functions[1][0]  # 5*x₂³
    power = mul.next_functions[0][0]  # x₂³
    return {add: ("3*x₀*x₂ - 2*x₁**2 + 5*x₂**3", "136"), mul: ("5*x₂**3", "135"), power: ("x₂**3", "27")}


# -- annotations ------------------------------------------------------------------------------------


def test_annotations_reach_every_node_and_view(x):
    f = seed(x)
    notes = annotations_of(f)
    r = grad_graph(f, names={"x": x}, annotations=notes)
    by_op = {(n.id, n.op): (n.expression, n.value) for n in r.nodes}
    assert by_op[(1, "add")] == ("3*x₀*x₂ - 2*x₁**2 + 5*x₂**3", "136")
    assert by_op[(11, "mul")] == ("5*x₂**3", "135") and by_op[(12, "pow")] == ("x₂**3", "27")
    assert sum(1 for e, v in by_op.values() if e is None and v is None) == 10
    d = r.to_dict()
    assert (d["nodes"][11]["expression"], d["nodes"][11]["value"]) == ("x₂**3", "27")
    assert d["nodes"][1]["expression"] is None and json.loads(json.dumps(d)) == d
    assert "#12 pow · PowBackward0 · x₂**3 = 27 · saved exponent=3, self=3" in r.to_text()
    html = r.to_html()
    assert "x₂**3 = 27" in html and "5*x₂**3 = 135" in html
    assert "x₂**3 = 27" in r.to_dot()


def test_annotations_in_a_captured_flow_and_the_picture(x):
    leaf = x.detach().clone().requires_grad_(True)
    f = seed(leaf)
    cap = capture_flow(f, {"x": leaf}, annotations=annotations_of(f))
    with cap:
        torch.autograd.grad(f, [leaf])
    r = cap.report()
    pow_node = r.node(12)
    assert (pow_node.expression, pow_node.value, pow_node.grad["received"][0]["values"]) == ("x₂**3", "27", 5.0)
    from autodiff_magics.views.graph_svg import to_svg

    svg = to_svg(r)
    assert "#12 pow · PowBackward0</text>" in svg and ">x₂**3 = 27</text>" in svg and ">grad 5</text>" in svg


def test_annotations_are_read_for_the_detailed_nodes_only(x):
    f = seed(x)
    read = []

    class Lazy(dict):  # the symbolic engine's mapping prints each text when it is read
        def __getitem__(self, key):
            read.append(key)
            return dict.__getitem__(self, key)

    notes = Lazy(annotations_of(f))
    r = grad_graph(f, annotations=notes, details=11)
    assert [n.value for n in r.nodes if n.value] == ["136", "135"] and len(read) == 2  # #12 pow is past the budget
    assert r.node(12).expression is None and not r.node(12).detailed


def test_annotations_with_user_text_are_escaped(x):
    f = seed(x)
    r = grad_graph(f, annotations={f.grad_fn: ("<b>x</b>", "<script>1</script>")})
    assert "<script>1" not in r.to_html() and "&lt;b&gt;x&lt;/b&gt; = &lt;script&gt;1&lt;/script&gt;" in r.to_html()


# -- several outputs --------------------------------------------------------------------------------


def test_a_tuple_of_outputs_is_one_graph_with_a_root_each(x):
    a = x * 2
    b = (x**2).sum()
    r = grad_graph((a, b), names={"x": x, "a": a, "b": b})
    assert r.tensor == "a, b" and len(r.roots) == 2 and r.root == 1
    assert [r.node(i).op for i in r.roots] == ["mul", "sum"]
    assert r.leaves == 1 and r.count == 4  # mul, sum, pow, and the one leaf x shared by both
    assert r.to_dict()["roots"] == r.roots
    text = r.to_text()
    assert text.count("#2 x (leaf) · AccumulateGrad") == 1 and "↪ same as #2 x (leaf)" in text and "\n#3 sum · SumBackward0" in text
    assert grad_graph([a, b]).roots == r.roots
    with pytest.raises(InputError, match="at least one tensor"):
        grad_graph(())


# -- saved values as the user wrote them --------------------------------------------------------------


def test_cross_entropy_shows_ignore_index_signed_and_reduction_by_name():
    logits = torch.randn(4, 5, requires_grad=True)
    loss = nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
    r = grad_graph(loss, names={"logits": logits})
    nll = next(n for n in r.nodes if n.name.startswith("NllLoss"))
    assert nll.saved["ignore_index"] == {"kind": "value", "value": -100}
    assert nll.saved["reduction"] == {"kind": "value", "value": "mean", "code": 1}
    line = next(ln for ln in r.to_text().splitlines() if "NllLoss" in ln)
    assert "ignore_index=-100" in line and "reduction=mean" in line and "18,446" not in line


def test_sum_reduction_and_noise_left_to_the_details():
    w = torch.randn(3, requires_grad=True)
    loss = nn.functional.mse_loss(w.expand(2, 3), torch.zeros(2, 3), reduction="sum")
    r = grad_graph(loss, names={"w": w})
    mse = r.node(1)
    assert mse.saved["reduction"]["value"] == "sum"
    expand = next(n for n in r.nodes if n.op == "expand")
    assert "self_sym_sizes" in expand.saved  # recorded ...
    line = next(ln for ln in r.to_text().splitlines() if "ExpandBackward0" in ln)
    assert "sym_sizes" not in line  # ... but not on the row


# -- names of leaves --------------------------------------------------------------------------------


class Net:
    """A plain object holding modules in an attribute, the way `self.enc` is in user code."""

    def __init__(self):
        self.enc = nn.Linear(2, 2)


def test_leaves_named_in_plain_lists_dicts_and_attributes():
    torch.manual_seed(0)
    layers = [nn.Linear(2, 2), nn.Linear(2, 1)]
    d = {"enc": nn.Linear(2, 2)}
    self = Net()
    xb = torch.randn(3, 2)
    out = layers[1](layers[0](d["enc"](self.enc(xb)))).sum()
    r = grad_graph(out, namespace={"layers": layers, "d": d, "self": self, "xb": xb})
    names = set(r.leaf_names())
    assert {"layers[0].weight", "layers[1].bias", "d['enc'].weight", "self.enc.weight", "self.enc.bias"} <= names
    assert None not in names and len(names) == 8


def test_namespace_search_skips_modules_functions_and_strings():
    import math

    w = torch.randn(2, requires_grad=True)
    r = grad_graph((w * 2).sum(), namespace={"math": math, "f": print, "s": "text", "box": {"w": w}})
    assert r.leaf_names() == ["box['w']"]


# -- vmap ------------------------------------------------------------------------------------------


def test_inside_vmap_the_hint_says_vmap_hides_the_graph():
    from torch.func import vmap

    w = torch.randn(3, requires_grad=True)
    messages = []

    def f(row):
        out = row * w
        try:
            grad_graph(out)
        except InputError as e:
            messages.append(str(e))
        return out.sum()

    vmap(f)(torch.randn(2, 3))
    assert messages and "batched tensor inside torch.func's vmap" in messages[0]
    assert "without gradient tracking" not in messages[0]


# -- deep graphs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["grad_graph", "capture_flow"])
def test_a_walked_million_deep_chain_frees_without_a_crash(how):
    """10⁶ levels once segfaulted when freed (rc 139): the walk now leaves the nodes to be
    released in order, from the output down, on the default stack."""
    code = textwrap.dedent(
        f"""
        import resource, torch
        from autodiff_magics.graph import capture_flow, grad_graph
        resource.setrlimit(resource.RLIMIT_STACK, (8 * 2**20, resource.getrlimit(resource.RLIMIT_STACK)[1]))
        x = torch.randn(1, requires_grad=True)
        y = x
        for _ in range(1_000_000):
            y = y * 1.0
        if "{how}" == "grad_graph":
            r = grad_graph(y, details=10)
        else:
            r = capture_flow(y, {{"x": x}}, details=10).report()
        print(r.depth, r.notes[-1:], resource.getrlimit(resource.RLIMIT_STACK)[0] // 2**20)
        del x, y
        print("freed")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    first, last = done.stdout.strip().splitlines()
    assert first.startswith("1000001 ") and first.endswith(" 8")  # no raised stack limit
    assert last == "freed" and "overflow" not in first
