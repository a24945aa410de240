"""%tensorinfo: shapes in words, layout, autograd, exact statistics in chunks, every dtype, views."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import autodiff_magics as adm
from autodiff_magics import tensors as T
from autodiff_magics.errors import InputError
from autodiff_magics.report import WIDGET_MIME
from autodiff_magics.tensors.statistics import finish_std
from autodiff_magics.tensors import TensorReport, TensorsReport, shape_words, tensorinfo

from .conftest import run

#: every test here runs through the compiled kernel and through the passes that stand in for it
pytestmark = pytest.mark.usefixtures("float_path")


def reference(x, ddof: int = 1) -> dict:
    """Statistics the slow, obvious way: float64, boolean indexing; std with n − ddof (torch's
    ``x.std()`` divides by n−1, NumPy's ``a.std()`` by n)."""
    e = torch.as_tensor(x).detach().double().reshape(-1)
    f = e[torch.isfinite(e)]
    return {
        "min": f.min().item(),
        "max": f.max().item(),
        "mean": f.mean().item(),
        "std": f.std(correction=ddof).item(),
        "nan": int(torch.isnan(e).sum()),
        "posinf": int((e == math.inf).sum()),
        "neginf": int((e == -math.inf).sum()),
        "zeros": int((f == 0).sum()),
        "count": f.numel(),
    }


def assert_stats(stats: dict, ref: dict, rel: float = 1e-6) -> None:
    for key in ("nan", "posinf", "neginf", "zeros", "count", "min", "max"):
        assert stats[key] == ref[key], key
    # float32 chunk sums: the mean is exact to about 1e-7 of the values' spread, not of itself
    assert stats["mean"] == pytest.approx(ref["mean"], rel=rel, abs=rel * max(ref["std"], 1e-3))
    if ref["count"] <= 1 and stats.get("std_ddof", 1) == 1:
        assert stats["std"] is None  # n−1 of one value is undefined (torch says nan)
    else:
        assert stats["std"] == pytest.approx(ref["std"], rel=rel, abs=1e-9)


def raw_stats(x, chunk: int) -> dict:
    """The float statistics of a torch tensor straight from the one-pass core, std as x.std()."""
    s = T._float_stats(x, chunk)
    finish_std(s, 1, 1)
    return s


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4,096 elements, so small test tensors cross many chunk boundaries (4,093 for
    the kernel: its chunks then start at every alignment of its vectors)."""
    monkeypatch.setattr(T.chunks, "CPU_CHUNK_BYTES", 1 << 14)
    monkeypatch.setattr(T.float_fused, "FUSED_CHUNK", 4_093)


# -- shapes in words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, words",
    [
        ((), "scalar (a single number)"),
        ((3,), "vector of 3"),
        ((2, 3), "matrix of 2 rows × 3 columns"),
        ((1, 1), "matrix of 1 row × 1 column"),
        ((3, 4, 5), "3 matrices of 4 rows × 5 columns"),
        ((1, 4, 5), "1 matrix of 4 rows × 5 columns"),
        ((2, 3, 4, 5), "2 groups of 3 matrices of 4 × 5"),
        ((2, 3, 4, 5, 2), "2 batches of 3 groups of 4 matrices of 5 × 2"),
        ((2, 3, 4, 5, 6, 7), "2 × 3 × 4 × 5 grid of matrices of 6 × 7 (120 matrices)"),
        ((1000, 2000), "matrix of 1,000 rows × 2,000 columns"),
        ((0, 3), "matrix of 0 rows × 3 columns (empty: no elements)"),
    ],
)
def test_shape_words(shape, words):
    assert shape_words(shape) == words


def test_lesson_shapes_through_the_api():
    assert tensorinfo(torch.ones(3, 4, 5)).shape_text == "3 matrices of 4 rows × 5 columns"
    assert tensorinfo(torch.ones(2, 3, 4, 5)).shape_text == "2 groups of 3 matrices of 4 × 5"
    assert tensorinfo(torch.tensor(-5.3)).shape_text == "scalar (a single number)"
    assert adm.tensorinfo is tensorinfo


# -- statistics -----------------------------------------------------------------------------------


def test_stats_match_float64_reference_across_chunks(small_chunks):
    torch.manual_seed(0)
    x = torch.randn(50_001)
    x[::7] = 0.0
    x[3::11] = -0.0
    x[5::13] = math.nan
    x[6::17] = math.inf
    x[8::19] = -math.inf
    r = tensorinfo(x)
    assert_stats(r.stats, reference(x))
    assert r.stats["over"] == f"the {reference(x)['count']:,} finite values of 50,001"


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(300, 200).T,  # transposed: dense in another order
        lambda: torch.randn(100, 100)[::3, 1::2],  # strided in both dims
        lambda: torch.randn(6, 1, 7).expand(6, 500, 7),  # broadcast: stride 0
        lambda: torch.randn(40, 30, 20).permute(2, 0, 1)[:, ::2],
        lambda: torch.randn(20_000, dtype=torch.float64),
        lambda: torch.rand(20_000),  # all positive: the zero count is skipped
        lambda: torch.relu(torch.randn(20_000)),  # half zeros
    ],
)
def test_stats_on_layouts(small_chunks, make):
    x = make()
    assert_stats(tensorinfo(x).stats, reference(x))


def test_random_mixtures_of_special_values():
    """Chunks of every size with NaN, ±inf, ±0 sprinkled in, in float32 and float64."""
    rng = torch.Generator().manual_seed(7)
    for trial in range(120):
        n = [1, 5, 100, 5000][trial % 4]
        base = [torch.randn(n, generator=rng), torch.rand(n, generator=rng) + 0.5, -torch.rand(n, generator=rng) - 0.5,
                torch.zeros(n), 1000 + torch.randn(n, generator=rng) / 1000][trial % 5]
        x = base.double() if trial % 7 == 0 else base
        for k, special in enumerate([math.nan, math.inf, -math.inf, 0.0, -0.0]):
            if (trial >> k) & 1:
                x[torch.randint(0, n, (max(1, n // 10),), generator=rng)] = special
        if not torch.isfinite(x).any():
            continue
        chunk = [64, 1000, 1 << 20][trial % 3]
        assert_stats(raw_stats(x, chunk), reference(x), rel=1e-5)


def test_mean_much_larger_than_spread_keeps_its_digits(small_chunks):
    torch.manual_seed(1)
    x = 1000 + torch.randn(100_000) / 1000  # one-pass sum of squares would lose every digit
    ref = reference(x)
    s = tensorinfo(x).stats
    assert s["std"] == pytest.approx(ref["std"], rel=1e-6)
    assert s["mean"] == pytest.approx(ref["mean"], rel=1e-12)


def test_all_nan_and_empty_and_scalar():
    s = tensorinfo(torch.full((10,), math.nan)).stats
    assert (s["nan"], s["count"], s["min"], s["mean"]) == (10, 0, None, None)
    e = tensorinfo(torch.empty(0, 3))
    assert e.stats["count"] == 0 and e.stats["min"] is None and e.stats["over"] == "no values (empty)"
    assert e.histogram is None
    z = tensorinfo(torch.tensor(-5.3))
    assert z.item == pytest.approx(-5.3) and z.stats["std"] is None and z.stats["over"] == "the single value"


def test_integer_stats_are_exact():
    big = torch.tensor([2**62, 2**62, -(2**62), 3], dtype=torch.int64)
    s = tensorinfo(big).stats
    assert s["min"] == -(2**62) and s["max"] == 2**62 and isinstance(s["max"], int)
    assert s["mean"] == (2**62 + 3) / 4
    u = tensorinfo(torch.tensor([0, 0, 255, 7], dtype=torch.uint8)).stats
    assert (u["min"], u["max"], u["zeros"], u["mean"]) == (0, 255, 2, 65.5)


def test_bool_and_complex():
    b = tensorinfo(torch.tensor([True, False, True, True]))
    assert (b.stats["min"], b.stats["max"], b.stats["mean"], b.stats["zeros"]) == (False, True, 0.75, 1)
    assert b.histogram["labels"] == ["False", "True"] and b.histogram["counts"] == [1, 3]
    c = tensorinfo(torch.tensor([1 + 2j, 3 - 1j, 0j, complex(math.nan, 1)]))
    s = c.stats
    assert s["min"] is None and s["max"] is None  # complex numbers are not ordered
    assert s["mean"] == pytest.approx(complex(4, 1) / 3)
    assert (s["nan"], s["zeros"], s["count"]) == (1, 1, 3)
    assert json.loads(json.dumps(c.to_dict()))["stats"]["mean"]["real"] == pytest.approx(4 / 3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype, small_chunks):
    x = torch.randn(10_000).to(dtype)
    r = tensorinfo(x)
    assert r.dtype == str(dtype)
    assert_stats(r.stats, reference(x), rel=1e-5)


def test_stats_do_not_touch_the_tensor():
    x = torch.randn(1000, requires_grad=True)
    x.grad = torch.ones(1000)
    before = (x.detach().clone(), x._version, x.grad.clone(), x.requires_grad)
    r = tensorinfo(x)
    assert torch.equal(x.detach(), before[0]) and x._version == before[1]
    assert torch.equal(x.grad, before[2]) and x.requires_grad and x.grad_fn is None
    assert r.requires_grad and r.is_leaf and r.grad is not None and r.grad.stats["mean"] == 1.0


# -- layout, memory, autograd --------------------------------------------------------------------


def test_layout_fields():
    base = torch.arange(24.0).reshape(4, 6)
    v = base[:, 1::2]
    r = tensorinfo(v, names=["v"])
    assert r.shape == [4, 3] and r.numel == 12 and r.nbytes == 48 and r.itemsize == 4
    assert r.strides == [6, 2] and r.strides_bytes == [24, 8]
    assert r.contiguous is False and r.storage_offset == 1 and r.storage_nbytes == 96
    assert r.is_view is True and "(24,)" in r.view_of
    assert any("not contiguous" in n for n in r.notes)
    t = tensorinfo(torch.zeros(3).expand(4, 3))
    assert t.stats["count"] == 12 and t.stats["zeros"] == 12
    assert any("broadcast" in n and "3 distinct" in n for n in t.notes)


def test_reports_hold_no_tensor():
    import gc
    import weakref

    w = torch.randn(1000, requires_grad=True)
    y = (w * 3).sum()
    refs = [weakref.ref(w), weakref.ref(y)]
    reports = [tensorinfo(y, w, names=["y", "w"], namespace={"w": w}), tensorinfo(w.detach().numpy())]
    reports[0].to_widget()  # the widget is kept on the report: it must not pin the tensors either
    del w, y
    gc.collect()
    assert all(r() is None for r in refs) and reports[0][0].graph.count == 3


def test_inference_tensor_has_no_version():
    with torch.inference_mode():
        t = torch.ones(3)
    r = tensorinfo(t)
    assert r.version is None and r.stats["mean"] == 1.0


def test_version_counter_counts_in_place_changes():
    x = torch.zeros(3)
    x.add_(1)
    x.mul_(2)
    assert tensorinfo(x).version == 2


def test_non_leaf_tensor_shows_its_graph():
    w = torch.randn(3, requires_grad=True)
    y = (w * 2).sum()
    r = tensorinfo(y, names=["y"], namespace={"w": w, "y": y})
    assert (r.is_leaf, r.requires_grad, r.grad_fn) == (False, True, "SumBackward0")
    assert r.graph is not None and r.graph.count == 3 and r.graph.leaf_names() == ["w"]
    assert "graph of y" in r.to_text() and "w (leaf)" in r.to_text()
    assert r.to_dict()["graph"]["count"] == 3
    assert y.grad_fn is not None and w.grad is None  # nothing ran backward


def test_parameter_and_grad_summary():
    p = torch.nn.Parameter(torch.ones(2, 2))
    p.grad = torch.full((2, 2), 0.5)
    r = tensorinfo(p, names=["p"])
    assert r.kind == "parameter" and r.type == "torch.nn.parameter.Parameter"
    assert r.grad.kind == "grad" and r.grad.stats["mean"] == 0.5 and r.grad.name == "p.grad"
    assert ".grad set" in r.to_text()


def test_meta_sparse_and_freed():
    m = tensorinfo(torch.empty(3, 4, device="meta"), names=["m"])
    assert m.has_values is False and m.stats is None and "no values to show" in m.notes[0]
    s = torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3.0, 0.0, 5.0], (2, 3))
    r = tensorinfo(s, names=["s"])
    assert r.layout.startswith("sparse COO") and r.stats["count"] == 3 and r.stats["zeros"] == 1
    assert r.stats["over"] == "the 3 stored values" and "implicit zeros" in r.notes[0]
    csr = tensorinfo(s.to_sparse_csr())
    assert csr.stats["max"] == 5.0 and csr.strides is None
    freed = torch.randn(4)
    freed.untyped_storage().resize_(0)
    f = tensorinfo(freed, names=["f"])  # reading its values would crash the process
    assert f.has_values is False and f.stats is None and f.preview is None
    assert "resized or freed" in f.notes[-1]


def test_quantized_and_nested():
    q = torch.quantize_per_tensor(torch.tensor([1.0, 2.0]), 0.1, 0, torch.qint8)
    assert tensorinfo(q).has_values is False
    nt = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    with pytest.raises(InputError, match="nested tensor of 2 components"):
        tensorinfo(nt, names=["nt"])


# -- other kinds of objects -----------------------------------------------------------------------


def test_numpy_arrays():
    a = np.arange(12.0).reshape(3, 4)[::-1, ::2]  # negative strides
    r = tensorinfo(a, names=["a"])
    assert r.kind == "ndarray" and r.dtype == "float64" and r.shape == [3, 2]
    assert r.strides_bytes == [-32, 16] and r.strides == [-4, 2] and r.is_view
    assert_stats(r.stats, reference(torch.from_numpy(a.copy()), ddof=0))
    assert r.heatmap["matrices"][0][0] == [8.0, 10.0]  # orientation kept: first row is a[0]
    u = tensorinfo(np.array([1, 2, 3, 0], dtype=np.uint32))
    assert (u.stats["max"], u.stats["zeros"]) == (3, 1)
    big = tensorinfo(np.array([0, 2**64 - 1, 5], dtype=np.uint64)).stats
    assert big["max"] == 2**64 - 1 and big["min"] == 0 and big["sum"] == 2**64 + 4
    assert big["mean"] == (2**64 + 4) / 3 and big["over"] == "all 3 values"  # exact: no float64 copy
    ld = tensorinfo(np.array([1.5, 2.5], dtype=np.longdouble), names=["ld"])
    assert ld.stats["mean"] == 2.0
    be = tensorinfo(np.arange(6, dtype=">i4"), names=["be"])
    assert be.stats["max"] == 5 and "big-endian" in be.notes[-1]
    o = tensorinfo(np.array([1, "a"], dtype=object), names=["o"])
    assert o.has_values is False and "Python objects" in o.notes[0]
    y = tensorinfo(torch.ones(2).numpy())
    assert "torch tensor" in y.view_of


def test_numbers_lists_and_sympy():
    n = tensorinfo(3.5, names=["3.5"])
    assert (n.kind, n.dtype, n.shape_text, n.item) == ("number", "Python float", "scalar (a single number)", 3.5)
    big = tensorinfo(10**30)
    assert big.has_values is False and "too large for 64 bits" in big.notes[0]
    lst = tensorinfo([[1, 2, 3], [4, 5, 6]], names=["lst"])
    assert lst.kind == "list" and lst.shape_text == "matrix of 2 rows × 3 columns" and lst.stats["mean"] == 3.5
    assert "not a tensor" in lst.notes[0]
    size = tensorinfo(torch.ones(2, 3).size(), names=["s"])
    assert size.stats["max"] == 3 and "torch.Size" in size.notes[0]
    with pytest.raises(InputError, match="ragged"):
        tensorinfo([[1, 2], [3]], names=["r"])
    with pytest.raises(InputError, match="str values, not numbers"):
        tensorinfo(["a", "b"], names=["w"])
    sympy = pytest.importorskip("sympy")
    m = tensorinfo(sympy.Matrix([[1, 2], [3, sympy.Rational(1, 2)]]), names=["M"])
    assert m.kind == "sympy" and m.stats["min"] == 0.5
    sym = tensorinfo(sympy.Matrix([[sympy.Symbol("a"), 1]]), names=["S"])
    assert sym.has_values is False and "symbols (a)" in sym.notes[-1]


def test_other_types_get_one_sentence():
    with pytest.raises(InputError, match=r"^d is a dict: %tensorinfo takes torch tensors"):
        tensorinfo({"a": 1}, names=["d"])
    with pytest.raises(InputError, match="NoneType|None"):
        tensorinfo(None, names=["n"])


def test_bound_method_reports_its_tensor():
    a = torch.ones(2, 3)
    r = tensorinfo(a.size, names=["a.size"])
    assert r.name == "a" and r.shape == [2, 3]
    assert "a.size() gives torch.Size([2, 3])" in r.notes[0]
    s = tensorinfo(np.ones(4).sum, names=["z.sum"])
    assert s.name == "z" and "z.sum()" in s.notes[0]


# -- pictures -------------------------------------------------------------------------------------


def test_histogram_exact_for_small_and_sampled_for_large(monkeypatch):
    x = torch.arange(100.0)
    h = tensorinfo(x).histogram
    assert sum(h["counts"]) == 100 and not h["sampled"] and h["edges"][0] == 0 and h["edges"][-1] == 99
    monkeypatch.setattr(T.pictures, "HIST_SAMPLE", 1000)
    big = tensorinfo(torch.randn(100, 1000)).histogram
    assert big["sampled"] and big["sample_size"] <= 1000 and sum(big["counts"]) == big["sample_size"]
    ints = tensorinfo(torch.tensor([0, 1, 1, 2, 2, 2])).histogram
    assert ints["labels"] == ["0", "1", "2"] and ints["counts"] == [1, 2, 3]


def test_heatmap_where_it_helps():
    m = tensorinfo(torch.arange(10_000.0).reshape(100, 100)).heatmap
    assert len(m["matrices"]) == 1 and len(m["matrices"][0]) <= 24 and m["row_step"] == 5
    assert m["matrices"][0][0][0] == 0.0
    three = tensorinfo(torch.randn(7, 5, 6)).heatmap
    assert len(three["matrices"]) == 4 and (three["first"], three["of"]) == (4, 7)
    assert tensorinfo(torch.randn(1, 50)).heatmap is None  # a single row
    assert tensorinfo(torch.ones(5, 5)).heatmap is None  # constant
    nan = torch.randn(4, 4)
    nan[0, 0] = math.nan
    assert tensorinfo(nan).heatmap["matrices"][0][0][0] is None


# -- the report as data and as views ---------------------------------------------------------------


CONTRACT = {
    "kind", "shape", "shape_text", "ndim", "numel", "dtype", "device", "nbytes", "strides",
    "contiguous", "requires_grad", "is_leaf", "grad_fn", "stats",
}


def test_to_dict_contract_is_json():
    d = tensorinfo(torch.randn(3, 4), names=["x"]).to_dict()
    assert CONTRACT <= set(d)
    assert set(d["stats"]) >= {"min", "max", "mean", "std", "nan", "posinf", "neginf", "zeros"}
    assert json.loads(json.dumps(d))["shape"] == [3, 4]
    assert tensorinfo(torch.empty(2, device="meta")).to_dict()["stats"] is None


def test_several_objects_side_by_side():
    r = tensorinfo(torch.ones(2), np.zeros(3), 7, names=["a", "b", "c"])
    assert isinstance(r, TensorsReport) and len(r) == 3 and r[1].kind == "ndarray"
    text = r.to_text()
    assert text.splitlines()[0] == "3 objects side by side"
    assert "a" in text.splitlines()[1] and "vector of 3" in text
    assert [i["name"] for i in r.to_dict()["items"]] == ["a", "b", "c"]
    assert r.to_html().count('class="adm-card"') == 3


def test_html_escapes_user_text():
    evil = "<script>alert(1)</script>"
    html = tensorinfo(torch.ones(2, 2), names=[evil]).to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_text_view():
    text = tensorinfo(torch.tensor([1.0, math.nan, 0.0]), names=["x"]).to_text()
    assert text.splitlines()[0] == "x: torch.Tensor (tensor)"
    assert "values     min 0 · max 1 · mean 0.5 · std (n−1, as x.std()) 0.707107   (over the 2 finite values of 3)" in text
    assert "special    NaN 1 · +inf 0 · -inf 0 · zeros 1" in text


def test_widget_card_builds_sections_when_opened():
    w = torch.randn(3, requires_grad=True)
    y = (w * 2).sum()
    card = tensorinfo(y, names=["y"], namespace={"w": w}).to_widget()
    head, accordion = card.children
    assert "<code>y</code>" in head.value and 'class="adm-hist"' not in head.value  # a scalar: no histogram
    titles = list(accordion.titles)
    assert titles == ["memory details", "values (preview)", "autograd graph of y"]
    placeholders = list(accordion.children)
    assert all(c.value == "" for c in placeholders)  # nothing built yet
    accordion.selected_index = 2
    graph_view = accordion.children[2]
    assert graph_view is not placeholders[2] and accordion.children[0] is placeholders[0]
    assert type(graph_view) is type(adm.grad_graph(y, names={"w": w}).to_widget())
    accordion.selected_index = 1
    assert "tensor(" in accordion.children[1].value


def test_widget_side_by_side():
    box = tensorinfo(torch.ones(2), torch.zeros(3, 3)).to_widget()
    assert box.__class__.__name__ == "HBox" and len(box.children) == 2
    assert 'class="adm-hm"' not in box.children[1].children[0].value  # constant: no map
    r = tensorinfo(torch.randn(5, 5))
    assert 'class="adm-hm"' in r.to_widget().children[0].value and 'class="adm-hist"' in r.to_html()


# -- the magic ------------------------------------------------------------------------------------


def test_magic_returns_report(ip):
    ip.run_cell("import torch\na = torch.ones(3, 4, 5)")
    r = ip.run_line_magic("tensorinfo", "a")
    assert isinstance(r, TensorReport) and r.name == "a" and r.shape_text == "3 matrices of 4 rows × 5 columns"
    r2 = ip.run_line_magic("tensorinfo", "a a[0] (a * 2)")
    assert isinstance(r2, TensorsReport) and [i.name for i in r2.items] == ["a", "a[0]", "(a * 2)"]
    one = ip.run_line_magic("tensorinfo", "a + 1")  # spaces inside one expression
    assert one.name == "a + 1" and one.stats["min"] == 2.0


def test_magic_semicolon_hides_and_assignment_keeps(ip):
    ip.run_cell("import torch\nx = torch.ones(2, 3)")
    result, captured = run(ip, "%tensorinfo x;")
    assert result.success and result.result is None and captured.stdout == "" and captured.outputs == []
    assert isinstance(ip.user_ns["_"], TensorReport) and ip.user_ns["_"].name == "x"  # hidden, still kept
    result, captured = run(ip, "%tensorinfo nope;")  # hiding does not hide mistakes
    assert "could not evaluate 'nope'" in captured.stdout + captured.stderr
    result, captured = run(ip, "r = %tensorinfo x")
    assert captured.stdout == "" and ip.user_ns["r"].shape == [2, 3]


def test_magic_size_slip(ip):
    ip.run_cell("import torch\na = torch.tensor(-5.3)")
    result, captured = run(ip, "%tensorinfo a.size")
    assert result.success and "a.size() gives torch.Size([])" in captured.stdout
    assert "Traceback" not in captured.stdout + captured.stderr


@pytest.mark.parametrize(
    "line, message",
    [
        ("nope", "could not evaluate 'nope': NameError"),
        ("1/0", "could not evaluate '1/0': ZeroDivisionError"),
        ("{'a': 1}", "is a dict: %tensorinfo takes torch tensors"),
        ("", "the following arguments are required"),
    ],
)
def test_magic_bad_input_is_one_sentence(ip, line, message):
    result, captured = run(ip, f"%tensorinfo {line}")
    out = captured.stdout + captured.stderr
    assert message in out
    assert "Traceback" not in out and "UsageError" in out


def test_magic_result_has_all_three_views(ip):
    ip.run_cell("import torch\nx = torch.randn(4, 4)")
    r = ip.run_line_magic("tensorinfo", "x")
    data, _ = ip.display_formatter.format(r)
    assert data["text/plain"].startswith("x: torch.Tensor") and "VBox" not in data["text/plain"]
    assert "adm-card" in data["text/html"] and WIDGET_MIME in data


def test_magic_help_documents_it(ip):
    doc = ip.find_line_magic("tensorinfo").__doc__
    assert "plain words" in doc and "EXPR" in doc and "separate several with spaces" in doc


def test_loading_the_extension_imports_nothing_heavy():
    code = textwrap.dedent(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "autodiff_magics")
        ip.run_cell("%tensorinfo?")
        ip.run_cell("%alias_check?")
        print(sorted(m for m in ("torch", "sympy", "ipywidgets") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"  # after printing both magics' help
    assert "plain words" in out and "share memory" in out


def test_device_chunks_are_larger():
    assert T._chunk_elements(torch.empty(1, device="meta")) == T.DEVICE_CHUNK
    assert T._chunk_elements(torch.empty(1)) == T.CPU_CHUNK_BYTES // 4


def test_advice_for_an_expression_calls_its_method_on_the_whole_expression(ip):
    ip.run_cell("import torch, numpy as np\nw = torch.ones(3, requires_grad=True)\nz = np.zeros(4)")
    r = ip.run_line_magic("tensorinfo", "w*2")
    assert any("call (w*2).retain_grad()" in n for n in r.notes)
    r = ip.run_line_magic("tensorinfo", "w[1:]*2")
    assert any("call (w[1:]*2).retain_grad()" in n for n in r.notes)
    pair = ip.run_line_magic("alias_check", "z z[1:]").pairs[0]
    assert "z[1:].copy()" in pair.advice
