"""Symbolic tracing: the cell's torch/NumPy code turned into exact SymPy expressions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

import autodiff_magics as adm
from autodiff_magics.cell import CellFunction
from autodiff_magics.functions import NAMES, pi
from autodiff_magics.symbolic import SymbolicUnsupported, trace_and_differentiate

NS = {"torch": torch, "np": np, "F": torch.nn.functional}


def trace(source: str, **points):
    cell = CellFunction(source, NS)
    return trace_and_differentiate(cell, {k: np.asarray(v, dtype=float) for k, v in points.items()})


def check_against_autograd(source: str, **points):
    """SymPy's gradient equals autograd's (to float64 round-off) on the same source."""
    r = adm.gradient(source, namespace=NS, **points)
    assert r.methods["symbolic"].status == "ok", r.methods["symbolic"].reason
    assert r.methods["autograd"].status == "ok", r.methods["autograd"].reason
    for name in points:
        np.testing.assert_allclose(r.methods["symbolic"].gradient[name], r.methods["autograd"].gradient[name], rtol=1e-12, atol=1e-12)
    assert r.agree, (r.verdict, r.explanations)
    return r


@pytest.mark.parametrize(
    "source",
    [
        "(x @ x) * 2",
        "torch.dot(x, x) + x.norm()",
        "torch.softmax(x, dim=0)[1]",
        "F.log_softmax(x, dim=0).sum()",
        "torch.logsumexp(x, dim=0)",
        "torch.where(x > 1.5, x**2, -x).sum()",
        "torch.stack([x[0] * x[1], x[2]]).prod()",
        "torch.cat([x, x**2]).mean()",
        "x.reshape(3, 1).T.sum()",
        "(x.unsqueeze(0) * x.unsqueeze(1)).sum()",
        "x.max() + x.min()",
        "torch.clamp(x, 0.0, 2.5).sum()",
        "sigmoid(x).sum() + softplus(x[0]) + relu(x - 2.5).sum()",
        "F.gelu(x).sum() + torch.tanh(x).sum()",
        "y = x.clone()\ny[0] = y[1] * 3\n(y**2).sum()",
        "y = x * 1\ny.mul_(2)\ny += x\ny.sum()",
        "sum(v**2 for v in x)",
        "sqrt(x[0]**2 + x[1]**2) + log(x[2]) + exp(-x[0])",
        "x.pow(3).sum() / x.numel()",
        "pi * x[0] + e ** x[1]",
    ],
)
def test_symbolic_matches_autograd(source):
    check_against_autograd(source, x=[1.0, 2.0, 3.0])


def test_matrix_variable_and_matmul():
    r = check_against_autograd("(W @ v).sum() + (W**2).mean()", W=[[1.0, 2.0], [3.0, 4.0]], v=[0.5, -1.0])
    assert r.symbolic.derivatives["W"].shape == (2, 2)
    assert r.symbolic.derivatives["v"].tolist() == ["W₀,₀ + W₁,₀", "W₀,₁ + W₁,₁"]


def test_exact_values_use_the_decimals_typed():
    result = trace("x * 0.1", x=3.0)
    assert result.expression == sympy.Rational(1, 10) * sympy.Symbol("x", real=True)
    result = trace("pi * x**2", x=2.0)
    assert result.exact_values["x"][()] == 4 * sympy.pi
    assert result.gradient["x"][()] == pytest.approx(4 * math.pi, rel=1e-16)


def test_pi_is_a_float_for_tensors_and_exact_for_sympy():
    assert isinstance(pi, float) and float(pi) == math.pi
    assert torch.tensor(pi).item() == pytest.approx(math.pi)
    assert sympy.sympify(pi) == sympy.pi


def test_generic_names_dispatch_on_their_argument():
    sin = NAMES["sin"]
    assert isinstance(sin(torch.tensor(1.0)), torch.Tensor)
    assert isinstance(sin(np.array([1.0])), np.ndarray)
    assert sin(sympy.Symbol("t")) == sympy.sin(sympy.Symbol("t"))
    assert float(sin(0.5)) == pytest.approx(math.sin(0.5))
    assert NAMES["maximum"](torch.tensor([1.0, -1.0]), 0.0).tolist() == [1.0, 0.0]


def test_user_defined_name_wins_over_the_generic_one():
    cell = CellFunction("sin(x)", {"sin": lambda v: 42.0})
    assert cell({"x": 1.0}) == 42.0
    import math as m

    cell = CellFunction("sin(x)", {"sin": m.sin})  # a library function is replaced by the generic one
    assert isinstance(cell({"x": torch.tensor(1.0)}), torch.Tensor)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("torch.special.i0(x)", "aten.i0 has no symbolic counterpart"),
    ],
)
def test_what_cannot_be_followed_says_why(source, reason):
    with pytest.raises(Exception) as info:
        trace(source, x=1.0)
    original = getattr(info.value, "original", info.value)
    assert isinstance(original, SymbolicUnsupported)
    assert reason in str(original)


def test_exponential_expression_growth_is_refused_quickly():
    src = "y = x\nfor _ in range(60):\n    y = y*y + y\ny"
    r = adm.gradient(src, x=0.001, methods=["symbolic", "autograd"])
    assert r.methods["symbolic"].status == "failed"
    assert "once written out" in r.methods["symbolic"].reason
    assert r.methods["autograd"].status == "ok"


# -- the operator record: keywords, conventions and shapes followed as torch runs them ------------------


def agrees_with_autograd(source: str, **points):
    """The symbolic result of a torch cell, after checking its value and gradient against torch's own."""
    result = trace(source, **points)
    tensors = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=True) for k, v in points.items()}
    value = CellFunction(source, NS)(tensors)
    grads = torch.autograd.grad(value, list(tensors.values()))
    assert result.value == pytest.approx(float(value.detach()), rel=1e-12, abs=1e-12)
    for name, g in zip(tensors, grads):
        np.testing.assert_allclose(result.gradient[name], g.numpy(), rtol=1e-10, atol=1e-12)
    return result


def test_softplus_follows_beta_and_threshold():
    r = agrees_with_autograd("F.softplus(x, beta=3).sum()", x=[0.5, -1.0])
    assert r.text(r.expression) == "log(exp(3*x₀) + 1)/3 + log(exp(3*x₁) + 1)/3"
    # above the threshold softplus is x itself, as torch computes it there
    r = agrees_with_autograd("F.softplus(x, beta=2, threshold=1)", x=1.0)
    assert r.text(r.expression) == "x"


def test_gelu_follows_approximate():
    exact = agrees_with_autograd("F.gelu(x)", x=0.7)
    tanh = agrees_with_autograd("F.gelu(x, approximate='tanh')", x=0.7)
    assert "erf" in exact.text(exact.expression) and "tanh" in tanh.text(tanh.expression)
    assert exact.value != tanh.value


def test_matrix_norms_are_the_matrix_norms():
    A = [[1.0, 2.0], [3.0, 4.0]]
    spectral = agrees_with_autograd("torch.linalg.norm(A, 2)", A=A)
    assert spectral.value == pytest.approx(float(torch.linalg.matrix_norm(torch.tensor(A, dtype=torch.float64), 2)), rel=1e-14)
    assert spectral.value != pytest.approx(math.sqrt(30))  # not the Frobenius norm
    agrees_with_autograd("torch.linalg.norm(A, 'nuc') + torch.linalg.norm(A, -2)", A=A)
    agrees_with_autograd("torch.linalg.norm(A) + torch.linalg.norm(A, 1) + torch.linalg.norm(A, float('inf'))", A=A)


def test_vector_norms_follow_their_order():
    r = agrees_with_autograd("torch.norm(x, float('-inf'))", x=[3.0, -0.5, 2.0])
    assert r.value == 0.5 and r.text(r.expression) == "Abs(x₁)"
    agrees_with_autograd("torch.norm(x, 3) + torch.linalg.vector_norm(x, 0.5)", x=[3.0, -0.5, 2.0])


def test_inner_of_matrices_contracts_the_last_dimensions():
    A, B = [[1.0, 2.0], [3.0, 4.0]], [[0.5, -1.0], [2.0, 1.5]]
    r = agrees_with_autograd("(torch.inner(A, B) * torch.tensor([[1., 2.], [3., 4.]])).sum()", A=A, B=B)
    expected = (np.array(A) @ np.array(B).T * np.array([[1, 2], [3, 4]])).sum()
    assert r.value == pytest.approx(expected, rel=1e-14)


def test_fmod_takes_the_sign_of_the_dividend_and_remainder_of_the_divisor():
    r = agrees_with_autograd("torch.fmod(x, 3.0) * 10 + torch.remainder(x, 3.0)", x=-5.0)
    assert r.value == -20 + 1  # C fmod(-5, 3) = -2; Python -5 % 3 = 1
    r = agrees_with_autograd("torch.fmod(x, y)", x=7.5, y=-2.0)
    assert r.value == 1.5 and r.gradient["y"][()] == 3.0  # d/dy (x - y*trunc(x/y)) = -trunc(x/y) = 3


def test_reductions_of_a_zero_dimensional_tensor():
    r = agrees_with_autograd("x.sum(0) + x.mean(-1) + x.amax(0) + torch.logsumexp(x, 0) + x.prod(0) + x.std(0, correction=0)", x=1.5)
    assert r.kinks == [] or all("Max" not in k for k in r.kinks)


@pytest.mark.parametrize("source", ["torch.floor(x) + x", "torch.ceil(x) * x", "torch.round(x, decimals=1)", "x % 0.75",
                                    "torch.fmod(x, 0.75)", "torch.sgn(x) * x", "torch.trunc(x) + x", "torch.frac(x)"])
def test_piecewise_constant_ops_have_derivative_zero_where_defined(source):
    r = agrees_with_autograd(source, x=2.3)
    assert r.kinks == []


def test_a_piecewise_constant_op_on_its_step_is_a_kink_not_an_error():
    r = trace("torch.floor(x) * 2", x=2.0)
    assert r.gradient["x"][()] == 0.0 and r.kinks == ["floor(x)"]


def test_the_slow_norm_inf_sample_answers_within_the_budget():
    from tests.opinfo_corpus import cases

    samples = list(cases(["norm.inf"]))
    assert samples
    for _, fn, leaves in samples:
        names = [f"x{k}" for k in range(len(leaves))]
        points = {n: t.numpy() for n, t in zip(names, leaves)}
        r = trace_and_differentiate(lambda v: fn(*[v[n] for n in names]), points)  # over budget would raise
        assert r.value == pytest.approx(float(fn(*leaves)), rel=1e-12)
        assert "Max" not in r.text(r.expression)  # the extreme is decided at the point


def test_formulas_read_like_the_code():
    r = trace("torch.sin(2*x)", x=3.5)
    assert r.text(r.expression) == "sin(2*x)"
    r = trace("F.softplus(x)", x=0.5)
    assert r.text(r.expression) == "log(exp(x) + 1)"
    r = trace("torch.relu(x).sum()", x=[1.0, -2.0])
    assert r.text(r.expression) == "Max(0, x₀) + Max(0, x₁)"
    r = trace("torch.softmax(x, 0)[0]", x=[1.0, 2.0])
    assert r.text(r.expression) == "exp(x₀)/(exp(x₀) + exp(x₁))"


def test_numpy_code_still_has_its_row():
    r = trace("np.sin(x).sum() + np.exp(x[0])", x=[1.0, 2.0])
    assert r.text(r.expression) == "exp(x₀) + sin(x₀) + sin(x₁)"


def test_numpy_matrix_products_are_traced_both_ways_round():
    NS["A"] = np.array([[1.0, 2.0], [3.0, 4.0]])
    try:
        r = trace("np.sin(x) @ A @ x", x=[1.0, 2.0])  # SymbolicArray @ array, then array-valued @ x
        s0, s1 = math.sin(1.0), math.sin(2.0)
        assert r.value == pytest.approx(s0 * (1 + 2 * 2) + s1 * (3 + 4 * 2), rel=1e-15)
        # d/dx₀ = cos(x₀)·(A x)₀ + (Aᵀ sin x)₀
        assert r.gradient["x"][0] == pytest.approx(math.cos(1.0) * 5 + (s0 * 1 + s1 * 3), rel=1e-14)
        r = trace("(A @ np.sin(x)).sum()", x=[0.5, 1.5])  # array @ SymbolicArray: __rmatmul__
        assert r.value == pytest.approx(float((NS["A"] @ np.sin([0.5, 1.5])).sum()), rel=1e-15)
        assert r.gradient["x"].tolist() == pytest.approx([4 * math.cos(0.5), 6 * math.cos(1.5)], rel=1e-14)
    finally:
        NS.pop("A")


def test_custom_autograd_function_is_followed_through_its_forward():
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            ctx.save_for_backward(v)
            return v**3

        @staticmethod
        def backward(ctx, g):  # deliberately wrong: symbolic follows the forward, not this
            (v,) = ctx.saved_tensors
            return g * v

    r = trace_and_differentiate(CellFunction("Cube.apply(x).sum()", {**NS, "Cube": Cube}), {"x": np.array([2.0])})
    assert r.text(r.expression) == "x₀**3" and r.gradient["x"].tolist() == [12.0]


def test_a_value_read_as_a_number_is_a_cut_and_is_said():
    held = trace_and_differentiate(CellFunction("x * x.item()", NS), {"x": np.array(2.0)}, hold_items=True)
    assert held.gradient["x"][()] == 2.0 and "holds it constant" in held.notes[0]
    followed = trace("x * x.item()", x=2.0)
    assert followed.gradient["x"][()] == 4.0
    r = trace("float(x) * x", x=3.0)  # float() cannot be followed: held constant, as autograd does
    assert r.gradient["x"][()] == 3.0 and "as a Python number" in r.notes[0]


def test_in_place_writes_through_views():
    r = agrees_with_autograd("y = x.clone()\nv = y[1:]\nv.mul_(x[0])\ny[0] = 7.0\n(y * torch.tensor([1., 2., 3.])).sum()", x=[2.0, 3.0, 4.0])
    assert r.text(r.expression) == "2*x₀*x₁ + 3*x₀*x₂ + 7"


def test_convolution_is_written_exactly():
    r = agrees_with_autograd("F.conv1d(x.reshape(1, 1, 4), w.reshape(1, 1, 2), padding=1).sum()", x=[1.0, 2.0, 3.0, 4.0], w=[0.5, -1.0])
    assert r.text(r.expression).count("w") >= 2


def test_the_time_budget_skips_with_its_reason():
    from autodiff_magics.symbolic.exact import Budget

    with pytest.raises(SymbolicUnsupported, match="time budget"):
        trace_and_differentiate(CellFunction("torch.sin(x).sum()", NS), {"x": np.ones(3)}, budget=Budget(seconds=0.0))


def test_annotations_give_each_autograd_node_its_expression_and_value():
    from autodiff_magics.symbolic import record_operators

    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    with record_operators({"x": x}) as rec:
        y = 3 * x[0] * x[2] - 2 * x[1] ** 2 + 5 * x[2] ** 3
    r = trace_and_differentiate(lambda v: None, {"x": x.detach().numpy()}, record=rec.finish(y))
    assert r.text(r.derivatives["x"][2]) == "3*x₀ + 15*x₂**2"
    pow_node = y.grad_fn.next_functions[1][0].next_functions[0][0]
    assert type(pow_node).__name__ == "PowBackward0"
    assert r.annotations[pow_node] == ("x₂**3", "27")
    assert r.annotations[y.grad_fn] == ("3*x₀*x₂ - 2*x₁**2 + 5*x₂**3", "136")
    assert len(r.annotations) == 12 and all(len(t) <= 60 for pair in r.annotations.values() for t in pair)
    assert x.grad is None and x.requires_grad  # recording touched nothing of the user's


def _recorded(source: str, values):
    from autodiff_magics.symbolic import record_operators

    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    with record_operators({"x": x}) as rec:
        y = eval(source, {"torch": torch, "x": x})
    return x, y, rec.finish(y)


def test_a_replay_is_remembered_by_its_record_and_annotates_the_new_run(monkeypatch):
    from autodiff_magics.symbolic import memo, replay

    memo.clear()
    source = "3 * x[0] * x[2] - 2 * x[1] ** 2 + 5 * x[2] ** 3"
    x, y, rec = _recorded(source, [1.0, 2.0, 3.0])
    first = trace_and_differentiate(lambda v: None, {"x": x.detach().numpy()}, record=rec)
    first.gradient["x"][0] = 99.0  # a caller editing its result does not edit what is remembered
    shown = first.annotations[y.grad_fn], first.text(first.derivatives["x"][2])

    def no_replay(*a, **k):
        raise AssertionError("replayed again")

    monkeypatch.setattr(replay, "Replay", no_replay)
    x2, y2, rec2 = _recorded(source, [1.0, 2.0, 3.0])
    again = trace_and_differentiate(lambda v: None, {"x": x2.detach().numpy()}, record=rec2)
    assert again.gradient["x"].tolist() == [9.0, -8.0, 138.0]
    from autodiff_magics.symbolic import engine

    monkeypatch.setattr(engine, "_short_expression", no_replay)  # what was printed once is not printed again
    monkeypatch.setattr(sympy, "sstr", no_replay)
    assert (again.annotations[y2.grad_fn], again.text(again.derivatives["x"][2])) == shown
    assert shown == (("3*x₀*x₂ - 2*x₁**2 + 5*x₂**3", "136"), "3*x₀ + 15*x₂**2")  # the new run's own node
    assert y.grad_fn not in again.annotations and len(again.annotations) == 12
    # another point, another constant, or -0.0 for 0.0 is another record: replayed (and here refused)
    for other, values in ((source, [1.0, 2.0, 4.0]), (source.replace("3 *", "3.5 *", 1), [1.0, 2.0, 3.0]),
                          ("x[0] * 0.0 + x[1]", [1.0, 2.0, 3.0])):
        _, _, r = _recorded(other, values)
        if other.startswith("x[0]"):
            monkeypatch.undo()
            trace_and_differentiate(lambda v: None, {"x": np.array(values)}, record=r)
            monkeypatch.setattr(replay, "Replay", no_replay)
            _, _, r = _recorded("x[0] * -0.0 + x[1]", values)
        with pytest.raises(AssertionError, match="replayed again"):
            trace_and_differentiate(lambda v: None, {"x": np.array(values)}, record=r)
    memo.clear()


def test_annotations_of_a_tensor_summarise_it():
    x = torch.arange(1.0, 7.0, dtype=torch.float64).requires_grad_()
    from autodiff_magics.symbolic import record_operators

    with record_operators({"x": x}) as rec:
        s = torch.sin(x)
        y = s.sum()
    r = trace_and_differentiate(lambda v: None, {"x": x.detach().numpy()}, record=rec.finish(y))
    expression, value = r.annotations[s.grad_fn]
    assert expression == "6: [sin(x₀), sin(x₁), …]" and value.startswith("6: [0.8415, 0.9093")


def test_recording_stops_politely_when_tensors_are_large():
    from autodiff_magics.symbolic import record_operators

    x = torch.ones(3, dtype=torch.float64)
    with record_operators({"x": x}, max_elements=100) as rec:
        y = (x * torch.ones(1000, dtype=torch.float64)[:3]).sum() + torch.ones(1000).sum()
    assert rec.stopped and "more than 100 elements" in rec.stopped and not rec.events
    assert float(y) == 1003.0  # the run itself is untouched
    with pytest.raises(SymbolicUnsupported, match="more than 100 elements"):
        trace_and_differentiate(lambda v: None, {"x": np.ones(3)}, record=rec.finish(y))


@pytest.mark.parametrize(
    ("source", "point", "expected"),
    [
        ("np.sin(x).sum() + F.softplus(x, beta=3).sum()", [0.5, 1.0],
         math.sin(0.5) + math.sin(1) + math.log1p(math.exp(1.5)) / 3 + math.log1p(math.exp(3)) / 3),
        ("np.sin(x).sum() + torch.fmod(x, 3.0).sum()", [-5.0, 1.0], math.sin(-5) + math.sin(1) - 2 + 1),
        ("np.sin(x) + x.sum(0)", 1.5, math.sin(1.5) + 1.5),
        ("np.sin(x).sum() + torch.inner(x.reshape(1, 2), x.reshape(1, 2) * 2).sum()", [1.0, 2.0], math.sin(1) + math.sin(2) + 10),
    ],
)
def test_the_numpy_fallback_honours_keywords_and_conventions(source, point, expected):
    r = trace(source, x=point)  # np.sin on a tensor that requires grad: the NumPy tracer takes over
    assert r.value == pytest.approx(expected, rel=1e-14)


def test_the_numpy_fallback_refuses_a_matrix_norm_it_cannot_write():
    with pytest.raises(Exception) as info:
        trace("np.sin(x).sum() + torch.linalg.norm(x.reshape(2, 2), 2)", x=[1.0, 2.0, 3.0, 4.0])
    assert "matrix norm of order 2" in str(getattr(info.value, "original", info.value))


def test_annotations_can_release_the_graph_they_point_into():
    from autodiff_magics.symbolic import record_operators

    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    with record_operators({"x": x}) as rec:
        y = (x**2).sum()
    r = trace_and_differentiate(lambda v: None, {"x": x.detach().numpy()}, record=rec.finish(y))
    assert r.annotations[y.grad_fn] == ("x₀**2 + x₁**2", "5")
    r.annotations.release()
    assert len(r.annotations) == 0 and y.grad_fn not in r.annotations
    standalone = trace("torch.sin(x).sum()", x=[1.0, 2.0])  # nobody else saw that run's nodes
    assert dict(standalone.annotations) == {}
