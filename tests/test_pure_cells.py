"""Pure cells (straight-line arithmetic on the variables) skip the guards they cannot need, and
give exactly what the fully guarded path gives."""

from __future__ import annotations

import re

import pytest
import torch
from IPython.core.interactiveshell import InteractiveShell

from autodiff_magics.cell import CellFunction
from autodiff_magics.gradient import remembered
from autodiff_magics.purity import analyse
from autodiff_magics.symbolic import memo

F2 = "3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "autodiff_magics")
    shell.user_ns["torch"] = torch
    memo.clear()
    remembered.clear()
    yield shell
    memo.clear()
    remembered.clear()


@pytest.mark.parametrize(
    "source",
    [F2, "(x**2).sum()", "torch.sin(x).sum() + y", "y = sin(2*x)\n(y * x).sum()", "a, b = x[0], x[1]\na*b", "x.T @ x", "(x > 0) * x[::-1]",
     "x.norm(p=2)", "-x[0] ** 0.5"],
)
def test_these_cells_are_pure(source):
    assert analyse(source).pure


@pytest.mark.parametrize(
    "source",
    ["print(x)\nx", "x *= 2\nx.sum()", "x[0] = 1\nx.sum()", "x.item()", "x.detach().sum()", "x if x > 0 else -x", "0 < x < 1",
     "x.add_(1).sum()", "torch.randn(3).sum()", "[v for v in x][0]", "x.numpy().sum()", "x.norm(p='fro')",
     "(y := x)[0]", "torch.nn.functional.dropout(x).sum()", "x and y", "not x"],
)
def test_these_cells_are_not(source):
    assert not analyse(source).pure


def test_free_names_must_be_variables_the_generic_math_names_or_torch():
    assert analyse("sin(x) + w").free == {"sin", "x", "w"}
    assert analyse("torch.exp(x).sum()").modules == {"torch"}
    ns = {"torch": torch}
    assert CellFunction("sin(x) + torch.exp(x).sum()", ns).pure_over({"x": 1})
    assert not CellFunction("w * x", {"w": torch.ones(3)}).pure_over({"x": 1})  # reaches the user's tensor
    assert not CellFunction("sin(x)", {"sin": lambda v: print(v)}).pure_over({"x": 1})  # the user's own sin
    assert not CellFunction("torch.sin(x)", {"torch": object()}).pure_over({"x": 1})  # some other "torch"
    assert CellFunction("y = x\ny.sum()", {}).pure_over({"x": 1})
    assert not CellFunction(lambda x: x, {}).pure_over({"x": 1})  # a Python callable: anything


def _text(report) -> str:
    # the times differ from run to run, and with them the widths of the columns
    return re.sub(r"[ ─]+", " ", re.sub(r"[0-9.]+ [mµ]?s\b", "T", report.to_text()))


@pytest.mark.parametrize("source", [F2, "y = sin(x) * x\n(y**2).sum() + torch.exp(x[0])"])
def test_the_pure_path_gives_what_the_guarded_path_gives(ip, monkeypatch, source):
    pure = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", source)
    again = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", source)  # from the pure memo, no record
    memo.clear()
    remembered.clear()
    monkeypatch.setattr(CellFunction, "pure_over", lambda self, variables: False)
    guarded = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", source)
    assert pure.agree and guarded.agree
    for name in guarded.methods:
        a, b = pure.methods[name], guarded.methods[name]
        assert a.status == b.status
        if b.gradient is not None:
            assert a.gradient["x"].tolist() == b.gradient["x"].tolist()
    assert _text(pure) == _text(again) == _text(guarded)  # numbers, verdict, graph with its expressions
    assert "3*x₀*x₂ - 2*x₁**2 + 5*x₂**3 = 136" in _text(pure) or source != F2


def test_a_pure_cell_leaves_the_generators_alone_without_saving_them(ip, monkeypatch):
    from autodiff_magics.gradient.global_state import GlobalState

    saved = []
    original = GlobalState.save_generators
    monkeypatch.setattr(GlobalState, "save_generators", lambda self: (saved.append(1), original(self))[1])
    torch.manual_seed(3)
    before = torch.get_rng_state()
    r = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    assert r.agree and saved == [] and torch.equal(torch.get_rng_state(), before)
    ip.user_ns["w"] = torch.ones(3, dtype=torch.float64)
    r = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", "(w * x).sum()")  # reaches a namespace tensor: guarded
    assert r.agree and saved == [1] and torch.equal(torch.get_rng_state(), before)
    r = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", "(x * torch.rand(3)).sum()")  # draws: guarded, common draws
    assert saved == [1, 1] and torch.equal(torch.get_rng_state(), before)
    assert any("f draws random numbers (line 1: rand)" in e for e in r.explanations), r.explanations


def test_a_remembered_pure_replay_runs_no_recorder(ip, monkeypatch):
    from autodiff_magics import symbolic

    first = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    monkeypatch.setattr(symbolic, "record_operators", lambda *a, **k: pytest.fail("recorded again"))
    second = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    assert second.methods["symbolic"].status == "ok"
    assert second.methods["symbolic"].gradient["x"].tolist() == [9.0, -8.0, 138.0]
    assert _text(first) == _text(second)
    assert len(memo._pure) == 1
    assert not memo.knows_pure(memo.pure_key(ip.transform_cell(F2), {"x": torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)}))  # another point


def test_a_remembered_replay_whose_graph_changed_is_not_used(ip):
    ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    key = memo.pure_key(ip.transform_cell(F2), {"x": torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)})  # the cell as IPython hands it over
    assert memo.knows_pure(key) and len(memo._pure) == 1
    result, kinds, places = memo._pure[key]
    memo._pure[key] = (result, kinds[:-1] + ("SomethingElseBackward0",), places)  # as if the graph differed
    r = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    # the symbolic engine ran the cell itself instead: same exact row, no annotations borrowed
    assert r.methods["symbolic"].status == "ok" and r.methods["symbolic"].gradient["x"].tolist() == [9.0, -8.0, 138.0]
    assert r.agree and not memo.knows_pure(key)  # forgotten: the next run records and remembers again
    ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    assert memo.knows_pure(key)


def test_the_collector_is_paused_for_a_pure_cell_only_and_left_as_it_was(ip, monkeypatch):
    import gc

    from autodiff_magics.gradient.global_state import GlobalState

    seen = []
    original = GlobalState.pause_collector
    monkeypatch.setattr(GlobalState, "pause_collector", lambda self: (original(self), seen.append(gc.isenabled()))[0])
    assert gc.isenabled()
    assert ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2).agree
    assert seen == [False] and gc.isenabled()  # paused during the check, on again after
    ip.user_ns["w"] = torch.ones(3, dtype=torch.float64)
    ip.run_cell_magic("gradient", "x=[1., 2., 3.]", "(w * x).sum()")  # not pure: the collector runs
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
        assert not gc.isenabled()  # the user had it off: still off
    finally:
        gc.enable()
    with pytest.raises(Exception, match="index 5 is out of bounds"):
        ip.run_cell_magic("gradient", "x=[1., 2.]", "x[0] + x[5]")
    assert gc.isenabled()


def _captures(monkeypatch) -> list[int]:
    from autodiff_magics.gradient.methods import autograd

    made = []
    original = autograd._capture
    monkeypatch.setattr(autograd, "_capture", lambda *a, **k: (made.append(1), original(*a, **k))[1])
    return made


def test_a_re_run_takes_the_last_picture_only_when_its_backward_gives_the_same_gradient(ip, monkeypatch):
    import numpy as np

    made = _captures(monkeypatch)
    first = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    second = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    assert made == [1]  # the second run's backward matched: no walk, no hooks
    assert second.graph is not first.graph and second.graph.notes is not first.graph.notes
    assert second.graph.count == 13 and second.graph.node(6).grad["received"][0]["values"] == [9.0, -8.0, 138.0]
    assert _text(first) == _text(second)
    # as if the last picture had been taken with another gradient: the graph is captured again
    (key, (report, grads)), = remembered._memo.items()
    remembered._memo[key] = (report, {"x": np.array([9.0, -8.0, 139.0])})
    third = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    assert made == [1, 1] and third.graph.node(6).grad["received"][0]["values"] == [9.0, -8.0, 138.0]
    assert not remembered._memo  # forgotten: the next run captures and remembers its own
    assert _text(ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)) == _text(first)
    assert made == [1, 1, 1] and len(remembered._memo) == 1
    ip.run_cell_magic("gradient", "x=[1., 2., 4.]", F2)  # another point: its own picture
    assert made == [1, 1, 1, 1] and len(remembered._memo) == 2
    ip.user_ns["w"] = torch.ones(3, dtype=torch.float64)
    for _ in range(2):
        ip.run_cell_magic("gradient", "x=[1., 2., 3.]", "(w * x).sum()")  # not pure: captured every time
    assert made == [1, 1, 1, 1, 1, 1] and len(remembered._memo) == 2


def test_ctrl_c_during_a_pure_cells_check_leaves_everything_as_it_was(ip, monkeypatch):
    import gc

    from autodiff_magics.differences import coordinates

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(coordinates, "central", interrupted)  # in the middle of the central row
    dtype, grad, modes = torch.get_default_dtype(), torch.is_grad_enabled(), torch._C._len_torch_function_stack()
    state = torch.get_rng_state()
    result = ip.run_cell("%%gradient x=[1., 2., 3.]\n" + F2)
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert gc.isenabled() and torch.get_default_dtype() == dtype and torch.is_grad_enabled() == grad
    assert torch._C._len_torch_function_stack() == modes and torch.equal(torch.get_rng_state(), state)


def test_a_pure_cells_runs_copy_only_the_names_it_reads():
    from autodiff_magics.gradient.check import gradient

    seen = []
    original = CellFunction.__call__

    def spy(self, variables):
        seen.append(set(self._globals))
        return original(self, variables)

    namespace = {"torch": torch, **{f"big{i}": i for i in range(500)}}
    import unittest.mock

    with unittest.mock.patch.object(CellFunction, "__call__", spy):
        r = gradient("torch.sin(x).sum() + sin(x[0])", x=[1.0, 2.0], namespace=namespace)
    assert r.agree and seen and all(names == {"torch", "sin"} for names in seen)
