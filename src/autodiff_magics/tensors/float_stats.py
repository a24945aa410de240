"""Statistics of floating-point values in one pass over memory.

Each chunk (a few MB, so it stays in cache) is first summed by rows of ROW elements: that read is
the only one from memory, and the row sums say at once whether the chunk holds a NaN or an
infinity (a row with one has a non-finite sum). A clean chunk then needs ``aminmax``, ``dot`` and,
when its range holds 0, ``count_nonzero`` — all from cache. A chunk with NaN/±inf is copied into
a scratch buffer (in cache), its few bad rows are overwritten with a copy of a clean row (which
changes neither min nor max, and whose share of the sums and counts is taken off again), and the
bad rows themselves — a small fraction at any sprinkling rate up to about 1 in ROW — are counted
element by element. Only when most rows hold NaN/inf is the whole chunk counted element by
element. Partial results are combined in float64 on the host (Chan et al.).
"""

from __future__ import annotations

import math
from typing import Any

from .chunks import _blocks, _Buffers

#: elements per row whose sum flags NaN/±inf
ROW = 64

__all__ = ["_float_stats"]


class _FloatAcc:
    """Running statistics of one tensor: counts, min, max and moments (relative to ``shift``
    once one part's mean dominates its spread, so the sums of squares keep their digits)."""

    def __init__(self, work) -> None:
        from .statistics import _Moments

        self.work = work
        self.mom = _Moments()
        self.lo, self.hi = math.inf, -math.inf
        self.nan = self.posinf = self.neginf = self.zeros = 0
        self.shift: float | None = None

    def minmax(self, mn: float, mx: float) -> None:
        self.lo, self.hi = min(self.lo, mn), max(self.hi, mx)

    def moments(self, n: int, sums, recompute) -> None:
        """Add ``n`` values whose (sum, sum of squares) around the current shift are ``sums``;
        ``recompute(shift)`` gives them around another shift."""
        if n == 0:
            return
        s, q = sums
        if self.shift is None:
            mean = s / n
            m2 = q - s * mean
            if m2 >= q / 8 or not math.isfinite(q):
                self.mom.add(n, mean, max(m2, 0.0))
                return
            self.shift = _as_dtype(mean, self.work)  # the mean dominates: q - s*mean would cancel digits
            s, q = recompute(self.shift)
        self.mom.add(n, self.shift + s / n, max(q - s * s / n, 0.0))

    def result(self) -> dict[str, Any]:
        s = {"min": None, "max": None, "mean": None, "std": None, "nan": self.nan, "posinf": self.posinf,
             "neginf": self.neginf, "zeros": self.zeros, "count": self.mom.n, "sum": None, "_m2": self.mom.m2}
        if self.mom.n:
            s.update(min=self.lo, max=self.hi, mean=self.mom.mean, sum=self.mom.mean * self.mom.n)
        return s


def _as_dtype(x: float, dtype) -> float:
    """``x`` rounded as a scalar of ``dtype`` is when torch uses it in that dtype."""
    import torch

    return x if dtype == torch.float64 else float(torch.tensor(x, dtype=dtype).item())


def _float_stats(u, chunk: int, blocks=None) -> dict[str, Any]:
    """Statistics of a floating tensor ``u`` (in memory order), chunk by chunk; ``blocks``
    replaces the chunks of ``u`` (e.g. the unmasked values of a masked array)."""
    import torch

    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    acc = _FloatAcc(work)
    bufs = _Buffers(min(chunk, max(u.numel(), 1)), work, u.device)
    for c in blocks if blocks is not None else _blocks(u, chunk):
        v = c.view(-1) if c.dtype == work and c.is_contiguous() else bufs.copy(c)
        n = v.numel()
        rows = n // ROW
        if rows:
            head = v[: rows * ROW]
            rs = head.view(rows, ROW).sum(1)
            total = rs.sum().item()
            if math.isfinite(total):
                _clean(head, total, acc, bufs)
            else:
                _sprinkled(head, rs, acc, bufs)
        if rows * ROW < n:
            _by_element(v[rows * ROW :], acc, bufs)
    return acc.result()


def _sums(t, shift, bufs):
    """(sum, sum of squares) of ``t`` around ``shift`` (None: around 0)."""
    import torch

    if shift is not None:
        t = torch.sub(t, shift, out=bufs.tmp2(t.numel()))
    q = torch.dot(t, t).item()
    if not math.isfinite(q):  # squares beyond the dtype's range: sum them in float64, a slice at a time
        q = sum(torch.dot(p, p).item() for p in (t[i : i + (1 << 16)].double() for i in range(0, t.numel(), 1 << 16)))
    return t.sum().item(), q


def _zeros(t, mn: float, mx: float) -> int:
    import torch

    if mn > 0 or mx < 0:
        return 0
    if mn == 0 and mx == 0:
        return t.numel()
    return t.numel() - int(torch.count_nonzero(t).item())


def _clean(v, total: float, acc: _FloatAcc, bufs) -> None:
    """A chunk without NaN/±inf: aminmax, dot and the zero count, all from cache."""
    import torch

    mn, mx = torch.aminmax(v)
    mn, mx = mn.item(), mx.item()
    acc.minmax(mn, mx)
    acc.zeros += _zeros(v, mn, mx)
    if acc.shift is None:
        q = torch.dot(v, v).item()
        sums = (total, q) if math.isfinite(q) else _sums(v, None, bufs)
    else:
        sums = _sums(v, acc.shift, bufs)
    acc.moments(v.numel(), sums, lambda shift: _sums(v, shift, bufs))


def _sprinkled(v, rs, acc: _FloatAcc, bufs) -> None:
    """A chunk with NaN/±inf: the clean rows in a scratch copy where each bad row holds a
    duplicate of one clean row, then the bad rows element by element."""
    import torch

    rows = rs.numel()
    good = torch.isfinite(rs)
    bad = torch.nonzero(~good).view(-1)
    kb = bad.numel()
    if kb * 4 > rows:  # NaN/inf nearly everywhere: count the whole chunk element by element
        _by_element(v, acc, bufs)
        return
    g0 = int(torch.argmax(good.to(torch.uint8)).item())  # the first clean row
    grid = v.view(rows, ROW)
    _by_element(grid[bad].view(-1), acc, bufs)  # a small copy: kb rows
    tmp = bufs.tmp(v.numel()).view(rows, ROW)
    tmp.copy_(grid)
    tmp[bad] = grid[g0]
    flat = tmp.view(-1)
    row = grid[g0]
    mn, mx = torch.aminmax(flat)
    mn, mx = mn.item(), mx.item()
    acc.minmax(mn, mx)
    acc.zeros += _zeros(flat, mn, mx) - kb * _zeros(row, mn, mx)
    n = (rows - kb) * ROW

    def sums(shift):
        (s, q), (rs_, rq) = _sums(flat, shift, bufs), _sums(row, shift, bufs)
        return s - kb * rs_, q - kb * rq

    acc.moments(n, sums(acc.shift), sums)


def _by_element(v, acc: _FloatAcc, bufs) -> None:
    """Any values, NaN/±inf counted element by element (for small parts: the bad rows, a
    chunk's tail, a chunk mostly NaN)."""
    import torch

    n = v.numel()
    if n == 0:
        return
    fin = torch.isfinite(v)
    n_fin = int(fin.sum().item())
    if n_fin < n:
        nan = int(torch.isnan(v).sum().item())
        pos = int((v == math.inf).sum().item())
        acc.nan += nan
        acc.posinf += pos
        acc.neginf += n - n_fin - nan - pos
        v = v[fin]
        if n_fin == 0:
            return
    mn, mx = torch.aminmax(v)
    mn, mx = mn.item(), mx.item()
    acc.minmax(mn, mx)
    acc.zeros += _zeros(v, mn, mx)
    acc.moments(n_fin, _sums(v, acc.shift, bufs), lambda shift: _sums(v, shift, bufs))
