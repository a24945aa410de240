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
