"""Statistics of floating-point values through the compiled one-pass kernel (``_fused``, built
from ``_fused.c`` at install when a C compiler is there).

One call per chunk reads each value once (float32, float64, and bfloat16/float16 widened to
float32 as they are read) and returns its NaN/+inf/-inf/zero counts, the min and max of its
finite values, and the sum and sum of squares of (finite value - shift): the tensor is read from
memory once, whatever it holds. NumPy and torch offer each of these as its own pass
(``float_stats``, the fallback, makes 4-8 of them per cache-sized chunk), and numba, the library
for writing such loops, vectorized it poorly here (of five variants the best took 2.7-3.4x
``x.sum()``, the others 10-20x), after 0.3 s of import and 0.5-0.8 s on its first call. A chunk
whose float32 sums overflow (values beyond ~1e19) is handed to ``float_stats``'s passes, which
sum such chunks in float64.
"""

from __future__ import annotations

import math

#: elements per call on a tensor already contiguous in its working dtype: one pass, so the
#: chunk need not fit in cache; large enough that the ~1 µs per call stays out of sight
FUSED_CHUNK = 1 << 20

_UNSET = object()
_module = _UNSET


def kernel():
    """The compiled module, or None when it was not built (or ``AUTODIFF_MAGICS_NO_KERNEL`` is set)."""
    global _module
    if _module is _UNSET:
        import os

        _module = None
        if not os.environ.get("AUTODIFF_MAGICS_NO_KERNEL"):
            try:
                from . import _fused

                _module = _fused
            except ImportError:
                pass
    return _module


def fused_stats(fused, u, chunk: int, blocks, acc, bufs) -> None:
    """``u``'s statistics (or ``blocks``'s, see ``_float_stats``) into ``acc``, chunk by chunk."""
    import torch

    from . import float_stats as fs

    work = acc.work
    kinds = {torch.float32: "f", torch.float64: "d", torch.bfloat16: "b", torch.float16: "e"}
    kind = kinds.get(u.dtype)
    if blocks is None and kind is not None and kind in fused.kinds and fs.in_place(u):
        pieces = u.view(-1).split(FUSED_CHUNK)  # read in place, 16-bit floats widened as they are read
    else:  # copied (converted) into a cache-sized buffer, then read from cache
        kind = kinds[work]
        pieces = (v for v, _ in fs._copied_pairs(fs._pieces(blocks, bufs.size) if blocks is not None
                                                 else fs._blocks(u, chunk), work, bufs))
    stats = fused.block_stats
    isfinite = math.isfinite
    for v in pieces:
        n = v.numel()
        if n == 0:
            continue
        p = v.data_ptr()
        nan, pinf, ninf, zeros, s, q, mn, mx = stats(p, n, kind, acc.shift or 0.0)
        if not (isfinite(s) and isfinite(q)):  # float32 sums beyond range: float64 passes
            fs._loop(fs._pairs(v, bufs.size, None, work, bufs), acc, bufs)
            continue
        acc.nan += nan
        acc.posinf += pinf
        acc.neginf += ninf
        acc.zeros += zeros
        m = n - nan - pinf - ninf
        if m:
            acc.minmax(mn, mx)
            acc.moments(m, (s, q), lambda shift, p=p, n=n: stats(p, n, kind, shift)[4:6])
    acc.flush()
