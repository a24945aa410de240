"""Chunks of floating-point values that hold NaN/±inf (see ``float_stats``): counted, and their
finite values' statistics taken from a copy with each special replaced; the passes themselves
(and ``_host``, which tests replace to stand in for an accelerator) are ``float_stats``'s."""

from __future__ import annotations

import math

from . import float_stats as _fs


def _scratch_host(bufs, n: int):
    """The scratch tensor ``bufs.tmp(n)`` and a NumPy view of it (made once per call)."""
    flat = bufs.tmp(n)
    whole = getattr(bufs, "tmp_host", None)
    if whole is None:
        whole = bufs.tmp_host = _fs._host(bufs.tmp(bufs.size))
    return flat, whole[:n]


def _sprinkled(v, a, acc, bufs) -> bool:
    """A CPU chunk that may hold NaN/±inf (True when it does): NumPy's isfinite (fast) finds
    them, they are counted, and the chunk is copied into a scratch buffer (in cache) with each
    replaced by one finite value of the chunk, whose share of the sums is then taken off; min
    and max do not change. Without any, it is a clean chunk (its sum may overflow)."""
    import numpy as np
    import torch

    n = a.size
    fin = np.isfinite(a, out=bufs.flags(n))
    where = _not_finite_positions(fin)
    k = where.size
    if k == 0:
        total = v.sum().item()
        if not math.isfinite(total):  # finite values whose sum overflows the dtype
            total = v.sum(dtype=torch.float64).item()
        _fs._clean(v, a, total, acc, bufs)
        return False
    if k == n:
        _by_element(v, acc, bufs)
        return True
    special = a[where]
    nan = int(np.count_nonzero(np.isnan(special)))
    pos = int(np.count_nonzero(special == np.inf))
    acc.nan += nan
    acc.posinf += pos
    acc.neginf += k - nan - pos
    fill = float(a[int(np.argmax(fin))])  # the first finite value
    flat, fa = _scratch_host(bufs, n)
    np.copyto(fa, a)
    fa[where] = fill
    mn, mx = _fs._minmax(flat, fa)
    acc.minmax(mn, mx)
    acc.zeros += _fs._zeros(flat, fa, mn, mx, bufs) - (k if fill == 0 else 0)

    def sums(shift):
        s, q = _fs._sums(flat, fa, shift, bufs)
        f = fill - (shift or 0.0)
        return s - k * f, q - k * f * f

    acc.moments(n - k, sums(acc.shift), sums)
    return True


#: eight True bytes: a word of ``isfinite`` flags with no NaN/inf among its 8 elements
_ALL_FINITE = int.from_bytes(b"\x01" * 8, "little")
_ALL_FINITE_U64 = None  # the same as a NumPy uint64 (a Python int there costs 2x in the comparison)


def _not_finite_positions(fin):
    """Positions of the False flags, found by words of 8 flags (8x fewer comparisons: NaN/inf
    are usually rare), then checked one by one inside the words that are not all True."""
    import numpy as np

    global _ALL_FINITE_U64
    if _ALL_FINITE_U64 is None:
        _ALL_FINITE_U64 = np.uint64(_ALL_FINITE)
    n8 = fin.size - fin.size % 8
    words = np.flatnonzero(fin[:n8].view(np.uint64) != _ALL_FINITE_U64)
    near = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    tail = np.arange(n8, fin.size)
    near = np.concatenate((near, tail)) if tail.size else near
    return near[~fin[near]]


def _by_element(v, acc, bufs) -> None:
    """Any values, NaN/±inf counted element by element (a chunk of only NaN/inf, or any chunk
    on an accelerator)."""
    import torch

    n = v.numel()
    if n == 0:
        return
    n_fin, fin = _finite_mask(v)
    if n_fin < n:
        nan = int(torch.isnan(v).sum().item())
        pos = int((v == math.inf).sum().item())
        acc.nan += nan
        acc.posinf += pos
        acc.neginf += n - n_fin - nan - pos
        v = v[fin]
        if n_fin == 0:
            return
    a = _fs._host(v)
    mn, mx = _fs._minmax(v, a)
    acc.minmax(mn, mx)
    acc.zeros += _fs._zeros(v, a, mn, mx, bufs)
    acc.moments(n_fin, _fs._sums(v, a, acc.shift, bufs), lambda shift: _fs._sums(v, a, shift, bufs))


def _finite_mask(t):
    """(number of finite values, a mask of them as a torch bool tensor)."""
    import torch

    a = _fs._host(t)
    if a is None:
        fin = torch.isfinite(t)
        return int(fin.sum().item()), fin
    import numpy as np

    m = np.isfinite(a)  # 20x faster than torch.isfinite here
    return int(np.count_nonzero(m)), torch.from_numpy(m)
