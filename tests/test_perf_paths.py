"""The fast paths of the %%gradient check give what the plain ones gave."""

from __future__ import annotations

import torch

from autodiff_magics.differences import random_directions
from autodiff_magics.graph.saved import Reader


def test_random_directions_are_signs_reproducible_and_leave_the_users_generator_alone():
    points = {"w": torch.zeros(3, 1001, dtype=torch.float64), "b": torch.zeros(5, dtype=torch.float32)}
    state = torch.get_rng_state()
    a = random_directions(points, 3, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    b = random_directions(points, 3, seed=4)
    other = random_directions(points, 3, seed=5)
    for va, vb, vo in zip(a, b, other):
        for name, x in points.items():
            assert va[name].shape == x.shape and va[name].dtype == torch.int8  # added to any float point exactly
            assert set(va[name].unique().tolist()) <= {-1.0, 1.0}
            assert torch.equal(va[name], vb[name])
        assert not torch.equal(va["w"], vo["w"])
    signs = torch.cat([v["w"].reshape(-1) for v in a])
    assert abs(float(signs.double().mean())) < 0.05  # fair coins: ±1 about equally often
    assert not torch.equal(a[0]["w"], a[1]["w"])


def test_min_max_is_shared_only_by_tensors_covering_the_same_elements():
    reader = Reader(torch)
    g = torch.randn(300, 400, dtype=torch.float64)
    first = reader.tensor(g)
    assert reader.tensor(g.t()) == {**first, "shape": [400, 300]}
    g[0, 0] = 1e6  # written in place: read again
    assert reader.tensor(g)["max"] == 1e6
    part = reader.tensor(g[:100])  # a part of the memory: its own min/max
    assert part["max"] == 1e6 and part["min"] == float(g[:100].min())
    h = torch.randn(300, 400, dtype=torch.float64)
    assert reader.tensor(h)["min"] == float(h.min())


def test_signed_sum_is_the_dot_with_the_signs_across_slices(monkeypatch):
    import numpy as np

    from autodiff_magics import arrays

    monkeypatch.setattr(arrays, "SLICE", 1000)  # 3 slices and a part
    g = np.random.default_rng(0).standard_normal((7, 501))
    v = random_directions({"g": torch.from_numpy(g)}, 1, seed=2)[0]["g"]
    assert arrays.signed_sum(g, v) == __import__("pytest").approx(float(g.reshape(-1) @ v.double().numpy().reshape(-1)), rel=1e-13)


def test_an_autograd_bound_is_made_only_when_read_and_sums_without_it():
    import numpy as np

    from autodiff_magics.gradient.bounds import RelativeBound, total

    g = {"w": np.array([1.0, -2.0, 0.0]), "b": np.array([[3.0]], dtype=np.float32)}
    b = RelativeBound(g, 0.5, 0.25)
    assert total(b, "w") == 0.5 * 3 + 0.25 * 3 and not b._made  # the sum reads g, makes no bound
    assert total(b, "w", l1=10.0) == 0.5 * 10 + 0.25 * 3  # a norm the caller read already
    assert b["w"].tolist() == [0.75, 1.25, 0.25] and b["b"].dtype == np.float64 and sorted(b) == ["b", "w"]
    assert total({"w": np.array([1.0, 2.0])}, "w") == 3.0


def test_a_step_along_int8_signs_is_the_float_step_to_the_last_bit():
    from autodiff_magics.differences.directional import moved

    for dtype in (torch.float64, torch.float32):
        x = torch.randn(3, 1001, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 1e3
        v = random_directions({"x": x}, 1, seed=3)[0]["x"]
        for alpha in (2.0**-20, -(2.0**-7), 3 * 2.0**-30):
            out = torch.empty_like(x)
            assert moved(x, v, alpha, out) is out
            assert torch.equal(out, x + alpha * v.to(dtype))
