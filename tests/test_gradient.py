"""The %%gradient engine through its Python API (no IPython)."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch

import autodiff_magics as adm
from autodiff_magics.errors import InputError

F2 = "3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"


def test_seed_sin_2x_at_3_5():
    r = adm.gradient("sin(2*x)", x=3.5)
    assert r.value == pytest.approx(math.sin(7.0), abs=1e-15)
    assert float(r.gradient["x"]) == pytest.approx(1.5078045086866, abs=1e-12)
    assert r.reference == "symbolic"
    assert r.symbolic.derivatives["x"][()] == "2*cos(2*x)"
    assert r.symbolic.exact_gradient["x"][()] == "2*cos(7)"
    assert r.agree and not r.disagreements
    for name in ("symbolic", "autograd", "central", "forward"):
        assert r.methods[name].status == "ok"
        assert float(r.methods[name].gradient["x"]) == pytest.approx(2 * math.cos(7.0), rel=1e-6)


def test_seed_f2_every_method_agrees():
    r = adm.gradient(F2, x=[1.0, 2.0, 3.0])
    assert r.value == 136.0
    assert r.gradient["x"].tolist() == [9.0, -8.0, 138.0]
    assert r.agree, r.verdict
    assert [m for m, res in r.methods.items() if res.status == "ok"] == ["symbolic", "autograd", "central", "forward"]
    assert r.methods["autograd"].gradient["x"].tolist() == [9.0, -8.0, 138.0]
    np.testing.assert_allclose(r.methods["central"].gradient["x"], [9, -8, 138], rtol=1e-8)
    np.testing.assert_allclose(r.methods["forward"].gradient["x"], [9, -8, 138], rtol=1e-6)
    assert r.symbolic.expression == "3*x₀*x₂ - 2*x₁**2 + 5*x₂**3"
    assert r.symbolic.derivatives["x"].tolist() == ["3*x₂", "-4*x₁", "3*x₀ + 15*x₂**2"]
    assert r.methods["directional"].status == "skipped"


def test_seed_central_difference_slip_is_flagged_as_expect():
    r = adm.gradient(F2, x=[1.0, 2.0, 3.0], expect=[3, -8, 144])
    assert not r.agree
    assert [(d.method, d.variable, d.index, d.value, d.expected) for d in r.disagreements] == [
        ("expect", "x", (0,), 3.0, 9.0),
        ("expect", "x", (2,), 144.0, 138.0),
    ]
    assert any("--expect" in e and "x[0] (3 vs 9)" in e and "x[2] (144 vs 138)" in e for e in r.explanations)
    assert r.suspects == ["expect"]


def test_expect_as_formula_in_the_variables():
    r = adm.gradient(F2, x=[1.0, 2.0, 3.0], expect="[3*x[2], -4*x[1], 3*x[0] + 15*x[2]**2]")
    assert r.agree, r.explanations
    assert r.methods["expect"].gradient["x"].tolist() == [9.0, -8.0, 138.0]


def cube_function(factor: float, name: str) -> type[torch.autograd.Function]:
    """x³ as a custom Function whose hand-written backward is factor·x² (right when factor is 3)."""

    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a**3

    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * factor * a**2

    return type(name, (torch.autograd.Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


WrongCube = cube_function(2.0, "WrongCube")


def test_custom_function_with_wrong_backward_is_flagged():
    r = adm.gradient("WrongCube.apply(x).sum()", namespace={"WrongCube": WrongCube}, x=[1.0, 2.0])
    assert not r.agree
    assert r.methods["autograd"].gradient["x"].tolist() == [2.0, 8.0]
    assert r.gradient["x"].tolist() == [3.0, 12.0]  # SymPy follows the forward's math
    assert {d.method for d in r.disagreements} == {"autograd"}
    assert r.suspects == ["autograd"]
    assert any("WrongCube" in e and "backward" in e for e in r.explanations)


def test_custom_function_with_right_backward_agrees():
    r = adm.gradient("Cube.apply(x).sum()", namespace={"Cube": cube_function(3.0, "Cube")}, x=[1.0, 2.0])
    assert r.agree, r.explanations


def test_abs_at_zero_is_explained_as_not_differentiable():
    r = adm.gradient("abs(x)", x=0.0)
    assert float(r.methods["autograd"].gradient["x"]) == 0.0
    assert float(r.methods["forward"].gradient["x"]) == 1.0
    assert float(r.methods["central"].gradient["x"]) == 0.0
    assert not r.agree
    assert r.verdict.startswith("f is not differentiable at the point")
    assert any("not differentiable" in e and "Abs(x)" in e for e in r.explanations)


def test_maximum_at_a_tie_is_a_kink():
    r = adm.gradient("maximum(x, 0.0)", x=0.0)
    assert float(r.methods["symbolic"].gradient["x"]) == 0.5  # Heaviside(0) = 1/2
    assert r.symbolic.kinks, "the tie of Max(x, 0) at 0 is a kink"
    assert any("not differentiable" in e for e in r.explanations)


def test_item_cuts_the_graph_and_is_named():
    r = adm.gradient("x * x.item()", x=2.0)
    assert float(r.methods["autograd"].gradient["x"]) == 2.0
    assert float(r.gradient["x"]) == 4.0
    assert r.suspects == ["autograd"]
    assert any(".item() on line 1" in e for e in r.explanations)


def test_detach_cut_without_symbolic_still_blames_autograd():
    r = adm.gradient("y = x.detach()\n(x * y).sum()", methods=["autograd", "central", "forward"], x=[1.0, 2.0])
    assert r.reference == "autograd"
    assert r.suspects == ["autograd"]
    assert r.verdict.startswith("autograd disagrees with central and forward")
    assert any(".detach() on line 1" in e for e in r.explanations)


def test_numpy_only_code_fails_autograd_with_the_reason_only():
    r = adm.gradient("import numpy as np\nnp.sin(x).sum()", x=[1.0, 2.0])
    assert r.methods["autograd"].status == "failed"
    assert "np.sin" in r.methods["autograd"].reason and "line 2" in r.methods["autograd"].reason
    assert r.methods["symbolic"].status == "ok"
    np.testing.assert_allclose(r.gradient["x"], np.cos([1.0, 2.0]), rtol=1e-15)
    assert r.agree
    assert not any("warned" in n for n in r.notes), "NumPy's deprecation chatter is not a note"


def test_explicit_torch_calls_work_in_every_method():
    r = adm.gradient("torch.sin(x).sum() + torch.exp(x[0]) * x.pow(2).mean()", namespace={"torch": torch}, x=[0.5, 1.5])
    assert r.methods["symbolic"].status == "ok", r.methods["symbolic"].reason
    assert r.agree, r.explanations
    x0, x1 = 0.5, 1.5
    expected = [math.cos(x0) + math.exp(x0) * (x0**2 + x1**2) / 2 + math.exp(x0) * x0, math.cos(x1) + math.exp(x0) * x1]
    np.testing.assert_allclose(r.gradient["x"], expected, rtol=1e-14)


def test_symbolic_follows_the_branch_taken_at_the_point():
    src = "if x > 0:\n    y = x**2\nelse:\n    y = -x\ny"
    assert float(adm.gradient(src, x=3.0).gradient["x"]) == 6.0
    assert float(adm.gradient(src, x=-3.0).gradient["x"]) == -1.0


def test_unsupported_torch_function_gives_one_line_reason():
    r = adm.gradient("torch.special.i0(x).sum()", namespace={"torch": torch}, x=[1.0])
    assert r.methods["symbolic"].status == "failed"
    assert "no symbolic counterpart" in r.methods["symbolic"].reason
    assert "\n" not in r.methods["symbolic"].reason
    assert r.reference == "autograd" and r.agree


def test_f_that_does_not_depend_on_x_has_zero_gradient():
    r = adm.gradient("5.0", x=[1.0, 2.0])
    assert r.agree
    for name in ("symbolic", "autograd", "central", "forward"):
        assert r.methods[name].gradient["x"].tolist() == [0.0, 0.0]
    assert any("does not depend" in n for n in r.notes)


def test_several_variables_and_a_callable():
    r = adm.gradient(lambda w, b: ((w * 2.0 + b) ** 2).sum(), w=[1.0, -1.0], b=0.5)
    assert r.agree
    assert r.gradient["w"].tolist() == [2 * 2 * 2.5, 2 * 2 * -1.5]
    assert float(r.gradient["b"]) == 2 * 2.5 + 2 * -1.5


def test_integer_point_is_promoted_with_a_note():
    r = adm.gradient("x**2", x=3)
    assert float(r.gradient["x"]) == 6.0
    assert "x was given as an integer; promoted to float64" in r.notes


def test_float32_with_too_small_a_step_explains_round_off():
    r = adm.gradient("(x**3).sum()", x=[2.0], dtype="float32", step=1e-7, methods=["autograd", "forward"])
    assert r.dtype == "float32"
    assert not r.agree
    assert any("round-off" in e and "float32" in e for e in r.explanations)
    fine = adm.gradient("(x**3).sum()", x=[2.0], dtype="float32", methods=["autograd", "forward", "central"])
    assert fine.agree, fine.explanations


def test_large_input_uses_the_directional_check():
    w = torch.randn(20_000, generator=torch.Generator().manual_seed(0))
    r = adm.gradient("(sin(w) * w**2).sum()", w=w)
    assert r.methods["symbolic"].status == "skipped" and "symbolic limit" in r.methods["symbolic"].reason
    assert r.methods["central"].status == "skipped"
    d = r.methods["directional"]
    assert d.status == "ok" and d.details["directions"] == 3 and d.evaluations in (18, 24)  # 4 per direction and the noise's 6, or 8 per direction
    assert r.agree, r.explanations
    wd = w.double()
    np.testing.assert_allclose(r.gradient["w"], (torch.cos(wd) * wd**2 + 2 * wd * torch.sin(wd)).numpy(), rtol=1e-12)


def test_directional_check_catches_a_wrong_backward_on_large_input():
    w = torch.linspace(-1, 1, 5000)
    r = adm.gradient("WrongCube.apply(w).sum()", namespace={"WrongCube": WrongCube}, w=w)
    assert r.methods["directional"].status == "ok"
    assert not r.agree
    assert {d.method for d in r.disagreements} == {"directional"}
    assert r.suspects == ["autograd"]
    assert any("WrongCube" in e for e in r.explanations)


def test_nan_value_is_reported_not_hidden():
    r = adm.gradient("log(x)", x=-1.0)
    assert math.isnan(r.value)
    assert not r.agree
    assert "nan" in r.verdict
    assert math.isnan(r.methods["central"].max_abs_error)


def test_step_study_shows_truncation_and_round_off():
    r = adm.gradient("(x**3 + sin(x)).sum()", x=[2.0], study=True)
    study = r.study
    assert len(study.steps) == len(study.forward) == len(study.central) >= 14
    best_central = min(range(len(study.steps)), key=lambda k: study.central[k])
    # central differences are best around h ≈ 1e-5 in float64: larger steps truncate, smaller ones round off
    assert 1e-7 <= study.steps[best_central] <= 1e-3
    assert study.central[0] > 100 * study.central[best_central]
    assert study.central[-1] > 100 * study.central[best_central]
    assert "<svg" in r.to_html()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(x=1 + 2j), "x is complex"),
        (dict(x=[1.0, float("nan")]), "x[1] is nan"),
        (dict(x=[1.0, float("inf")]), "x[1] is infinite"),
        (dict(x="abc"), "x is a str"),
        (dict(x=[]), "x is empty"),
        (dict(x=[[1.0], [1.0, 2.0]]), "not a rectangular array"),
    ],
)
def test_bad_points(kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        adm.gradient("x.sum()", **kwargs)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "the cell is empty"),
        ("y = x +", "syntax error on line 1: 'y = x +'"),
        ("y = x.sum()", "last line must be an expression"),
        ("x", "f must be a scalar, but the cell's last expression has shape (2,): reduce it"),
        ("'abc'", "must be a number or a one-element tensor, but it is a str"),
        ("None", "it is None"),
        ("x.sum() > 1", "f is a bool tensor"),
        ("y = 1\nundefined_name + y", "line 2 of the cell ('undefined_name + y') raised NameError"),
    ],
)
def test_bad_cells(source, message):
    with pytest.raises(InputError) as info:
        adm.gradient(source, x=[1.0, 2.0])
    assert message in str(info.value)


def test_report_is_plain_data_and_to_dict_is_the_contract():
    r = adm.gradient(F2, x=[1.0, 2.0, 3.0], expect=[3, -8, 144])
    d = r.to_dict()
    for key in ("value", "variables", "reference", "gradient", "methods", "agree", "disagreements", "symbolic"):
        assert key in d
    assert d["variables"] == {"x": [1.0, 2.0, 3.0]}
    assert d["gradient"] == {"x": [9.0, -8.0, 138.0]}
    assert d["methods"]["central"]["status"] == "ok" and d["methods"]["central"]["max_abs_error"] < 1e-6
    assert set(d["methods"]["directional"]) >= {"status", "reason"}
    assert d["disagreements"][0] == {"method": "expect", "variable": "x", "index": [0], "value": 3.0, "expected": 9.0,
                                     "tolerance": d["disagreements"][0]["tolerance"]}
    assert d["symbolic"]["derivatives"] == {"x": ["3*x₂", "-4*x₁", "3*x₀ + 15*x₂**2"]}
    assert d["graph"]["count"] == 13

    def walk(obj, seen=set()):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        assert not isinstance(obj, torch.Tensor), "a report must not hold tensors"
        assert not type(obj).__module__.startswith("torch"), f"a report must not hold {type(obj)}"
        if dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                walk(getattr(obj, f.name))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(k)
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    walk(r)


def test_state_is_restored_when_the_cell_is_interrupted():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    before = (torch.get_default_dtype(), torch.is_grad_enabled(), torch._C._len_torch_function_stack())

    class Boom:
        calls = 0

        def __call__(self, v):
            Boom.calls += 1
            if Boom.calls == 3:  # inside the autograd run, under our function mode
                raise KeyboardInterrupt
            return v

    boom = Boom()
    with pytest.raises(KeyboardInterrupt):
        adm.gradient("boom(x).sum()", namespace={"boom": boom}, x=x)
    assert (torch.get_default_dtype(), torch.is_grad_enabled(), torch._C._len_torch_function_stack()) == before
    assert x.grad is None and x.requires_grad and x.tolist() == [1.0, 2.0]


def test_user_tensor_is_never_touched():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    version = x._version
    # the cell even writes into its own x in place (through a detached view): the user's x stays as it was
    r = adm.gradient("x.detach().add_(1.0)\n(x**2).sum()", x=x)
    assert x.grad is None and x.requires_grad and x._version == version and x.tolist() == [1.0, 2.0, 3.0]
    assert x.dtype == torch.float32
    assert "x is float32; checked in float64 (use --dtype to change)" in r.notes


def test_batched_differences_equal_one_by_one_and_fall_back_when_vmap_cannot():
    from autodiff_magics.cell import CellFunction
    from autodiff_magics.gradient.evaluation import Evaluation as _Run
    from autodiff_magics.finite_differences import per_coordinate

    point = {"x": torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)}
    cells = (
        (F2, True),
        ("(x * x.sum().item()).sum()", False),  # .item() inside vmap raises
        ("if x[0] > 0:\n    y = x**3\nelse:\n    y = x\ny.sum()", False),  # so does a branch on a value
    )
    for source, batchable in cells:
        cell = CellFunction(source, {})
        run = _Run(cell, torch.float64, torch.finfo(torch.float64).eps, [])
        run.set_points(point, {})
        f0 = run.evaluate(point)
        calls = []

        def counting(v, run=run):
            calls.append(1)
            return run.evaluate(v)

        for scheme in ("central", "forward"):
            calls.clear()
            batched = per_coordinate(counting, point, scheme, run.eps, f0, evaluate_batch=run.evaluate_batch)
            in_batch = len(calls)
            calls.clear()
            single = per_coordinate(counting, point, scheme, run.eps, f0)
            # a batch replaces most plain evaluations (a few may check it); without one, all are plain
            if scheme == "central":  # (forward's few shifted points may cost no more batched than plain)
                assert (in_batch < len(calls)) == batchable, (source, scheme, in_batch, len(calls))
            np.testing.assert_allclose(batched.gradient["x"], single.gradient["x"], rtol=1e-12)
            assert batched.evaluations >= 3 * (4 if scheme == "central" else 2)


def test_a_zero_tensor_gradient_from_autograd_is_read():
    r = adm.gradient(lambda x: (torch.sgn(x) * 2.0).sum(), x=[1.5, -2.0])
    assert r.methods["autograd"].status == "ok" and r.gradient["x"].tolist() == [0.0, 0.0]
    assert r.agree, r.verdict
