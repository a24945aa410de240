"""%tensorinfo values as their own library computes them: std convention, masked arrays, exact
integer sums and means, memory formats, and the one-pass float path on sprinkled NaN/±inf."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from autodiff_magics import tensors as T
from autodiff_magics.tensors import tensorinfo

#: every test here runs through the compiled kernel and through the passes that stand in for it
pytestmark = pytest.mark.usefixtures("float_path")


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4,096 elements, so small test tensors cross many chunk boundaries (4,093 for
    the kernel: its chunks then start at every alignment of its vectors)."""
    monkeypatch.setattr(T.chunks, "CPU_CHUNK_BYTES", 1 << 14)
    monkeypatch.setattr(T.float_fused, "FUSED_CHUNK", 4_093)


# -- std as the object's library computes it ------------------------------------------------------


def test_torch_std_is_n_minus_1_like_x_std(ip):
    torch.manual_seed(3)
    ip.user_ns["x"] = x = torch.randn(20) * 20
    r = ip.run_line_magic("tensorinfo", "x")
    assert r.stats["std"] == pytest.approx(x.std().item(), rel=1e-6)
    assert r.stats["std"] != pytest.approx(x.std(correction=0).item(), rel=1e-6)
    assert (r.stats["std_ddof"], r.stats["std_convention"]) == (1, "n−1, as x.std()")
    assert "std (n−1, as x.std())" in r.to_text() and "std (n−1, as x.std())" in r.to_html()
    d = json.loads(json.dumps(r.to_dict()))
    assert d["stats"]["std_ddof"] == 1 and d["stats"]["std_convention"] == "n−1, as x.std()"


def test_numpy_std_is_n_like_arr_std(ip):
    ip.user_ns["arr"] = a = np.random.default_rng(0).normal(size=(7, 3))
    r = ip.run_line_magic("tensorinfo", "arr")
    assert r.stats["std"] == pytest.approx(a.std(), rel=1e-12)
    assert r.stats["std_convention"] == "n, as arr.std()" and "std (n, as arr.std())" in r.to_text()
    lst = tensorinfo([1.0, 2.0, 4.0], names=["v"]).stats
    assert lst["std"] == pytest.approx(np.std([1.0, 2.0, 4.0])) and lst["std_convention"] == "n, as np.std(v)"


def test_std_conventions_for_broadcast_bool_int_and_one_value():
    b = torch.tensor([1.0, 3.0]).expand(5, 2)  # stride 0: 10 elements, 2 stored
    assert tensorinfo(b).stats["std"] == pytest.approx(b.contiguous().std().item())
    flags = torch.tensor([True, False, True, True])
    assert tensorinfo(flags).stats["std"] == pytest.approx(flags.double().std().item())
    ints = torch.tensor([1, 5, 9, 2])
    assert tensorinfo(ints).stats["std"] == pytest.approx(ints.double().std().item())
    one = tensorinfo(torch.tensor([4.0, math.nan]), names=["y"])
    assert one.stats["std"] is None and "undefined for one value" in one.to_text()
    c = torch.tensor([1 + 1j, 2 - 1j, 0j])
    assert tensorinfo(c).stats["std"] == pytest.approx(c.std().item())


# -- masked arrays --------------------------------------------------------------------------------


def test_masked_array_counts_unmasked_values_only(ip):
    ip.user_ns["m"] = np.ma.masked_array([1.0, 2.0, 1000.0, -5.0], mask=[0, 0, 1, 0])
    r = ip.run_line_magic("tensorinfo", "m")
    s = r.stats
    assert (s["max"], s["min"], s["count"], s["masked"]) == (2.0, -5.0, 3, 1)
    assert s["mean"] == pytest.approx(-2 / 3) and s["std"] == pytest.approx(np.ma.masked_array([1.0, 2.0, 1000.0, -5.0], mask=[0, 0, 1, 0]).std())
    assert s["over"] == "the 3 unmasked values of 4"
    assert "--" in r.preview and "1000" not in r.preview and "inf" not in r.preview
    assert sum(r.histogram["counts"]) == 3
    text = r.to_text()
    assert "masked     1 of 4 elements" in text and "max 2 " in text


def test_masked_matrix_heatmap_and_all_masked():
    data = np.arange(12.0).reshape(3, 4)
    m = np.ma.masked_array(data, mask=data % 5 == 0)[::-1]  # a view with a negative stride
    r = tensorinfo(m, names=["m"])
    assert r.stats["masked"] == 3 and r.stats["count"] == 9
    assert r.stats["mean"] == pytest.approx(np.ma.compressed(m).mean())
    assert r.heatmap["matrices"][0][0] == [8.0, 9.0, None, 11.0]  # masked cells are not drawn
    none = tensorinfo(np.ma.masked_array([1.0, 2.0], mask=[1, 1]), names=["z"]).stats
    assert none["count"] == 0 and none["mean"] is None and none["over"] == "no values: all 2 are masked"
    plain = tensorinfo(np.ma.masked_array([1, 2, 3]), names=["p"]).stats
    assert plain["masked"] is None and plain["mean"] == 2.0


# -- exact integers -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda v: torch.tensor(v), lambda v: np.array(v)])
def test_int64_limits_mean_is_exact(make):
    s = tensorinfo(make([2**63 - 1, -(2**63), 0, 5])).stats
    assert (s["sum"], s["mean"], s["min"], s["max"]) == (4, 1.0, -(2**63), 2**63 - 1)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64, torch.uint16, torch.uint32, torch.uint64])
def test_every_integer_dtype_sums_exactly_across_chunks(small_chunks, dtype):
    info = torch.iinfo(dtype)
    rng = random.Random(5)
    py = [rng.randint(info.min, info.max) for _ in range(20_001)]
    py[::7] = [info.max] * len(py[::7])  # the top of the range, many times: a plain int64 sum would overflow
    py[1::9] = [info.min] * len(py[1::9])
    py[2::13] = [0] * len(py[2::13])
    s = tensorinfo(torch.tensor(py, dtype=dtype)).stats
    assert s["sum"] == sum(py) and s["count"] == len(py)
    assert s["mean"] == sum(py) / len(py)  # Python's correctly rounded int / int
    assert (s["min"], s["max"]) == (min(py), max(py))
    assert s["zeros"] == py.count(0)


def test_int64_mean_through_the_magic(ip):
    ip.run_cell("import torch\nbig = torch.tensor([2**63 - 1, -2**63, 0, 5])")
    r = ip.run_line_magic("tensorinfo", "big")
    assert r.stats["mean"] == 1.0 and "mean 1 " in r.to_text()


# -- memory format --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, fmt",
    [
        (lambda: torch.ones(2, 3, 4, 5), "contiguous"),
        (lambda: torch.ones(2, 3, 4, 5).to(memory_format=torch.channels_last), "channels_last"),
        (lambda: torch.ones(2, 3, 4, 5, 6).to(memory_format=torch.channels_last_3d), "channels_last_3d"),
        (lambda: torch.ones(3, 4).T, "dense but permuted (memory order of dims: 1, 0)"),
        (lambda: torch.ones(2, 3, 4).permute(1, 0, 2), "dense but permuted (memory order of dims: 1, 0, 2)"),
        (lambda: torch.ones(4, 6)[:, ::2], "strided (gaps between elements)"),
        (lambda: torch.ones(3, 1).expand(3, 4), "broadcast (stride 0)"),
        (lambda: torch.ones(10).unfold(0, 3, 1), "overlapping (elements share memory)"),
        (lambda: np.ones((3, 4), order="F"), "Fortran order (column-major)"),
        (lambda: np.ones((3, 4)), "contiguous"),
    ],
)
def test_memory_format_named(make, fmt):
    r = tensorinfo(make(), names=["x"])
    assert r.memory_format == fmt and r.to_dict()["memory_format"] == fmt
    assert fmt in r.to_text()


def test_channels_last_note(ip):
    ip.run_cell("import torch\nimg = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)")
    r = ip.run_line_magic("tensorinfo", "img")
    assert any(n.startswith("img is channels_last (NHWC in memory") for n in r.notes)
    assert "not contiguous" not in r.to_text().split("memory", 1)[1].splitlines()[0]


# -- the one-pass float path on sprinkled NaN/±inf ---------------------------------------------------


def reference(x) -> dict:
    e = x.detach().double().reshape(-1)
    f = e[torch.isfinite(e)]
    return {"min": f.min().item(), "max": f.max().item(), "mean": f.mean().item(), "std": f.std().item(),
            "nan": int(torch.isnan(e).sum()), "posinf": int((e == math.inf).sum()), "neginf": int((e == -math.inf).sum()),
            "zeros": int((f == 0).sum()), "count": f.numel()}


def sprinkle(x, every: int = 1000):
    x[:: 3 * every] = math.nan
    x[every :: 3 * every] = math.inf
    x[2 * every :: 3 * every] = -math.inf
    return x



def assert_matches_reference(x, mean_abs: float | None = None, std_abs: float | None = None) -> None:
    """Counts, min and max exactly as the float64 reference; mean and std to float32 accuracy
    (``mean_abs``: an absolute slack in units of the std, for data whose mean is near 0)."""
    s = tensorinfo(x).stats
    ref = reference(x)
    for key in ("nan", "posinf", "neginf", "zeros", "count", "min", "max"):
        assert s[key] == ref[key], key
    assert s["mean"] == pytest.approx(ref["mean"], rel=1e-5, abs=None if mean_abs is None else mean_abs * max(ref["std"], 1e-3))
    assert s["std"] == pytest.approx(ref["std"], rel=1e-4, abs=std_abs)

@pytest.mark.parametrize(
    "make",
    [
        lambda: sprinkle(torch.randn(50_000)),  # 1 in 1,000: every chunk has some
        lambda: sprinkle(torch.rand(50_000) + 1),  # all positive: a stand-in would show as a wrong min
        lambda: sprinkle(torch.relu(torch.randn(50_000))),  # zeros among them
        lambda: torch.cat([torch.zeros(1), sprinkle(torch.randn(40_000), every=3)]),  # the first finite value is 0
        lambda: sprinkle(1000 + torch.randn(50_000) / 1000),  # mean ≫ spread: the shifted sums
        lambda: sprinkle(torch.randn(50_000, dtype=torch.float64)),
        lambda: sprinkle(torch.randn(30_000)).to(torch.bfloat16),
        lambda: torch.full((20_000,), 3e38),  # finite, but the chunk sum overflows to inf
    ],
)
def test_sprinkled_specials_match_reference(small_chunks, make):
    assert_matches_reference(make(), mean_abs=1e-5, std_abs=1e-9)


@pytest.mark.parametrize("make", [lambda: sprinkle(torch.randn(30_000)), lambda: torch.relu(torch.randn(30_000)), lambda: torch.full((5000,), math.nan)])
def test_accelerator_path_with_torch_ops_only(small_chunks, monkeypatch, make):
    """Off the CPU there is no NumPy view: the same statistics from torch ops alone."""
    monkeypatch.setattr(T.float_stats, "_host", lambda t: None)
    x = make()
    s = tensorinfo(x).stats
    e = x.double()
    f = e[torch.isfinite(e)]
    assert (s["nan"], s["posinf"], s["neginf"], s["count"]) == (int(e.isnan().sum()), int((e == math.inf).sum()), int((e == -math.inf).sum()), f.numel())
    if f.numel():
        assert (s["min"], s["max"], s["zeros"]) == (f.min().item(), f.max().item(), int((f == 0).sum()))
        assert s["std"] == pytest.approx(f.std().item(), rel=1e-4)


def test_statistics_leave_no_trace_and_make_no_full_copy():
    x = sprinkle(torch.randn(1 << 20))
    before = x.clone()
    tensorinfo(x)
    assert torch.equal(torch.isnan(x), torch.isnan(before)) and torch.equal(x.nan_to_num(), before.nan_to_num())
    x.resize_(1 << 21)  # the storage is still resizable: no .numpy() was taken of it
    assert x.numel() == 1 << 21


def _mixed_chunks():
    """Clean chunks (batched), then chunks whose mean dominates (the shifted path), one with
    NaN/±inf, one of zeros, one whose squares overflow float32, then clean ones again."""
    torch.manual_seed(5)
    return torch.cat([torch.randn(10_000), 1000 + torch.randn(8_000) / 1000, sprinkle(torch.randn(5_000), 100),
                      torch.zeros(4_096), torch.full((4_096,), 3e19), torch.randn(9_000)])


@pytest.mark.parametrize("make", [_mixed_chunks, lambda: _mixed_chunks().flip(0)])
def test_batched_clean_chunks_merge_with_every_other_path(small_chunks, make):
    assert_matches_reference(make())


# -- every path of a float chunk: NaN/±inf where they start and stop, zeros, bits -----------------
# (small_chunks: 4,096 elements a chunk, so a chunk starts at each multiple of 4,096)


def _specials_at(x, start: int, stop: int, every: int = 97):
    x[start:stop:every] = math.nan
    x[start + 1 : stop : every] = math.inf
    x[start + 2 : stop : every] = -math.inf
    return x


def _minus_nan():
    return -torch.tensor(math.nan)  # NaN with its sign bit set (0xffc00000), as 0 * -inf makes


@pytest.mark.parametrize(
    "make",
    [
        lambda: _specials_at(torch.randn(40_000), 0, 4_096),  # the first chunk only
        lambda: _specials_at(torch.randn(40_001), 36_864, 40_001),  # the last chunk only (its size not a multiple of 8)
        lambda: _specials_at(torch.randn(40_000), 4_000, 4_200),  # across a chunk boundary
        lambda: torch.cat([torch.randn(8_192), torch.full((4_096,), math.inf), torch.randn(8_192)]),  # a chunk of only specials
        lambda: torch.cat([torch.randn(4_096), torch.full((4_096,), math.nan), torch.full((4_096,), -math.inf), torch.randn(4_096)]),
        lambda: torch.cat([_specials_at(torch.randn(4_096), 0, 4_096), torch.randn(4_096), _specials_at(torch.randn(4_096), 0, 4_096),
                           torch.randn(4_096)]),  # specials, clean, specials, clean: the isfinite-first mode and back
        lambda: torch.cat([_specials_at(torch.randn(4_096), 0, 4_096), torch.full((4_096,), 3e38), torch.randn(100)]),  # then a sum that overflows
        lambda: torch.cat([_specials_at(torch.randn(4_096), 0, 4_096), 1000 + torch.randn(8_192) / 1000]),  # then mean ≫ spread
        lambda: torch.cat([_specials_at(torch.randn(4_096), 0, 4_096), torch.full((4_096,), 1e20), -torch.rand(50)]),  # then squares overflow
        lambda: torch.cat([torch.full((5,), math.nan), torch.randn(4_091), _specials_at(torch.randn(4_096), 5, 4_096)]),  # a chunk that starts with specials
        lambda: _specials_at(1000 + torch.randn(30_000) / 1000, 100, 30_000, 500),  # specials with mean ≫ spread
        lambda: _specials_at(torch.randn(20_000, dtype=torch.float64), 0, 4_096),
        lambda: _specials_at(torch.randn(20_000, dtype=torch.float64), 16_000, 20_000),
        lambda: _specials_at(torch.randn(20_000), 12_000, 20_000).to(torch.bfloat16),
        lambda: _specials_at(torch.randn(20_000), 0, 3_000).to(torch.float16),
        lambda: _specials_at(torch.randn(200, 100), 0, 200, 7).T,  # non-contiguous: copied chunk by chunk
        lambda: _specials_at(torch.randn(300, 90), 250, 300, 3)[:, ::2],  # strided
        lambda: torch.cat([torch.randn(6_000), _minus_nan().expand(3).clone(), torch.randn(6_000)]),  # -NaN is a NaN
    ],
)
def test_nan_and_inf_wherever_they_start_and_stop(small_chunks, make):
    assert_matches_reference(make(), mean_abs=1e-5, std_abs=1e-9)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.cat([torch.randn(5_000), torch.tensor([0.0, -0.0, -0.0]), torch.randn(5_000)]),  # both signs
        lambda: torch.cat([-torch.rand(5_000) - 1, torch.tensor([-0.0]), -torch.rand(5_000) - 1]),  # all negative: -0.0 is the max
        lambda: torch.cat([-torch.rand(5_000) - 1, torch.tensor([0.0]), -torch.rand(5_000) - 1]),  # +0.0 among negatives
        lambda: torch.cat([torch.rand(5_000) + 1, torch.tensor([0.0]), torch.rand(5_000) + 1]),  # all positive: +0.0 is the min
        lambda: torch.cat([torch.rand(5_000) + 1, torch.tensor([-0.0]), torch.rand(5_000) + 1]),  # -0.0 among positives
        lambda: torch.full((9_000,), -0.0),  # chunks of only -0.0
        lambda: torch.tensor([0.0, -0.0] * 4_500),  # chunks of only zeros of both signs
        lambda: torch.tensor([1e-45, -1e-45, 1.2e-38, -3e-39] * 3_000),  # subnormals: small, not zero
        lambda: torch.tensor([3.4028235e38, -3.4028235e38, 1.0] * 3_000),  # the largest finite floats
        lambda: torch.tensor([5e-324, -5e-324, 0.0, -1.0], dtype=torch.float64).repeat(3_000),
        lambda: torch.cat([-torch.rand(5_000, dtype=torch.float64), torch.tensor([-0.0], dtype=torch.float64)]),
        lambda: _specials_at(torch.cat([-torch.rand(5_000) - 1, torch.tensor([-0.0, 0.0])]), 0, 5_002, 31),  # with NaN/±inf
        lambda: _specials_at(torch.rand(9_000) + 1, 0, 9_000, 13),  # all positive with NaN/±inf: the fill is no new min
    ],
)
def test_zeros_of_both_signs_and_min_max_from_the_bits(small_chunks, make):
    x = make()
    assert_matches_reference(x, mean_abs=1e-5, std_abs=1e-9)
    s, f = tensorinfo(x).stats, x.double()[torch.isfinite(x)]
    assert s["zeros"] == int((f == 0).sum())


def test_specials_counted_in_bulk_across_many_chunks(small_chunks):
    """More NaN/±inf than one bulk count holds (2**18), each kind counted exactly."""
    x = torch.randn(1_200_000)
    x[::3] = math.nan
    x[1::7] = math.inf
    x[2::11] = -math.inf
    assert_matches_reference(x, mean_abs=1e-5, std_abs=1e-9)


def test_min_max_bits_folded_every_few_chunks_give_the_same(small_chunks, monkeypatch):
    """The min/max bits are folded every BATCH chunks (bounded memory)."""
    monkeypatch.setattr(T.float_stats, "BATCH", 3)
    torch.manual_seed(2)
    x = torch.cat([torch.randn(20_000), _specials_at(torch.randn(9_000) - 5, 0, 9_000), torch.rand(15_000) + 3,
                   -torch.rand(10_000), torch.randn(7_000)])
    assert_matches_reference(x, mean_abs=1e-5, std_abs=1e-9)
    shifted = _specials_at(1000 + torch.randn(30_000) / 1000, 0, 30_000, 301)  # unbatched chunks after specials
    assert_matches_reference(torch.cat([torch.randn(5_000) + 1000, shifted]), mean_abs=1e-5, std_abs=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_masked_blocks_larger_than_the_float_chunk(monkeypatch, dtype):
    """A masked array's blocks follow the generic chunk size (4 MiB), larger than the float
    chunk: they are cut to the scratch buffers' size (they used to overflow them)."""
    monkeypatch.setattr(T.float_stats, "FLOAT_CPU_CHUNK_BYTES", 1 << 12)
    rng = np.random.default_rng(4)
    data = rng.standard_normal(30_000).astype(dtype)
    data[::997] = np.nan
    data[5::1999] = np.inf
    data[::13] = 0
    mask = np.zeros(data.size, bool)
    mask[::7] = True
    s = tensorinfo(np.ma.masked_array(data, mask=mask)).stats
    kept = data[~mask].astype(np.float64)
    fin = kept[np.isfinite(kept)]
    assert (s["nan"], s["posinf"], s["count"], s["zeros"]) == (int(np.isnan(kept).sum()), int((kept == np.inf).sum()), fin.size, int((fin == 0).sum()))
    assert (s["min"], s["max"]) == (fin.min(), fin.max())
    assert s["mean"] == pytest.approx(fin.mean(), rel=1e-5, abs=1e-6)
    assert s["std"] == pytest.approx(fin.std(), rel=1e-4)


def test_more_chunks_than_one_split_makes(monkeypatch):
    """Chunk views are made 1,024 at a time: 1,465 chunks of 1,024 elements cover the tensor once."""
    monkeypatch.setattr(T.float_stats, "FLOAT_CPU_CHUNK_BYTES", 1 << 12)
    x = torch.arange(1_500_000, dtype=torch.float32) - 1000
    s = T._float_stats(x, 1 << 20)
    assert (s["count"], s["min"], s["max"], s["zeros"]) == (1_500_000, -1000.0, 1_498_999.0, 1)
    assert s["mean"] == pytest.approx(748_999.5, rel=1e-6)


def test_a_lazily_negated_tensor_is_read_as_its_values():
    """``torch._neg_view`` (and ``z.conj().imag``) store the values un-negated behind a flag."""
    y = torch._neg_view(torch.tensor([1.0, -3.0, 2.0, math.inf]))
    assert y.is_neg() and y.is_contiguous()
    s = tensorinfo(y).stats
    assert (s["min"], s["max"], s["posinf"], s["neginf"]) == (-2.0, 3.0, 0, 1)
    assert s["mean"] == pytest.approx(0.0, abs=1e-7)
    z = torch.tensor([1 + 2j, 3 - 4j, 5 + 0.5j]).conj().imag  # strided, with the negative bit
    assert (tensorinfo(z).stats["min"], tensorinfo(z).stats["max"]) == (-2.0, 4.0)


def test_std_wording_names_a_short_expression_and_the_library_for_a_long_one(ip):
    ip.user_ns.update(torch=torch, w=torch.ones(2, 3), a=np.ones(4))
    short = ip.run_line_magic("tensorinfo", "w.T * 2")
    assert short.stats["std_convention"] == "n−1, as (w.T * 2).std()"
    long = ip.run_line_magic("tensorinfo", "w.detach() * 2 + torch.ones(2, 3)")
    assert long.stats["std_convention"] == "n−1, as torch's .std()" and "std (n−1, as torch's .std())" in long.to_text()
    arr = ip.run_line_magic("tensorinfo", "a * 3 + a * 4 - a * a + a")
    assert arr.stats["std_convention"] == "n, as NumPy's .std()"
    ip.user_ns["k"] = torch.tensor([1, 2, 4])  # torch's std takes floats only
    ints = ip.run_line_magic("tensorinfo", "k")
    assert ints.stats["std_convention"] == "n−1, as k.double().std()"
    assert ints.stats["std"] == pytest.approx(ip.user_ns["k"].double().std().item())
