"""Shared bytes of two layouts, counted exactly where a formula fits, else NumPy's exact solver
with bounded work."""

from __future__ import annotations

import itertools
import math

from .bytesets import _bytes_below, _inner, _intervals, _Layout
from .regions import Region

#: runs of a layout enumerated one by one when no formula applies
RUN_BUDGET = 1 << 16
#: residues walked by the comb formula
PERIOD_BUDGET = 1 << 16
#: work NumPy's exact solver may spend on one pair
SOLVER_WORK = 1 << 16


def _shared_bytes(a: _Layout, b: _Layout) -> int | None:
    """Exact count of distinct bytes in both sets, or None when no formula fits within the
    budgets. A self-overlapping layout (not nested) is first listed as merged intervals, so no
    byte is counted twice."""
    if not (a.nested and b.nested):
        ia = None if a.nested else _intervals(a)
        ib = None if b.nested else _intervals(b)
        if (not a.nested and ia is None) or (not b.nested and ib is None):
            return None
        if ia is not None and ib is not None:
            return _interval_overlap(ia, ib)
        iv, nested = (ia, b) if ia is not None else (ib, a)
        return _in_nested(iv, nested)
    if not a.dims:
        return b.count_in(a.base, a.base + a.w)
    if not b.dims:
        return a.count_in(b.base, b.base + b.w)
    if [s for _, s in a.dims] == [s for _, s in b.dims]:
        return _equal_strides(a, b)
    small, big = (a, b) if a.runs <= b.runs else (b, a)
    if small.runs <= RUN_BUDGET:
        return _by_runs(small, big)
    if len(a.dims) == 1 and len(b.dims) == 1:
        return _combs(a, b)
    return None


def _in_nested(iv, layout: _Layout) -> int:
    """Bytes of a nested layout inside disjoint intervals."""
    lo, hi = iv
    return int(_count_below_many(layout, hi - layout.base).sum() - _count_below_many(layout, lo - layout.base).sum())


def _interval_overlap(ia, ib) -> int:
    """Bytes in both of two sets of disjoint intervals."""
    lo, hi = ia
    return int(_bytes_below(ib, hi).sum() - _bytes_below(ib, lo).sum())


def _by_runs(a: _Layout, b: _Layout) -> int:
    """Σ over a's contiguous runs of b's bytes in each (b nested), all runs at once in NumPy."""
    import numpy as np

    starts = np.zeros(1, dtype=np.int64)
    for n, s in a.dims:
        starts = (starts[:, None] + np.arange(n, dtype=np.int64)[None, :] * s).reshape(-1)
    starts += a.base - b.base
    return int(_count_below_many(b, starts + a.w).sum() - _count_below_many(b, starts).sum())


def _count_below_many(layout: _Layout, xs):
    """:meth:`_Layout.count_below` for an array of offsets (relative to the layout's base)."""
    import numpy as np

    x = xs.copy()
    total = np.zeros_like(x)
    done = np.zeros(x.shape, dtype=bool)
    exts, sizes = _inner(layout)
    for k in range(len(layout.dims) - 1, -1, -1):
        n, s = layout.dims[k]
        done |= x <= 0
        full = np.where(x < exts[k], 0, np.minimum(n, (x - exts[k]) // s + 1))
        full[done] = 0
        total += full * sizes[k]
        done |= full == n
        x = np.where(done, x, x - full * s)
    return total + np.where(done, 0, np.clip(x, 0, layout.w))


def _equal_strides(a: _Layout, b: _Layout) -> int:
    """Shared bytes of two nested layouts with the same strides (sizes and runs may differ)."""
    memo: dict[tuple[int, int], int] = {}

    def inter(k: int, off: int) -> int:
        # bytes of a's dims[:k] placed at ``off`` that lie in b's dims[:k] placed at 0
        key = (k, off)
        if key in memo:
            return memo[key]
        if k == 0:
            out = max(0, min(off + a.w, b.w) - max(off, 0))
        else:
            na, s = a.dims[k - 1]
            nb = b.dims[k - 1][0]
            q = off // s
            out = 0
            for d in (q, q + 1):  # b's block index minus a's: only these two can meet
                pairs = min(na, nb - d) - max(0, -d)
                if pairs > 0:
                    out += pairs * inter(k - 1, off - d * s)
        memo[key] = out
        return out

    return inter(len(a.dims), a.base - b.base)


def _combs(a: _Layout, b: _Layout) -> int | None:
    """Shared bytes of two combs ``base + i·period + [0, w)`` of different periods: a's runs
    that lie inside b's hull meet b as an endless comb, so their overlaps repeat with period
    lcm/p runs and are summed by residues; the (at most two) runs across the hull's edges are
    counted directly."""
    (na, p), (_, q) = a.dims[0], b.dims[0]
    period = q // math.gcd(p, q)
    if period > PERIOD_BUDGET:
        return None
    lo, hi = b.base, b.base + b.extent

    def endless(x: int) -> int:  # bytes of b's runs continued forever, in [lo, lo + x)
        return (x // q) * b.w + min(x % q, b.w) if x > 0 else 0

    touch_lo = max(0, -(-(lo - a.w + 1 - a.base) // p))  # first run ending after lo
    touch_hi = min(na - 1, (hi - 1 - a.base) // p)  # last run starting before hi
    if touch_hi < touch_lo:
        return 0
    first = max(touch_lo, -(-(lo - a.base) // p))  # runs wholly inside [lo, hi)
    last = min(touch_hi, (hi - a.w - a.base) // p)
    if last >= first:
        edges = itertools.chain(range(touch_lo, first), range(last + 1, touch_hi + 1))
    elif touch_hi - touch_lo < RUN_BUDGET:
        edges = range(touch_lo, touch_hi + 1)
    else:
        return None
    total = 0
    for i in edges:
        start = a.base + i * p
        total += b.count_in(start, start + a.w)
    if last >= first:
        count = last - first + 1
        g = []
        for t in range(min(period, count)):
            r = (a.base + (first + t) * p - lo) % q
            g.append(endless(r + a.w) - endless(r))
        full, rest = divmod(count, len(g))
        total += full * sum(g) + sum(g[:rest])
    return total


def _numpy_solver(ra: Region, rb: Region) -> bool | None:
    """NumPy's exact overlap test on stand-ins with the same addresses and strides (no data is
    read), with bounded work; None when it gives up."""
    import numpy as np

    try:
        too_hard = np.exceptions.TooHardError
    except AttributeError:  # NumPy < 1.25
        too_hard = np.TooHardError
    try:
        return bool(np.shares_memory(_standin(ra), _standin(rb), max_work=SOLVER_WORK))
    except too_hard:
        return None


class _Interface:
    def __init__(self, r: Region) -> None:
        self.__array_interface__ = {
            "shape": r.shape,
            "typestr": f"|V{r.itemsize}",
            "data": (r.address, True),
            "strides": r.strides,
            "version": 3,
        }


def _standin(r: Region):
    import numpy as np

    return np.asarray(_Interface(r))
