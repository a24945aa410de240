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
            assert va[name].shape == x.shape and va[name].dtype == x.dtype
            assert set(va[name].unique().tolist()) <= {-1.0, 1.0}
            assert torch.equal(va[name], vb[name])
        assert not torch.equal(va["w"], vo["w"])
    signs = torch.cat([v["w"].reshape(-1) for v in a])
    assert abs(float(signs.mean())) < 0.05  # fair coins: ±1 about equally often
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
