"""The set of bytes a region covers, as a few numbers: a :class:`Layout` (base, run width and
dimensions sorted by stride), and counts of its bytes below an address."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .regions import Region


@dataclass(frozen=True)
class _Layout:
    """The set of bytes ``base + run + Σ i_k·s_k`` (0 ≤ run < w, 0 ≤ i_k < n_k), strides
    ascending. ``nested`` when each stride clears everything inside it (no byte counted twice,
    and the exact counting formulas hold)."""

    base: int
    w: int
    dims: tuple[tuple[int, int], ...]
    nested: bool

    @property
    def extent(self) -> int:
        return self.w + sum((n - 1) * s for n, s in self.dims)

    @property
    def size(self) -> int:
        """Distinct bytes (exact when nested)."""
        return self.w * math.prod(n for n, _ in self.dims)

    @property
    def runs(self) -> int:
        return math.prod(n for n, _ in self.dims)

    def count_below(self, x: int) -> int:
        """Bytes of the set in [base, base + x), for a nested layout, in O(ndim)."""
        total = 0
        exts, sizes = _inner(self)
        for k in range(len(self.dims) - 1, -1, -1):
            if x <= 0:
                return total
            n, s = self.dims[k]
            inner_ext, inner_size = exts[k], sizes[k]
            full = 0 if x < inner_ext else min(n, (x - inner_ext) // s + 1)
            total += full * inner_size
            if full == n:
                return total
            x -= full * s
        return total + max(0, min(x, self.w))

    def count_in(self, lo: int, hi: int) -> int:
        """Bytes of the set in the absolute range [lo, hi)."""
        if hi <= lo:
            return 0
        return self.count_below(hi - self.base) - self.count_below(lo - self.base)


@lru_cache(maxsize=256)
def _inner(layout: _Layout) -> tuple[list[int], list[int]]:
    exts, sizes = [], []
    ext, size = layout.w, layout.w
    for n, s in layout.dims:
        exts.append(ext)
        sizes.append(size)
        ext += (n - 1) * s
        size *= n
    return exts, sizes


def _layout(r: Region) -> _Layout:
    """The byte set of a region in a normal form: broadcast dimensions dropped, negative
    strides flipped, and dimensions merged wherever their sum of steps is one evenly spaced
    range (a run of bytes, ``x[::2]`` reshaped, a sliding window whose step is within its width:
    ``unfold(0, 3, 2)`` is one interval, ``unfold(0, 3, 2)[:, ::2]`` is ``x[::2]``)."""
    base = r.address
    dims = [(r.itemsize, 1)]  # the bytes of one element: a dimension of stride 1
    for n, s in zip(r.shape, r.strides):
        if n == 1 or s == 0:
            continue  # a broadcast dimension repeats the same bytes
        if s < 0:
            base += (n - 1) * s
            s = -s
        dims.append((n, s))
    dims = _merge(dims)
    w = dims[0][0]  # the stride-1 dimension: the width of each run
    rest = tuple(dims[1:])
    ext, nested = w, True
    for n, s in rest:
        if s < ext:
            nested = False
            break
        ext += (n - 1) * s
    return _Layout(base, w, rest, nested)


def _merge(dims: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge pairs of dimensions whose sum is one dimension, until none is left: with
    ``s2 = m·s1`` and ``n1 ≥ m``, ``{i·s1 + j·s2}`` is every multiple of ``s1`` up to
    ``(n1 - 1)·s1 + (n2 - 1)·s2``, so the pair is ``(n1 + m·(n2 - 1), s1)``."""
    dims = sorted(dims, key=lambda d: (d[1], d[0]))
    changed = True
    while changed:
        changed = False
        for i in range(len(dims)):
            n1, s1 = dims[i]
            for j in range(i + 1, len(dims)):
                n2, s2 = dims[j]
                if s2 % s1 == 0 and n1 * s1 >= s2:
                    dims[i] = (n1 + (s2 // s1) * (n2 - 1), s1)
                    del dims[j]
                    changed = True
                    break
            if changed:
                dims.sort(key=lambda d: (d[1], d[0]))
                break
    return dims


#: runs of a self-overlapping layout listed one by one to find its exact byte set
INTERVAL_BUDGET = 1 << 18


def _intervals(layout: _Layout):
    """The layout's bytes as sorted, disjoint, non-touching intervals ``(starts, ends)``
    (absolute addresses, NumPy int64 arrays), or None past INTERVAL_BUDGET runs. Exact for any
    layout, self-overlapping ones included: runs are listed, sorted and merged."""
    return None if layout.runs > INTERVAL_BUDGET else _listed(layout)


@lru_cache(maxsize=16)
def _listed(layout: _Layout):
    import numpy as np

    starts = np.zeros(1, dtype=np.int64)
    for n, s in layout.dims:
        starts = (starts[:, None] + np.arange(n, dtype=np.int64)[None, :] * s).reshape(-1)
    starts = np.unique(starts)  # sorted; equal runs counted once
    gap = np.flatnonzero(np.diff(starts) > layout.w)  # every run has width w: a new interval starts after a gap
    first = np.concatenate(([0], gap + 1))
    last = np.concatenate((gap, [starts.size - 1]))
    lo = starts[first] + layout.base
    hi = starts[last] + layout.base + layout.w
    return lo, hi


def byte_count(layout: _Layout) -> int | None:
    """Distinct bytes of the layout: a product for a nested one, the merged runs of a
    self-overlapping one (None when it has too many runs to list)."""
    if layout.nested:
        return layout.size
    iv = _intervals(layout)
    return None if iv is None else int((iv[1] - iv[0]).sum())


def _bytes_below(iv, xs):
    """Bytes of the interval set ``iv`` below each absolute address in ``xs``."""
    import numpy as np

    lo, hi = iv
    prefix = np.concatenate(([0], np.cumsum(hi - lo)))
    k = np.searchsorted(lo, xs, side="left")  # intervals starting below x
    j = np.maximum(k - 1, 0)
    part = np.minimum(xs, hi[j]) - lo[j]
    return np.where(k > 0, prefix[j] + part, 0)
