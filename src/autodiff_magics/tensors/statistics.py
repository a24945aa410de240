"""Min, max, mean, std and NaN/±inf/zero counts, chunk by chunk."""

from __future__ import annotations

import math
from typing import Any

from .chunks import _blocks, _Buffers, _contiguous_work, _scratch


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

    def std(self):
        return math.sqrt(max(self.m2, 0.0) / self.n) if self.n else None


def _empty_stats() -> dict[str, Any]:
    return {"min": None, "max": None, "mean": None, "std": None, "nan": 0, "posinf": 0, "neginf": 0, "zeros": 0, "count": 0}


def _float_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    s = _empty_stats()
    mom = _Moments()
    lo, hi = math.inf, -math.inf
    bufs = _Buffers(min(chunk, max(u.numel(), 1)), work, u.device)
    shift = None  # once one chunk's mean dominates its spread, measure around that mean
    aminmax, dot, sub, sign = torch.aminmax, torch.dot, torch.sub, torch.sign
    for c in _blocks(u, chunk):
        v = c.view(-1) if c.dtype == work and c.is_contiguous() else bufs.copy(c)
        n = v.numel()
        mn, mx = aminmax(v)
        mn, mx = mn.item(), mx.item()
        raw = v
        n_fin = n
        zeros = None
        if not (math.isfinite(mn) and math.isfinite(mx)):
            # NaN or ±inf here. Boolean tests (isfinite, isnan) cost 10-30 sums each on the CPU,
            # so everything is counted with float passes: zeros stand in for the non-finite values
            v = torch.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0, out=bufs.tmp(n))
            z = sign(v, out=bufs.tmp2(n))
            nonzero = round(dot(z, z).item())  # finite and not 0
            b = sign(raw, out=bufs.tmp3(n))  # ±1 for ±inf, NaN for NaN
            diff = round(torch.nansum(b).item() - z.sum().item())  # posinf - neginf
            b.mul_(b)
            infs = round(torch.nansum(b).item()) - nonzero  # posinf + neginf
            nan = 0
            if math.isnan(mn):
                u = torch.nan_to_num(raw, nan=1.0, posinf=0.0, neginf=0.0, out=b)
                sign(u, out=u)
                nan = round(dot(u, u).item()) - nonzero
            s["nan"] += nan
            s["posinf"] += (infs + diff) // 2
            s["neginf"] += (infs - diff) // 2
            n_fin = n - nan - infs
            zeros = n_fin - nonzero
            if n_fin == 0:
                continue
            mn, mx = aminmax(v)
            mn, mx = mn.item(), mx.item()
            if zeros == 0:  # a stand-in 0 is not a value: take min/max with the largest finite stand-ins
                big = torch.finfo(work).max
                if mn == 0:
                    mn = torch.nan_to_num(raw, nan=big, posinf=big, neginf=big, out=bufs.tmp3(n)).amin().item()
                if mx == 0:
                    mx = torch.nan_to_num(raw, nan=-big, posinf=-big, neginf=-big, out=bufs.tmp3(n)).amax().item()
        lo, hi = min(lo, mn), max(hi, mx)
        if shift is None:
            total = v.sum().item()
            sq = dot(v, v).item()
            mean = total / n_fin
            m2 = sq - total * mean
            if m2 >= sq / 8:
                mom.add(n_fin, mean, m2)
            else:
                # the mean dominates: sq - total*mean would cancel digits
                shift = _as_dtype(mean, work)
        if shift is not None:
            d = sub(raw, shift, out=bufs.tmp2(n))
            if n_fin < n:
                torch.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0, out=d)  # NaN - shift is still NaN
            rest = d.sum().item()
            mom.add(n_fin, shift + rest / n_fin, max(dot(d, d).item() - rest * rest / n_fin, 0.0))
        if zeros is not None:
            s["zeros"] += zeros
        elif mn > 0 or mx < 0:
            continue
        elif mn == 0 and mx == 0:
            s["zeros"] += n_fin
        else:
            z = sign(v, out=bufs.tmp2(n))
            s["zeros"] += n - round(dot(z, z).item())
    s["count"] = mom.n
    if mom.n:
        s["min"], s["max"], s["mean"], s["std"] = lo, hi, mom.mean, mom.std()
    return s


def _as_dtype(x: float, dtype) -> float:
    """``x`` rounded as a scalar of ``dtype`` is when torch uses it in that dtype."""
    import torch

    return x if dtype == torch.float64 else float(torch.tensor(x, dtype=dtype).item())


def _int_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    exact = u.dtype not in (torch.uint64,)
    native = u.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
    holder = torch.int64 if exact else torch.float64
    mom = _Moments()
    lo, hi = None, None
    total_exact = 0
    ibuf: list = [None]
    fbuf: list = [None]
    tmp: list = [None]
    for c in _blocks(u, chunk):
        v = _contiguous_work(c, ibuf, c.dtype if native else holder)
        n = v.numel()
        mn, mx = torch.aminmax(v)
        mn, mx = (int(mn.item()), int(mx.item())) if exact else (mn.item(), mx.item())
        lo = mn if lo is None else min(lo, mn)
        hi = mx if hi is None else max(hi, mx)
        if not (mn > 0 or mx < 0):
            s["zeros"] += n - int(torch.count_nonzero(v).item())
        f = _contiguous_work(v, fbuf, torch.float64)
        if exact and max(abs(mn), abs(mx)) * n < 2**62:
            csum = int(v.sum().item())
        else:
            exact = False
            csum = f.sum().item()
        total_exact += csum
        mean = csum / n
        d = _scratch(tmp, n, f)
        torch.sub(f, mean, out=d)
        mom.add(n, mean, torch.dot(d, d).item())
    s["count"] = mom.n
    if mom.n:
        s["min"], s["max"] = lo, hi
        s["mean"] = total_exact / mom.n if exact else mom.mean
        s["std"] = mom.std()
    return s


def _bool_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    n = u.numel()
    trues = 0
    for c in _blocks(u, chunk):
        trues += int(torch.count_nonzero(c).item())
    s["count"] = n
    s["zeros"] = n - trues
    if n:
        p = trues / n
        s["min"], s["max"] = (trues == n), (trues > 0)
        s["mean"], s["std"] = p, math.sqrt(p * (1 - p))
    return s


def _complex_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    work = torch.complex128 if u.dtype == torch.complex128 else torch.complex64
    mom = _Moments()
    buf: list = [None]
    for c in _blocks(u, chunk):
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
        s["mean"], s["std"] = mom.mean, mom.std()
    return s
