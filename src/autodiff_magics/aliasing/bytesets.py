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
    base = r.address
    dims = []
    for n, s in zip(r.shape, r.strides):
        if n == 1 or s == 0:
            continue  # a broadcast dimension repeats the same bytes
        if s < 0:
            base += (n - 1) * s
            s = -s
        dims.append((n, s))
    dims.sort(key=lambda d: d[1])
    w = r.itemsize
    i = 0
    while i < len(dims) and dims[i][1] <= w:  # steps within the run so far: still one interval
        n, s = dims[i]
        w += (n - 1) * s
        i += 1
    merged: list[tuple[int, int]] = []
    for n, s in dims[i:]:
        if merged and s == merged[-1][0] * merged[-1][1]:
            merged[-1] = (merged[-1][0] * n, merged[-1][1])
        else:
            merged.append((n, s))
    ext, nested = w, True
    for n, s in merged:
        if s < ext:
            nested = False
            break
        ext += (n - 1) * s
    return _Layout(base, w, tuple(merged), nested)
