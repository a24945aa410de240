"""The whole-array checks against NumPy's element-by-element answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autodiff_magics.arrays import all_finite, largest_abs


def _cases():
    rng = np.random.default_rng(0)
    yield np.array([])
    yield np.array(2.5)
    yield np.array([1, -7, 3])  # integers
    yield np.array([3e38, 3e38], dtype=np.float32)  # a sum that overflows, every element finite
    yield np.array([1e308, 1e308, -5.0])
    yield np.array([1.0, 2.0 + 3j])
    for _ in range(200):
        a = rng.standard_normal(rng.integers(1, 50)) * 10.0 ** rng.integers(-300, 300)
        if rng.random() < 0.5:
            a[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        with np.errstate(over="ignore"):  # a float32 copy of 1e300 is inf: one more special
            yield a.astype(rng.choice([np.float64, np.float32]))


@pytest.mark.parametrize("as_torch", [False, True])
def test_all_finite_and_largest_abs_match_numpy(as_torch):
    seen = 0
    for a in _cases():
        if as_torch and a.dtype.kind == "c":
            continue
        x = torch.from_numpy(np.ascontiguousarray(a)) if as_torch else a
        with np.errstate(all="ignore"):
            assert all_finite(x) == bool(np.all(np.isfinite(a))), a
            want = float(np.max(np.abs(a))) if a.size else 0.0
        got = largest_abs(x)
        assert (math.isnan(got) and math.isnan(want)) or got == want, (a, got, want)
        seen += 1
    assert seen >= 200
    assert largest_abs(torch.tensor([True, False])) == 1.0 and all_finite(torch.tensor([True]))


def test_a_check_reads_each_big_array_for_its_facts_once(monkeypatch):
    import autodiff_magics as adm
    from autodiff_magics.gradient import evaluation

    calls = []
    real = evaluation.largest_abs
    monkeypatch.setattr(evaluation, "largest_abs", lambda a: calls.append(a) or real(a))
    w = torch.randn(5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = adm.gradient("(w**3).sum()", w=w)  # directional: autograd, then the comparison and the step
    assert r.agree and r.methods["directional"].status == "ok"
    # the point's max|w| read once (shared by the directional step and the comparison); the
    # gradient's never: autograd found it on its way
    assert len(calls) == 1 and calls[0].shape == (5000,)
    assert real(calls[0]) == float(w.abs().max())
