"""The compiled one-pass statistics kernel (``_fused.c``) against NumPy, at every vector width the
CPU runs: counts exact, min and max exact, sums to the accuracy of per-lane block sums."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from autodiff_magics.tensors import float_fused

fused = float_fused.kernel()


def test_the_kernel_is_built_where_ci_requires_it():
    """CI builds it (a C compiler is there); a missing kernel would only show as slowness."""
    if not os.environ.get("AUTODIFF_MAGICS_REQUIRE_KERNEL"):
        pytest.skip("AUTODIFF_MAGICS_REQUIRE_KERNEL is not set")
    assert fused is not None, "autodiff_magics.tensors._fused was not built"
    assert fused.vector_width in (16, 32, 64)


needs_kernel = pytest.mark.skipif(fused is None, reason="the compiled statistics kernel was not built")
WIDTHS = [w for w in (16, 32, 64) if fused is not None and w <= fused.vector_width]


def truth(a: np.ndarray, shift: float = 0.0) -> dict:
    e = a.astype(np.float64)
    f = a[np.isfinite(a)]
    d = (f - a.dtype.type(shift)).astype(np.float64)  # the subtraction in the data's own dtype, as the kernel does
    return {"nan": int(np.isnan(e).sum()), "pinf": int((e == np.inf).sum()), "ninf": int((e == -np.inf).sum()),
            "zeros": int((f == 0).sum()), "s": d.sum(), "q": (d * d).sum(), "abs": np.abs(d).sum(),
            "min": float(f.min()) if f.size else math.inf, "max": float(f.max()) if f.size else -math.inf}


def run(a: np.ndarray, width: int, shift: float = 0.0) -> dict:
    out = fused.block_stats(a.ctypes.data, a.size, a.dtype.char, shift, width)
    return dict(zip(("nan", "pinf", "ninf", "zeros", "s", "q", "min", "max"), out))


def assert_like_truth(a: np.ndarray, width: int, shift: float = 0.0) -> None:
    got, want = run(a, width, shift), truth(a, shift)
    for key in ("nan", "pinf", "ninf", "zeros", "min", "max"):
        assert got[key] == want[key], (key, got[key], want[key])
    # each lane sums 1024 / lanes values in the data's precision: error within that many ulps of the sum of |d|
    eps = np.finfo(a.dtype).eps * (1024 // (width // a.itemsize))
    assert abs(got["s"] - want["s"]) <= eps * want["abs"] + 1e-300
    assert abs(got["q"] - want["q"]) <= eps * want["q"] + 1e-300


def sample(rng, n: int, dtype) -> np.ndarray:
    a = rng.standard_normal(n).astype(dtype)
    if n:
        for value, share in ((np.nan, 0.02), (np.inf, 0.01), (-np.inf, 0.01), (0.0, 0.02), (-0.0, 0.01)):
            a[rng.random(n) < share] = value
        a[rng.random(n) < 0.01] = -np.float32(np.nan)  # NaN with its sign bit set
    return a


@needs_kernel
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_blocks_of_every_size_and_alignment(width, dtype):
    """Sizes around the lane counts and the 1,024-element block, starting at every offset."""
    rng = np.random.default_rng(width)
    for n in (0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 1023, 1024, 1025, 2049, 5000):
        base = sample(rng, n + 16, dtype)
        for offset in (0, 1, 3, 5, 13):
            assert_like_truth(base[offset : offset + n], width)


@needs_kernel
@pytest.mark.parametrize("width", WIDTHS)
def test_every_width_gives_the_same_counts_min_and_max(width):
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        a = sample(rng, 100_003, dtype)
        assert run(a, width)["nan"] == int(np.isnan(a).sum())
        narrow, wide = run(a, 16), run(a, width)
        assert [narrow[k] for k in ("nan", "pinf", "ninf", "zeros", "min", "max")] == \
               [wide[k] for k in ("nan", "pinf", "ninf", "zeros", "min", "max")]


@needs_kernel
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    "values",
    [
        [np.nan] * 40,  # nothing finite: min and max stay ±inf, sums 0
        [np.inf, -np.inf] * 20,
        [0.0, -0.0] * 20,
        [-0.0] * 3 + [-1.0] * 37,  # -0.0 is the max
        [1e-45, -1e-45, 1.2e-38, -3e-39] * 10,  # subnormals are not zero
        [3.4028235e38, -3.4028235e38, 1.0] * 13,  # the largest finite float32 values
    ],
)
def test_edge_values(width, values):
    a = np.array(values, dtype=np.float32)
    got = run(a, width)
    want = truth(a)
    for key in ("nan", "pinf", "ninf", "zeros", "min", "max"):
        assert got[key] == want[key], key


@needs_kernel
def test_squares_beyond_float32_come_back_infinite_and_the_statistics_redo_them():
    """The kernel squares float32 values in float32: 1e20² overflows, and it says so (inf), so the
    statistics take those chunks through the float64 passes."""
    import torch

    from autodiff_magics.tensors import _float_stats

    a = np.array([1e20, -2e20, 3.0] * 700, dtype=np.float32)
    assert run(a, fused.vector_width)["q"] == math.inf
    s = _float_stats(torch.from_numpy(a.copy()), 1 << 20)
    e = a.astype(np.float64)
    assert (s["min"], s["max"], s["count"]) == (e.min(), e.max(), e.size)
    assert s["_m2"] == pytest.approx(((e - e.mean()) ** 2).sum(), rel=1e-6)


@needs_kernel
@pytest.mark.parametrize("width", WIDTHS)
def test_sums_around_a_shift(width):
    """The second pass for data whose mean dominates its spread: sums of (x - shift)."""
    rng = np.random.default_rng(7)
    a = (1000 + rng.standard_normal(10_001) / 1000).astype(np.float32)
    a[::101] = np.nan
    assert_like_truth(a, width, shift=1000.0)
    got = run(a, width, 1000.0)
    f = a[np.isfinite(a)].astype(np.float64)
    assert got["q"] - got["s"] ** 2 / f.size == pytest.approx(((f - f.mean()) ** 2).sum(), rel=1e-3)


@needs_kernel
def test_bad_arguments_are_refused():
    a = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="a kind this build has"):
        fused.block_stats(a.ctypes.data, 4, "i", 0.0)
    with pytest.raises(ValueError, match="n >= 0"):
        fused.block_stats(a.ctypes.data, -1, "f", 0.0)
    with pytest.raises(ValueError, match="no 128-byte vectors"):
        fused.block_stats(a.ctypes.data, 4, "f", 0.0, 128)


def test_no_kernel_environment_variable_turns_it_off(monkeypatch):
    monkeypatch.setattr(float_fused, "_module", float_fused._UNSET)
    monkeypatch.setenv("AUTODIFF_MAGICS_NO_KERNEL", "1")
    assert float_fused.kernel() is None
    import torch

    from autodiff_magics.tensors import tensorinfo

    s = tensorinfo(torch.tensor([1.0, math.nan, -2.0])).stats  # the passes answer instead
    assert (s["min"], s["max"], s["nan"]) == (-2.0, 1.0, 1)


@needs_kernel
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["b", "e"])
def test_16_bit_floats_are_widened_as_they_are_read(width, kind):
    """bfloat16 (its bits are float32's top half) and float16, read in place, give what their
    float32 conversion gives, at every size and offset."""
    import torch

    if kind not in fused.kinds:
        pytest.skip("this compiler has no _Float16")
    dtype = torch.bfloat16 if kind == "b" else torch.float16
    rng = np.random.default_rng(11)
    for n in (0, 1, 15, 16, 17, 33, 1025, 3000):
        base = torch.from_numpy(sample(rng, n + 8, np.float32) * 100).to(dtype)
        base[: n + 8 : 37] = 1e-40 if kind == "b" else 3e-8  # subnormal in the 16-bit format
        for offset in (0, 1, 5):
            t = base[offset : offset + n]
            a = t.float().numpy()
            got = dict(zip(("nan", "pinf", "ninf", "zeros", "s", "q", "min", "max"),
                           fused.block_stats(t.data_ptr(), n, kind, 0.0, width)))
            want = truth(a)
            for key in ("nan", "pinf", "ninf", "zeros", "min", "max"):
                assert got[key] == want[key], (n, offset, key)
            eps = np.finfo(np.float32).eps
            assert abs(got["s"] - want["s"]) <= 256 * eps * want["abs"] + 1e-300
            # a square below float32's smallest normal (1.2e-38) may underflow: that much per value
            assert abs(got["q"] - want["q"]) <= 256 * eps * want["q"] + n * np.finfo(np.float32).tiny
