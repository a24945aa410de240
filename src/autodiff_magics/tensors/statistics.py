"""Statistics of integer, boolean and complex values chunk by chunk (floats: ``float_stats``),
and how the standard deviation is finally taken (n or n−1, the object's library's convention).

Integer sums are exact at any size and for every integer dtype, with no float copy of the
tensor: each chunk is summed in int64 where that cannot overflow, else as high and low 32-bit
halves, and the chunk sums are added as Python integers; uint64 is summed through its int64 bit
pattern plus 2⁶⁴ per value at or above 2⁶³. The mean is that exact sum divided by the count
(Python rounds the quotient of two integers correctly).
"""

from __future__ import annotations

import math
from typing import Any

from .chunks import _blocks, _contiguous_work, _scratch

__all__ = ["finish_std"]


class _Moments:
    """Count, mean and sum of squared deviations, merged chunk by chunk (Chan et al.)."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, n: int, mean, m2: float) -> None:
        if n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = n, mean, m2
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 += m2 + abs(delta) ** 2 * (self.n * n / total)
        self.n = total


def _empty_stats() -> dict[str, Any]:
    return {"min": None, "max": None, "mean": None, "std": None, "nan": 0, "posinf": 0, "neginf": 0, "zeros": 0,
            "count": 0, "sum": None, "_m2": 0.0}


def finish_std(s: dict[str, Any], mult: int, ddof: int) -> None:
    """Set ``s["std"]`` from the sum of squared deviations, each distinct value counted ``mult``
    times (a broadcast tensor), dividing by n − ddof; None when n ≤ ddof."""
    m2 = s.pop("_m2", None)
    n = s["count"]
    s["std"] = math.sqrt(max(m2, 0.0) * mult / (n - ddof)) if m2 is not None and n > ddof else None


_HALF = 1 << 32


def _int64_sum(v, mn: int, mx: int, buf: list) -> int:
    """Exact sum of a contiguous int64 chunk as a Python int."""
    import torch

    n = v.numel()
    if max(abs(mn), abs(mx)) * n < 2**63:
        return int(v.sum().item())
    part = _scratch(buf, n, v)
    lo = int(torch.bitwise_and(v, _HALF - 1, out=part).sum().item())  # each < 2**32: no overflow
    hi = int(torch.bitwise_right_shift(v, 32, out=part).sum().item())  # arithmetic: -2**31 <= hi < 2**31
    return hi * _HALF + lo


def _int_stats(u, chunk: int, blocks=None) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    unsigned64 = u.dtype == torch.uint64
    small_native = u.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32)
    mom = _Moments()
    lo, hi = None, None
    total = 0
    ibuf: list = [None]
    part: list = [None]
    fbuf: list = [None]
    tmp: list = [None]
    for c in blocks if blocks is not None else _blocks(u, chunk):
        if unsigned64:
            v = _contiguous_work(c, ibuf, torch.uint64).view(torch.int64)  # the same bits, signed
        else:
            v = _contiguous_work(c, ibuf, c.dtype if small_native or c.dtype == torch.int64 else torch.int64)
        n = v.numel()
        if n == 0:
            continue
        mn, mx = (int(t.item()) for t in torch.aminmax(v))
        if small_native:
            csum = int(v.sum(dtype=torch.int64).item())  # |values| < 2**32: int64 holds any chunk's sum
        else:
            csum = _int64_sum(v, mn, mx, part)
        f = _contiguous_work(v, fbuf, torch.float64)
        if unsigned64 and mn < 0:  # bit patterns of values >= 2**63
            high = v < 0
            k = int(high.sum().item())
            csum += k * 2**64
            f.add_(high.to(torch.float64), alpha=2.0**64)
            if k == n:
                mn, mx = mn + 2**64, mx + 2**64
            else:
                below = torch.where(high, torch.iinfo(torch.int64).max, v).amin().item()
                mn, mx = int(below), int(torch.where(high, v, -1).amax().item()) + 2**64
        lo = mn if lo is None else min(lo, mn)
        hi = mx if hi is None else max(hi, mx)
        if not (mn > 0 or mx < 0):
            s["zeros"] += n - int(torch.count_nonzero(v).item())
        total += csum
        mean = csum / n
        d = _scratch(tmp, n, f)
        torch.sub(f, mean, out=d)
        mom.add(n, mean, torch.dot(d, d).item())
    s["count"] = mom.n
    if mom.n:
        s["min"], s["max"], s["sum"] = lo, hi, total
        s["mean"] = total / mom.n  # exact integers: one correctly rounded division
        s["_m2"] = mom.m2
    return s


def _bool_stats(u, chunk: int, blocks=None) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    n = 0
    trues = 0
    for c in blocks if blocks is not None else _blocks(u, chunk):
        n += c.numel()
        trues += int(torch.count_nonzero(c).item())
    s["count"] = n
    s["zeros"] = n - trues
    if n:
        s["min"], s["max"] = (trues == n), (trues > 0)
        s["mean"], s["sum"], s["_m2"] = trues / n, trues, trues * (n - trues) / n
    return s


def _complex_stats(u, chunk: int, blocks=None) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    work = torch.complex128 if u.dtype == torch.complex128 else torch.complex64
    mom = _Moments()
    buf: list = [None]
    for c in blocks if blocks is not None else _blocks(u, chunk):
        v = _contiguous_work(c, buf, work)
        finite = torch.isfinite(v)
        n_fin = int(finite.sum().item())
        if n_fin < v.numel():
            re, im = v.real, v.imag
            s["nan"] += int(torch.isnan(v).sum())
            s["posinf"] += int(((re == math.inf) | (im == math.inf)).sum())
            s["neginf"] += int(((re == -math.inf) | (im == -math.inf)).sum())
            v = v[finite]
        n = v.numel()
        if n == 0:
            continue
        mean = complex(v.sum().item()) / n
        d = torch.view_as_real(v - mean).reshape(-1)  # at most one chunk
        mom.add(n, mean, torch.dot(d, d).item())
        s["zeros"] += n - int(torch.count_nonzero(v).item())
    s["count"] = mom.n
    if mom.n:
        s["mean"], s["sum"], s["_m2"] = mom.mean, mom.mean * mom.n, mom.m2
    return s
