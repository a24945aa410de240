"""Statistics of floating-point values in one pass over memory.

On the CPU the compiled kernel does it (``float_fused``); this module's passes are the fallback
where it was not built, and take the chunks it cannot (float32 sums beyond range), and the
accelerators' chunks.

Each chunk (512 KiB on the CPU: the chunk, a scratch copy and flags fit in this CPU's 1 MiB L2;
1 MiB chunks spilled it) is first summed by torch: that read is the only one from memory, and a
sum that is not finite says the chunk may hold a NaN or an infinity. A clean chunk then needs,
all from cache, the sum of squares (for float32 OpenBLAS's ``dot``, 2x faster than torch's MKL
one here) and min, max and the zero check from reductions over integer views of its bits (see
``_bit_range``: 1.5x faster than NumPy's float min and max; no ``== 0`` pass unless a zero is
there), through NumPy over one view of the whole tensor (reading its memory in place by
address). Its (count, sum, sum of squares) is added to running totals and its min/max bits are
kept, converted in bulk.
Chunks with NaN/±inf are ``float_specials``'s; after one, the next chunk starts with its copy,
not a sum. Partial results are combined in float64 on the host (Chan et al.).
"""

from __future__ import annotations

import math
from typing import Any

from .chunks import _blocks, _Buffers

__all__ = ["_float_stats"]


#: chunks whose min/max bits are kept (as NumPy scalars) before they are folded
BATCH = 1 << 12


class _FloatAcc:
    """Running statistics of one tensor: counts, min, max and moments (relative to ``shift``
    once one part's mean dominates its spread, so the sums of squares keep their digits)."""

    def __init__(self, work) -> None:
        import numpy as np
        import torch

        from .statistics import _Moments

        self.work = work
        self.mom = _Moments()
        self.lo, self.hi = math.inf, -math.inf
        self.nan = self.posinf = self.neginf = self.zeros = 0
        self.shift: float | None = None
        self.n_batched, self.s_batched, self.q_batched = 0, 0.0, 0.0  # clean chunks' (see flush)
        self.single = work == torch.float32
        self.float = np.dtype(np.float32 if self.single else np.float64)
        self.sbits = np.dtype(np.int32 if self.single else np.int64)
        self.ubits = np.dtype(np.uint32 if self.single else np.uint64)
        self.lowest = np.iinfo(self.sbits).min  # the bits of -0.0 as a signed integer
        self.max, self.min = np.maximum.reduce, np.minimum.reduce  # without ndarray.max's Python wrapper
        # chunks' min and max as bits (see _bit_range), converted in bulk by fold_bits
        self.min_bits: list = []
        self.max_bits: list = []
        self.min_ubits: list = []
        self.specials: list = []  # the NaN/±inf values of chunks, classified in bulk (classify)
        self.n_specials = 0

    def classify(self) -> None:
        """Count the collected NaN/±inf values as NaN, +inf and -inf."""
        if not self.specials:
            return
        import numpy as np

        sp = np.concatenate(self.specials) if len(self.specials) > 1 else self.specials[0]
        self.specials, self.n_specials = [], 0
        nan = int(np.count_nonzero(np.isnan(sp)))
        pos = int(np.count_nonzero(sp > 0))  # NaN compares false
        self.nan += nan
        self.posinf += pos
        self.neginf += sp.size - nan - pos

    def add_specials(self, values) -> None:
        self.specials.append(values)
        self.n_specials += values.size
        if self.n_specials >= 1 << 18:  # at most 2 MiB held
            self.classify()

    def flush(self) -> None:
        """Merge the batched chunks, and their min and max bits. Each batched chunk passed
        m2 >= q/8 (its sum of squared deviations against its sum of squares), so their totals
        do too (the chunks' deviations from the common mean only add to m2): the merged
        m2 = q - s²/n loses at most 3 bits, as each chunk's own would have."""
        self.fold_bits()
        n = self.n_batched
        if n:
            s, q = self.s_batched, self.q_batched
            self.mom.add(n, s / n, max(q - s * s / n, 0.0))
            self.n_batched, self.s_batched, self.q_batched = 0, 0.0, 0.0

    def keep(self, n: int, s: float, q: float) -> None:
        """Batch a chunk's (count, sum, sum of squares): added up, merged by ``flush``."""
        self.n_batched += n
        self.s_batched += s
        self.q_batched += q
        if len(self.max_bits) >= BATCH:  # bounded lists whatever the tensor's size
            self.fold_bits()

    def fold_bits(self) -> None:
        """The chunks' min and max bits (``_bit_range``) as floats into ``lo`` and ``hi``."""
        import numpy as np

        for bits, dtype in ((self.min_bits, self.sbits), (self.min_ubits, self.ubits)):
            if bits:
                self.lo = min(self.lo, float(np.array(bits, dtype=dtype).view(self.float).min()))
                bits.clear()
        if self.max_bits:
            self.hi = max(self.hi, float(np.array(self.max_bits, dtype=self.sbits).view(self.float).max()))
            self.max_bits.clear()

    def minmax(self, mn: float, mx: float) -> None:
        self.lo, self.hi = min(self.lo, mn), max(self.hi, mx)

    def moments(self, n: int, sums, recompute) -> None:
        """Add ``n`` values whose (sum, sum of squares) around the current shift are ``sums``;
        ``recompute(shift)`` gives them around another shift."""
        if len(self.max_bits) >= BATCH:
            self.fold_bits()
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
        self.classify()
        self.flush()
        s = {"min": None, "max": None, "mean": None, "std": None, "nan": self.nan, "posinf": self.posinf,
             "neginf": self.neginf, "zeros": self.zeros, "count": self.mom.n, "sum": None, "_m2": self.mom.m2}
        if self.mom.n:
            s.update(min=self.lo, max=self.hi, mean=self.mom.mean, sum=self.mom.mean * self.mom.n)
        return s


def _as_dtype(x: float, dtype) -> float:
    """``x`` rounded as a scalar of ``dtype`` is when torch uses it in that dtype."""
    import torch

    return x if dtype == torch.float64 else float(torch.tensor(x, dtype=dtype).item())


#: CPU chunk for floats: half of L2 (512 KiB): the chunk, the scratch copy and the flags stay
#: in the 1 MiB L2 (1 MiB spilled it: each pass from cache cost twice as much)
FLOAT_CPU_CHUNK_BYTES = 1 << 19


def _float_stats(u, chunk: int, blocks=None) -> dict[str, Any]:
    """Statistics of a floating tensor ``u`` (in memory order), chunk by chunk; ``blocks``
    replaces the chunks of ``u`` (e.g. the unmasked values of a masked array)."""
    import torch

    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    if u.device.type == "cpu":
        # in bytes of the tensor's own elements: 16-bit floats are read as half a buffer of float32
        # (their conversion into it costs more per chunk than the passes: 0-10% faster in 4 runs)
        chunk = max(1 << 10, min(chunk, FLOAT_CPU_CHUNK_BYTES // max(2, u.element_size())))
    acc = _FloatAcc(work)
    bufs = _Buffers(min(chunk, max(u.numel(), 1)), work, u.device)
    fused = kernel() if u.device.type == "cpu" else None
    import numpy as np

    with np.errstate(over="ignore"):  # a dot that overflows is redone in float64 (_dot)
        if fused is not None:
            fused_stats(fused, u, chunk, blocks, acc, bufs)
        else:
            _loop(_pairs(u, chunk, blocks, work, bufs), acc, bufs)
    return acc.result()


def _pairs(u, chunk: int, blocks, work, bufs):
    """(contiguous 1-D tensor of ``work``, NumPy view of it or None off the CPU) per chunk: slices
    of one NumPy view of the whole tensor when it is contiguous in ``work`` (no ctypes per
    chunk), else each chunk copied into a reused buffer."""
    if blocks is None and u.dtype == work and in_place(u):
        flat = u.view(-1)
        whole = _host(flat)
        if whole is not None:
            return zip(_split(flat, chunk), (whole[i : i + chunk] for i in range(0, whole.size, chunk)))
    return _copied_pairs(_pieces(blocks, bufs.size) if blocks is not None else _blocks(u, chunk), work, bufs)


def in_place(t) -> bool:
    """Whether ``t``'s memory can be read as its values: contiguous, and no negative bit (a lazy
    negation such as ``z.conj().imag`` or ``torch._neg_view`` stores the values un-negated;
    copying resolves it)."""
    return t.is_contiguous() and not t.is_neg()


def _split(flat, chunk: int):
    """``flat`` in chunks: views made by ``split`` (a third of a slice's cost), 1,024 at a time
    (bounded memory whatever the size)."""
    step = chunk << 10
    for i in range(0, flat.numel(), step):
        yield from flat[i : i + step].split(chunk)


def _pieces(blocks, size: int):
    """A caller's blocks (a masked array's unmasked values, cut by the generic chunk size) in
    pieces of at most ``size`` elements, the size of the scratch buffers."""
    for c in blocks:
        if c.numel() > size:
            yield from c.reshape(-1).split(size)
        else:
            yield c


def _copied_pairs(chunks, work, bufs):
    whole = None  # a NumPy view of the copy buffer, made once
    for c in chunks:
        n = c.numel()
        if n == 0:
            continue
        if c.dtype == work and in_place(c):
            v = c.view(-1)
            yield v, _host(v)
            continue
        v = bufs.copy(c)
        if whole is None:
            whole = _host(bufs.copy_buffer())
        yield v, None if whole is None else whole[:n]


def _loop(pairs, acc: _FloatAcc, bufs) -> None:
    """Each chunk's torch ``sum`` is its one read from memory, unless the chunk before held
    NaN/±inf: then a copy is (``_sprinkled``), until a chunk without any. A clean chunk is
    ``_batched``'s unless its mean dominates or its squares overflow."""
    isfinite = math.isfinite
    batched = _batched
    hot = False
    for v, a in pairs:
        if a is None:  # off the CPU: isfinite and friends are fast there, element by element
            acc.flush()
            total = v.sum().item()
            if isfinite(total):
                _clean(v, a, total, acc, bufs)
            else:
                _by_element(v, acc, bufs)
            continue
        if hot:
            hot = _sprinkled(v, a, acc, bufs)
            continue
        total = v.sum().item()
        if not isfinite(total):
            acc.flush()
            hot = _sprinkled(v, a, acc, bufs)
            continue
        if acc.shift is None and batched(v, a, total, acc, bufs):
            continue
        acc.flush()
        _clean(v, a, total, acc, bufs)
    acc.flush()


def _batched(v, a, total: float, acc: _FloatAcc, bufs) -> bool:
    """A clean CPU chunk with the least Python per chunk: the sum of squares, and min, max and
    the zero check from integer views (``_bit_range``); its (count, sum, sum of squares) kept
    for one merge at the end. False (nothing done) when it needs the general path (squares
    overflow, or its mean dominates)."""
    q = float(a.dot(a)) if acc.single else v.dot(v).item()  # NumPy's float64 dot: see _dot
    n = a.size
    if not (q - total * total / n >= q / 8) or q == math.inf:
        return False
    if _bit_range(a, acc):
        acc.zeros += _count_zeros(a, bufs)
    acc.keep(n, total, q)
    return True


def _bit_range(a, acc: _FloatAcc) -> bool:
    """Min and max of a chunk without NaN/±inf from reductions over integer views of its bits
    (1.5x faster than NumPy's float min and max, which check for NaN), kept as bits and
    converted in bulk (``fold_bits``); True when it holds a zero (+0 or -0). As signed integers,
    non-negative floats order as they are and negative ones reversed, below them (-0.0 is the
    lowest); as unsigned, negative floats follow all non-negative ones, -0.0 first. So: the
    signed max is the float max when a value is non-negative; all non-negative: the signed min
    is the float min (+0 when it is 0); all negative: the signed max is the float min and the
    signed min the float max (-0.0 when it is the lowest integer); both signs: the unsigned max
    is the float min, and a zero is -0.0 as the signed min or +0 as the unsigned min."""
    s = a.view(acc.sbits)
    hi, lo = acc.max(s), acc.min(s)
    if lo >= 0:
        acc.max_bits.append(hi)
        acc.min_bits.append(lo)
        return lo == 0
    if hi < 0:
        acc.min_bits.append(hi)
        acc.max_bits.append(lo)
        return lo == acc.lowest
    us = a.view(acc.ubits)
    acc.max_bits.append(hi)
    acc.min_ubits.append(acc.max(us))
    return lo == acc.lowest or acc.min(us) == 0


def _count_zeros(a, bufs) -> int:
    import numpy as np

    return int(np.count_nonzero(np.equal(a, 0, out=bufs.flags(a.size))))


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
        n = t.numel()
        if a is not None:  # into a second buffer, by NumPy: no tensor slice, no view per chunk
            import numpy as np

            t, into = _second(bufs)
            if n < into.size:
                t, into = t[:n], into[:n]
            a = np.subtract(a, shift, out=into)
        else:
            t = torch.sub(t, shift, out=bufs.tmp2(n))
    total = t.sum().item()
    if not math.isfinite(total):  # finite values whose sum overflows the dtype: accumulate in float64
        total = t.sum(dtype=torch.float64).item()
    return total, _dot(t, a)


def _second(bufs):
    """The second scratch buffer, whole, and a NumPy view of it (made once per call)."""
    held = getattr(bufs, "second", None)
    if held is None:
        t = bufs.tmp2(bufs.size)
        held = bufs.second = (t, _host(t))
    return held


def _zeros(t, mn: float, mx: float) -> int:
    """Zeros (±0) among the finite values in [mn, mx] of a chunk off the CPU."""
    if mn > 0 or mx < 0:
        return 0
    n = t.numel()
    if mn == 0 and mx == 0:
        return n
    import torch

    return n - int(torch.count_nonzero(t).item())


def _minmax(t) -> tuple[float, float]:
    return t.amin().item(), t.amax().item()  # two passes from cache beat one aminmax (3x slower here)


def _range_and_zeros(t, a, acc: _FloatAcc, bufs) -> int:
    """Min and max of a chunk without NaN/±inf into ``acc``; its zeros (±0) returned."""
    if a is not None:
        return _count_zeros(a, bufs) if _bit_range(a, acc) else 0
    mn, mx = _minmax(t)
    acc.minmax(mn, mx)
    return _zeros(t, mn, mx)


def _clean(v, a, total: float, acc: _FloatAcc, bufs) -> None:
    """A chunk without NaN/±inf: min, max, the sum of squares and the zero check, all from cache."""
    acc.zeros += _range_and_zeros(v, a, acc, bufs)
    if acc.shift is None:
        sums = (total, _dot(v, a))
    else:
        sums = _sums(v, a, acc.shift, bufs)
    acc.moments(v.numel(), sums, lambda shift: _sums(v, a, shift, bufs))


from .float_fused import fused_stats, kernel  # noqa: E402 - its fallback is this module's passes
from .float_specials import _by_element, _sprinkled  # noqa: E402 - they use this module's passes
