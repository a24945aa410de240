"""%alias_check and %%alias_check: exact relations from layouts, the lesson's copies, cell changes."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest
import torch

import autodiff_magics as adm
from autodiff_magics import aliasing as A
from autodiff_magics.aliasing import AliasCellReport, AliasReport, Region, alias_check, relate, watch
from autodiff_magics.errors import InputError
from autodiff_magics.report import WIDGET_MIME

from .conftest import run


def rel(a, b) -> A.AliasPair:
    return alias_check(a, b, names=["a", "b"]).pairs[0]


# -- the lesson's copies and the done-when cases ----------------------------------------------------


def test_lesson_copies():
    x = torch.rand(2, 3)
    z = np.random.random((3, 4))
    assert rel(x, x.numpy()).relation == "same_memory"
    assert rel(x, x.clone().numpy()).relation == "independent"
    assert rel(z, torch.from_numpy(z)).relation == "same_memory"
    assert rel(z, torch.tensor(z)).relation == "independent"
    shared = rel(x, x.numpy())
    assert shared.shares_memory and shared.overlap_bytes == 24
    assert "writing to either changes the other" in shared.meaning
    assert "x.clone().numpy() copy" not in shared.advice  # names are the caller's: a and b here
    assert "torch.tensor(b)" in shared.advice and "a.clone().numpy()" in shared.advice


@pytest.mark.parametrize(
    "make, relation, overlap",
    [
        (lambda x: (x, x.cpu()), "same_memory", 48),
        (lambda x: (x, x.T), "same_memory", 48),
        (lambda x: (x, x.view(3, 4)), "same_memory", 48),
        (lambda x: (x, x.view(torch.int32)), "same_memory", 48),
        (lambda x: (x.reshape(-1)[::2], x.reshape(-1)[1::2]), "disjoint_interleaved", 0),
        (lambda x: (x, np.asarray(x)), "same_memory", 48),
        (lambda x: (x[0], x), "a_in_b", 24),
        (lambda x: (x, x[:, 1]), "b_in_a", 8),
        (lambda x: (x.reshape(-1)[:8], x.reshape(-1)[6:]), "partial_overlap", 8),
        (lambda x: (x[0], x[1]), "disjoint_separate", 0),
        (lambda x: (x[:, 0], x[:, 1]), "disjoint_interleaved", 0),
        (lambda x: (x, x.clone()), "independent", 0),
    ],
)
def test_views(make, relation, overlap):
    x = torch.arange(12.0).reshape(2, 6)
    p = rel(*make(x))
    assert (p.relation, p.overlap_bytes) == (relation, overlap)
    assert p.shares_memory == (overlap > 0)


def test_as_tensor_shares_unless_it_must_convert():
    z = np.zeros(5)
    assert rel(z, torch.as_tensor(z)).relation == "same_memory"
    assert rel(z, torch.as_tensor(z, dtype=torch.float32)).relation == "independent"
    assert rel(z[1:4], torch.from_numpy(z)).relation == "a_in_b"


def test_exact_at_large_sizes_without_reading_data():
    x = torch.empty(10**7)  # never initialised: only the layout is used
    assert rel(x[::2], x[1::2]).relation == "disjoint_interleaved"
    inside = rel(x[::4], x[::2])
    assert inside.relation == "a_in_b" and inside.overlap_bytes == 10**7 // 4 * 4
    third = rel(x[::3], x[1::2])  # elements 3i = 2j + 1: every other multiple of 3
    assert third.relation == "partial_overlap" and third.overlap_bytes == 4 * len(range(3, 10**7, 6))
    assert rel(x[::3], x[2::6]).relation == "disjoint_interleaved"
    m = x.view(1000, 10_000)
    assert rel(m[::2, ::3], m[1::2, 1::3]).relation == "disjoint_interleaved"
    cols = rel(m[:, :5000], m[:, 4000:])
    assert cols.relation == "partial_overlap" and cols.overlap_bytes == 1000 * 1000 * 4


def bytes_of(a: np.ndarray) -> set[int]:
    base = a.__array_interface__["data"][0]
    out: set[int] = set()
    for idx in itertools.product(*(range(n) for n in a.shape)):
        off = base + sum(i * s for i, s in zip(idx, a.strides))
        out.update(range(off, off + a.itemsize))
    return out


def random_view(buf: np.ndarray, rng: random.Random) -> np.ndarray:
    arr = buf.view(rng.choice([np.uint8, np.int16, np.float32, np.float64]))
    if rng.random() < 0.5:
        start, step, length = rng.randrange(0, 60), rng.choice([1, 2, 3, 4, 5, 8, -1, -3]), rng.randrange(1, 30)
        stop = start + step * length
        return arr[start + 200 : stop + 200 : step] if step < 0 else arr[start:stop:step]
    shape = [rng.randrange(1, 6) for _ in range(rng.choice([2, 3]))]
    m = arr[rng.randrange(0, 40) :][: int(np.prod(shape)) * 2].reshape(shape[:-1] + [shape[-1] * 2])
    v = m[tuple(slice(rng.randrange(0, 2), None, rng.choice([1, 2, -1])) for _ in shape)]
    return v.T if rng.random() < 0.3 else v


@pytest.mark.parametrize("runs", [A.RUN_BUDGET, 0])
def test_relations_match_brute_force(monkeypatch, runs):
    """Random strided views of one buffer against their actual byte sets; with runs=0 the
    per-run enumeration is off, so the formulas and NumPy's solver are exercised."""
    monkeypatch.setattr(A.counting, "RUN_BUDGET", runs)
    rng = random.Random(4)
    buf = np.zeros(2000, dtype=np.uint8)
    seen = set()
    for _ in range(400):
        a, b = random_view(buf, rng), random_view(buf, rng)
        if a.size == 0 or b.size == 0:
            continue
        p = rel(a, b)
        sa, sb = bytes_of(a), bytes_of(b)
        shared = len(sa & sb)
        seen.add(p.relation)
        if p.overlap_bytes is not None:
            assert p.overlap_bytes == shared, (a.shape, a.strides, b.shape, b.strides)
        assert p.shares_memory == (shared > 0)
        expect = {
            "same_memory": sa == sb,
            "a_in_b": sa < sb,
            "b_in_a": sb < sa,
            "partial_overlap": shared and not (sa <= sb or sb <= sa),
            "overlap": shared > 0,
            "disjoint_interleaved": shared == 0,
            "disjoint_separate": shared == 0 and (max(sa) < min(sb) or max(sb) < min(sa)),
        }[p.relation]
        assert expect, (p.relation, a.shape, a.strides, b.shape, b.strides)
    assert {"partial_overlap", "disjoint_interleaved", "disjoint_separate", "a_in_b"} <= seen


def test_numpy_solver_and_may_share(monkeypatch):
    x = np.zeros((40, 40, 40), dtype=np.float32)
    a, b = x[::3, ::5, ::7], x[1::4, ::6, 2::9]
    monkeypatch.setattr(A.counting, "RUN_BUDGET", 0)
    p = rel(a, b)
    assert p.relation == ("overlap" if np.shares_memory(a, b) else "disjoint_interleaved")
    monkeypatch.setattr(A.counting, "SOLVER_WORK", 1)
    hard = rel(a, b)
    assert hard.relation == "may_share" and hard.shares_memory is True and hard.overlap_bytes is None
    assert "could not be decided within 1 steps" in hard.meaning


def test_devices_compared_by_address_and_never_with_numpy():
    def region(name, device, address, type_="torch.Tensor"):
        return Region(name=name, type=type_, device=device, shape=(4,), strides=(4,), itemsize=4, dtype="float32",
                      address=address, alloc=(address, address + 16), owner="a torch storage", numel=4)

    gpu = region("g", "cuda:0", 0x7F0000000000)
    same = relate(gpu, region("h", "cuda:0", 0x7F0000000000))
    assert same.relation == "same_memory"
    other = relate(gpu, region("k", "cuda:1", 0x7F0000000000))
    assert other.relation == "independent" and "different devices never overlap" in other.meaning
    host = relate(gpu, region("z", "cpu", 0x7F0000000000, "numpy.ndarray"))
    assert host.relation == "independent" and "never shares memory with a NumPy array" in host.meaning


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, message",
    [
        (3, "is a int: numbers are values"),
        ([1, 2], "is a Python list: it holds references"),
        ({"a": 1}, "is a dict: %alias_check compares torch tensors and NumPy arrays"),
        (torch.sparse_coo_tensor([[0]], [1.0], (2,)), "sparse coo tensor"),
        (torch.empty(3, device="meta"), "meta tensor"),
    ],
)
def test_bad_objects(obj, message):
    with pytest.raises(InputError, match=message):
        alias_check(torch.zeros(2), obj, names=["x", "bad"])


def test_freed_storage_is_refused_without_touching_it():
    t = torch.randn(4)
    t.untyped_storage().resize_(0)
    with pytest.raises(InputError, match="holds 0 bytes but t needs 16: it was resized or freed"):
        alias_check(t, torch.zeros(1), names=["t", "u"])
    assert t.untyped_storage().nbytes() == 0 and t.shape == (4,)


def test_one_object_is_not_enough():
    with pytest.raises(InputError, match="two or more"):
        alias_check(torch.zeros(2))


# -- report and views -----------------------------------------------------------------------------


def test_report_contract_and_views():
    x = torch.arange(6.0)
    r = alias_check(x, x[::2], x[1::2], x.clone(), names=["x", "e", "o", "c"])
    d = json.loads(json.dumps(r.to_dict()))
    assert len(d["pairs"]) == 6
    assert {"a", "b", "shares_memory", "relation", "overlap_bytes"} <= set(d["pairs"][0])
    assert r.pair("e", "o").relation == "disjoint_interleaved" and r.pair("o", "x").relation == "a_in_b"
    text = r.to_text()
    assert text.splitlines()[0] == "memory of x, e, o, c"
    assert "x  e  SHARED" in text and "e  o  separate" in text and "x  c  independent" in text
    html = r.to_html()
    assert html.count('class="mk"') == 6 and "● shared" in html and "○ independent" in html


def test_reports_hold_no_tensor(ip):
    import gc
    import weakref

    ip.run_cell("import torch\nx = torch.ones(100)\ny = x.numpy()")
    ref = weakref.ref(ip.user_ns["x"])
    line = ip.run_line_magic("alias_check", "x y")
    cell = ip.run_cell_magic("alias_check", "", "x.add_(1)")
    line.to_widget(), cell.to_widget()
    del ip.user_ns["x"], ip.user_ns["y"]
    gc.collect()
    assert ref() is None and line.pair("x", "y").relation == "same_memory" and cell.silent


def test_html_escapes_names():
    x = torch.zeros(3)
    html = alias_check(x, x, names=["<script>x</script>", "y"]).to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_widget_dropdown_shows_each_pair():
    x = torch.arange(6.0)
    r = alias_check(x, x.clone(), x[2:], names=["x", "c", "t"])
    box = r.to_widget()
    top, pick, detail = box.children[:3]
    assert "adm-mx" in top.value and pick.options[0][0] == "x ↔ t: shared"  # sharing pairs first
    assert "view inside" in detail.value
    pick.value = 2
    assert "independent" in detail.value and "c" in detail.value


# -- the cell form --------------------------------------------------------------------------------


def test_lesson_cell_names_y_changed_through_x(ip):
    ip.run_cell("import torch\nx = torch.rand(2, 3)\ny = x.numpy()\nbefore = y.copy()")
    r = ip.run_cell_magic("alias_check", "", "x.mul_(2)\n")
    assert isinstance(r, AliasCellReport)
    assert [d["name"] for d in r.silent] == ["y"] and r.silent[0]["through"] == ["x"]
    assert [d["name"] for d in r.changed] == ["x"]
    assert np.allclose(ip.user_ns["y"], 2 * ip.user_ns["before"])  # the cell really ran
    assert r.to_text().startswith("1 variable changed silently (the cell never wrote to it by name):\n  ! y changed")


def test_lesson_cell_with_its_prints(ip):
    """The lesson's own cell reads y (print) after x.mul_(2): y is still a silent change."""
    ip.run_cell("import torch\nx = torch.rand(2, 3)\ny = x.numpy()")
    result, captured = run(ip, "%%alias_check\nx.mul_(2)\nprint(x, '\\n')\nprint(y)  # y también cambia\n")
    r = result.result
    assert [d["name"] for d in r.silent] == ["y"] and r.silent[0]["through"] == ["x"]
    assert "tensor([[" in captured.stdout and "y changed: its contents changed — through x (the same memory)" in captured.stdout


@pytest.mark.parametrize(
    "source, written, rebound, passed",
    [
        ("x[0] = 1", {"x"}, set(), set()),
        ("x += 1", {"x"}, {"x"}, set()),
        ("x.data[1:] = 0", {"x"}, set(), set()),
        ("x[:, 0].mul_(2)", {"x"}, set(), set()),
        ("a.sort()\nb.sum()", {"a"}, set(), set()),
        ("torch.nn.init.normal_(w)", {"w"}, set(), {"w"}),
        ("np.copyto(a, b)", {"a"}, set(), {"a", "b"}),
        ("torch.add(p, q, out=r)", {"r"}, set(), {"p", "q", "r"}),
        ("print(y)\nz = torch.tensor(y)", set(), {"z"}, {"y"}),
        ("del k", set(), {"k"}, set()),
        ("x.copy_(y)", {"x"}, set(), {"y"}),
        ("import torch.nn.init as I\nI.zeros_(v)", {"v"}, set(), {"v"}),
    ],
)
def test_what_a_cell_writes(source, written, rebound, passed):
    assert A._cell_names(source) == (written, rebound, passed)


def test_from_numpy_in_the_other_direction(ip):
    ip.run_cell("import numpy as np, torch\nz = np.random.random((3, 4))\nzt = torch.from_numpy(z)\nsafe = torch.tensor(z)")
    r = ip.run_cell_magic("alias_check", "", "zt.sub_(1)")
    assert [d["name"] for d in r.silent] == ["z"] and r.silent[0]["through"] == ["zt"]
    assert "safe" in r.unchanged


def test_rebinding_is_not_a_silent_change(ip):
    ip.run_cell("import torch\nx = torch.ones(3)\ny = x.numpy()")
    r = ip.run_cell_magic("alias_check", "", "y = y * 2\nw = x[:2]")
    assert r.silent == [] and r.rebound == ["y"]
    assert {"name": "w", "with": ["x"]} in r.new_sharing
    assert "x" in r.unchanged


def test_views_only_change_through_their_own_elements(ip):
    ip.run_cell("import torch\nx = torch.zeros(10)\nev = x[::2]\nod = x[1::2]")
    r = ip.run_cell_magic("alias_check", "", "x[1::2] += 1")
    assert [d["name"] for d in r.silent] == ["od"] and r.silent[0]["through"] == ["x"]
    assert "ev" in r.unchanged


def test_budget_and_version_counter(ip):
    ip.run_cell("import torch, numpy as np\nbig = torch.zeros(1000)\nview = big[:10]\narr = np.zeros(1000)\nalias = arr[:5]")
    r = ip.run_cell_magic("alias_check", "--budget 100", "big.add_(1)\narr += 1")
    assert [d["name"] for d in r.too_large] == ["arr"] and r.budget == 100
    changed = {d["name"]: d["how"] for d in r.changed}
    assert "version counter moved from 0 to 1" in changed["big"]
    silent = {d["name"] for d in r.silent}
    assert silent == {"view", "alias"}  # view by its version counter, alias by content (40 bytes)
    assert "raise it with --budget" in r.to_text()


def test_budget_setting_through_config(ip):
    ip.run_cell("import torch\nbig = torch.zeros(100)\nsmall = torch.zeros(2)")
    magics = ip.magics_manager.registry["AutodiffMagics"]
    before = magics.fingerprint_budget
    ip.run_line_magic("config", "AutodiffMagics.fingerprint_budget = 16")
    try:
        r = ip.run_cell_magic("alias_check", "", "pass")
    finally:
        magics.fingerprint_budget = before
    assert r.budget == 16 and [d["name"] for d in r.too_large] == ["big"] and r.unchanged == ["small"]


def test_cell_error_shows_one_traceback_and_still_reports(ip):
    ip.run_cell("import torch\nx = torch.ones(2)\ny = x.numpy()")
    result, captured = run(ip, "%%alias_check\nx.add_(1)\n1/0\n")
    out = captured.stdout + captured.stderr
    assert out.count("Traceback") + out.count("ZeroDivisionError") >= 1
    assert out.count("ZeroDivisionError:") == 1  # shown once, not twice as a nested run_cell would
    assert "magics.py" not in out and "line 2" in out  # the user's frame only
    assert "y changed" in out and "the cell raised ZeroDivisionError: division by zero" in out


def test_cell_last_expression_is_displayed(ip):
    ip.run_cell("import torch\nx = torch.ones(2)")
    result, captured = run(ip, "%%alias_check\nx.add_(1)\nx.sum().item()\n")
    assert captured.outputs[0].data["text/plain"] == "4.0"


def test_cell_semicolon_hides_value_and_report(ip):
    ip.run_cell("import torch\nx = torch.ones(2)\ny = x.numpy()")
    result, captured = run(ip, "%%alias_check\nx.add_(1)\nx.sum().item();\n")
    assert captured.outputs == [] and captured.stdout == ""
    assert isinstance(ip.user_ns["_"], AliasCellReport) and ip.user_ns["_"].silent[0]["name"] == "y"


def test_cell_syntax_error_runs_nothing(ip):
    ip.run_cell("import torch\nx = torch.ones(2)")
    result, captured = run(ip, "%%alias_check\nx.add_(1\n")
    assert "SyntaxError" in captured.stdout + captured.stderr
    assert ip.user_ns["x"].tolist() == [1.0, 1.0]


def test_cell_watches_named_variables_only(ip):
    ip.run_cell("import torch\nx = torch.ones(2)\ny = x.numpy()\nq = x[:1]")
    r = ip.run_cell_magic("alias_check", "y", "x.add_(1)")
    assert [d["name"] for d in r.silent] == ["y"] and r.unchanged == [] and r.changed == []
    result, captured = run(ip, "%%alias_check nothere\nx.add_(1)\n")
    assert "no variable named 'nothere'" in captured.stdout + captured.stderr
    assert ip.user_ns["x"].tolist() == [2.0, 2.0]  # refused before running the cell


def test_cell_skips_what_it_cannot_watch(ip):
    ip.run_cell("import torch, numpy as np\ns = torch.sparse_coo_tensor([[0]], [1.0], (2,))\no = np.array([1, 'a'], dtype=object)")
    r = ip.run_cell_magic("alias_check", "", "pass")
    reasons = {d["name"]: d["reason"] for d in r.not_watched}
    assert "sparse coo tensor" in reasons["s"] and "Python objects" in reasons["o"]


def test_fingerprint_sees_one_element_and_only_own_elements():
    x = torch.zeros(100_000)
    fp = A._fingerprint(x[::2])
    x[1] = 1.0
    assert A._fingerprint(x[::2]) == fp
    x[99_998] = 1.0
    assert A._fingerprint(x[::2]) != fp
    z = np.zeros((50, 40))[:, ::3]
    before = A._fingerprint(z)
    z.base[7, 3] = 2.0  # column 3 is in z
    assert A._fingerprint(z) != before


def test_accelerator_fingerprint_runs_anywhere():
    """The weighted-sum fingerprint used on GPUs is plain torch: check it on the CPU."""
    x = torch.zeros(50_000)
    fp = A._device_fingerprint(x[::2], 4096)
    assert A._device_fingerprint(x[::2], 4096) == fp
    x[1] = 5.0
    assert A._device_fingerprint(x[::2], 4096) == fp
    x[40_000] = 5.0
    assert A._device_fingerprint(x[::2], 4096) != fp


def test_watch_api_twin():
    x = torch.ones(3)
    ns = {"x": x, "y": x.numpy()}
    w = watch(ns, budget=1 << 20)
    x.mul_(3)
    r = w.changes(ns, source="x.mul_(3)")
    assert [d["name"] for d in r.silent] == ["y"] and json.dumps(r.to_dict())


# -- the line magic -------------------------------------------------------------------------------


def test_line_magic(ip):
    ip.run_cell("import torch\nx = torch.rand(2, 3)\ny = x.numpy()")
    r = ip.run_line_magic("alias_check", "x y x.clone().numpy()")
    assert isinstance(r, AliasReport) and r.pair("x", "y").relation == "same_memory"
    assert r.pair("x", "x.clone().numpy()").relation == "independent"
    data, _ = ip.display_formatter.format(r)
    assert "SHARED" in data["text/plain"] and "adm-mx" in data["text/html"] and WIDGET_MIME in data


@pytest.mark.parametrize(
    "line, message",
    [
        ("x", "%alias_check compares two or more tensors or arrays: give at least two"),
        ("", "give at least two"),
        ("x nope", "could not evaluate 'nope': NameError"),
        ("x 1/0", "could not evaluate '1/0': ZeroDivisionError"),
        ("x 3", "3 is a int: numbers are values"),
        ("x s", "s is a sparse coo tensor"),
        ("--budget 10 x x", "--budget applies to the cell form"),
    ],
)
def test_line_magic_bad_input(ip, line, message):
    ip.run_cell("import torch\nx = torch.ones(2)\ns = torch.sparse_coo_tensor([[0]], [1.0], (2,))")
    result, captured = run(ip, f"%alias_check {line}")
    out = captured.stdout + captured.stderr
    assert message in out and "Traceback" not in out
    assert ip.user_ns["x"].tolist() == [1.0, 1.0]


def test_line_magic_semicolon(ip):
    ip.run_cell("import torch\nx = torch.ones(2)")
    result, captured = run(ip, "%alias_check x x[1:];")
    assert result.success and captured.stdout == "" and captured.outputs == []


def test_api_twin_is_registered():
    assert adm.alias_check is alias_check
