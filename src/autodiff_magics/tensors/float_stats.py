"""Statistics of floating-point values in one pass over memory.

Each chunk (1 MiB on the CPU, about L2's size, so it stays in cache) is first summed by torch:
that read is the only one from memory, and a sum that is not finite says the chunk may hold a NaN
or an infinity. A clean chunk then needs min, max, the sum of squares and, when its range holds 0,
the zero check, all from cache: on the CPU through NumPy over one view of the whole tensor
(reading its memory in place by address): min, max, ``== 0`` flags (counted only when one is set)
and, for float32, OpenBLAS's ``dot`` (2x faster than torch's MKL one here); its (count, sum, sum
of squares) is kept and all are merged once at the end. Chunks with NaN/±inf are
``float_specials``'s. Partial results are combined in float64 on the host (Chan et al.).
"""

from __future__ import annotations

import math
from typing import Any

from .chunks import _blocks, _Buffers

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
        self.batch: list[tuple[int, float, float]] = []  # (count, sum, sum of squares) of clean chunks

    def flush(self) -> None:
        """Merge the batched chunks at once: Chan et al.'s sum, vectorised in float64."""
        if not self.batch:
            return
        import numpy as np

        n, s, q = np.array(self.batch, dtype=np.float64).T
        self.batch = []
        mean = s / n
        total = n.sum()
        m = s.sum() / total
        m2 = np.maximum(q - s * mean, 0.0).sum() + (n * (mean - m) ** 2).sum()
        self.mom.add(int(total), float(m), float(m2))

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


#: CPU chunk for floats: L2-sized (1 MiB; 4 MiB sat in L3, 512 KiB costs more per-call overhead)
FLOAT_CPU_CHUNK_BYTES = 1 << 20


def _float_stats(u, chunk: int, blocks=None) -> dict[str, Any]:
    """Statistics of a floating tensor ``u`` (in memory order), chunk by chunk; ``blocks``
    replaces the chunks of ``u`` (e.g. the unmasked values of a masked array)."""
    import torch

    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    if u.device.type == "cpu":
        chunk = max(1 << 10, min(chunk, FLOAT_CPU_CHUNK_BYTES // (8 if work == torch.float64 else 4)))
    acc = _FloatAcc(work)
    bufs = _Buffers(min(chunk, max(u.numel(), 1)), work, u.device)
    import numpy as np

    with np.errstate(over="ignore"):  # a dot that overflows is redone in float64 (_dot)
        return _loop(u, chunk, blocks, work, acc, bufs)


def _loop(u, chunk, blocks, work, acc, bufs) -> dict[str, Any]:
    whole = _host(u.view(-1)) if blocks is None and u.dtype == work and u.is_contiguous() else None
    start = 0
    for c in blocks if blocks is not None else _blocks(u, chunk):
        n = c.numel()
        if n == 0:
            continue
        if whole is not None:  # a slice of one NumPy view of the whole tensor (no ctypes per chunk)
            v, a = c.view(-1), whole[start : start + n]
            start += n
        else:
            v = c.view(-1) if c.dtype == work and c.is_contiguous() else bufs.copy(c)
            a = _host(v)
        total = v.sum().item()  # the one read from memory; NaN or ±inf here says a chunk has them
        if a is not None and acc.shift is None and math.isfinite(total) and _batched(a, total, acc, bufs):
            continue
        acc.flush()
        if math.isfinite(total):
            _clean(v, a, total, acc, bufs)
        elif a is not None:
            _sprinkled(v, a, acc, bufs)
        else:  # on accelerators isfinite and friends are fast: count element by element
            _by_element(v, acc, bufs)
    acc.flush()
    return acc.result()


def _batched(a, total: float, acc: _FloatAcc, bufs) -> bool:
    """A clean CPU chunk with the least Python per chunk: min, max, zeros and the sum of
    squares by NumPy, its (count, sum, sum of squares) kept for one merge at the end; False
    (nothing done) when it needs the general path (squares overflow, or its mean dominates)."""
    q = _dot(None, a)
    n = a.size
    if not (q - total * total / n >= q / 8) or q == math.inf:
        return False
    mn, mx = float(a.min()), float(a.max())
    if mn < acc.lo:
        acc.lo = mn
    if mx > acc.hi:
        acc.hi = mx
    if mn <= 0 <= mx:
        import numpy as np

        eq = np.equal(a, 0, out=bufs.flags(n))
        acc.zeros += int(np.count_nonzero(eq)) if eq.view(np.uint8).max() else 0
    acc.batch.append((n, total, q))
    return True


def _host(t):
    """A NumPy array over a contiguous CPU tensor's memory, read in place through its address
    (not ``t.numpy()``, which would mark a user's storage as not resizable for good), or None
    on other devices. NumPy's min, max, ``== 0``, isfinite and (OpenBLAS) dot are 1.2-20x faster
    than torch's here; torch's ``sum`` is the faster one."""
    if t.device.type != "cpu":
        return None
    import ctypes

    import numpy as np

    n = t.numel()
    dtype = np.float64 if t.element_size() == 8 else np.float32
    if n == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer((ctypes.c_char * (n * t.element_size())).from_address(t.data_ptr()), dtype=dtype)


def _dot(t, a=None) -> float:
    """The sum of squares: for float32 NumPy's dot over the host view ``a`` (OpenBLAS's sdot,
    single-threaded at chunk sizes as measured by CPU time, 2x faster than torch's MKL dot on this
    AMD CPU), else torch's."""
    import torch

    if a is not None and a.dtype.itemsize == 4:
        q = float(a.dot(a))
    else:  # NumPy's float64 dot (ddot) wakes a second OpenBLAS thread: 30x slower on a busy machine
        t = torch.from_numpy(a) if t is None else t
        q = torch.dot(t, t).item()
    if not math.isfinite(q):  # squares beyond the dtype's range: sum them in float64, a slice at a time
        t = torch.from_numpy(a) if t is None else t
        q = sum(torch.dot(p, p).item() for p in (t[i : i + (1 << 16)].double() for i in range(0, t.numel(), 1 << 16)))
    return q


def _sums(t, a, shift, bufs):
    """(sum, sum of squares) of ``t`` (host view ``a`` or None) around ``shift`` (None: around 0)."""
    import torch

    if shift is not None:
        t = torch.sub(t, shift, out=bufs.tmp2(t.numel()))
        a = _host(t) if a is not None else None
    total = t.sum().item()
    if not math.isfinite(total):  # finite values whose sum overflows the dtype: accumulate in float64
        total = t.sum(dtype=torch.float64).item()
    return total, _dot(t, a)


def _zeros(t, a, mn: float, mx: float, bufs) -> int:
    """Zeros (±0) among finite values in [mn, mx]: none when the range leaves out 0."""
    import torch

    if mn > 0 or mx < 0:
        return 0
    n = t.numel()
    if mn == 0 and mx == 0:
        return n
    if a is not None:
        import numpy as np

        eq = np.equal(a, 0, out=bufs.flags(n))
        return int(np.count_nonzero(eq)) if eq.view(np.uint8).max() else 0  # max: 2x cheaper than a count
    return n - int(torch.count_nonzero(t).item())


def _minmax(t, a=None) -> tuple[float, float]:
    if a is not None:
        return float(a.min()), float(a.max())
    return t.amin().item(), t.amax().item()  # two passes from cache beat one aminmax (3x slower here)


def _clean(v, a, total: float, acc: _FloatAcc, bufs) -> None:
    """A chunk without NaN/±inf: min, max, the sum of squares and the zero check, all from cache."""
    mn, mx = _minmax(v, a)
    acc.minmax(mn, mx)
    acc.zeros += _zeros(v, a, mn, mx, bufs)
    if acc.shift is None:
        sums = (total, _dot(v, a))
    else:
        sums = _sums(v, a, acc.shift, bufs)
    acc.moments(v.numel(), sums, lambda shift: _sums(v, a, shift, bufs))


from .float_specials import _by_element, _sprinkled  # noqa: E402 - they use this module's passes
