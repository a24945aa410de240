"""Chunks of floating-point values that hold NaN/±inf (see ``float_stats``): found by NumPy's
``isfinite``, collected and counted in bulk, and the chunk's finite values' statistics taken from
a copy with each replaced; the passes themselves (and ``_host``, which tests replace to stand in
for an accelerator) are ``float_stats``'s."""

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


def _clean_chunk(v, a, acc, bufs) -> None:
    """A CPU chunk found without NaN/±inf after all: a clean chunk (its sum may overflow)."""
    import torch

    total = v.sum().item()
    if not math.isfinite(total):  # finite values whose sum overflows the dtype
        total = v.sum(dtype=torch.float64).item()
    if acc.shift is not None or not _fs._batched(a, total, acc, bufs):
        acc.flush()
        _fs._clean(v, a, total, acc, bufs)


def _sprinkled(v, a, acc, bufs) -> bool:
    """A CPU chunk that may hold NaN/±inf (True when it does), copied into a scratch buffer:
    that copy is the chunk's one read from memory, and every later pass reads the copy from L2
    (copying after ``isfinite`` on the chunk left chunk, copy and flags spilling out of L2).
    NumPy's isfinite (fast) finds them; their values are kept for one count at the end
    (``acc.classify``), and each is replaced in the copy by the chunk's first finite value,
    whose share of the sums is then taken off (min and max do not change); the (count, sum, sum
    of squares) is batched like a clean chunk's. Without any, it is a clean chunk (its sum may
    overflow)."""
    import numpy as np

    n = a.size
    flat, fa = _scratch_host(bufs, n)
    np.copyto(fa, a)
    fin = np.isfinite(fa, out=bufs.flags(n))
    where = _not_finite_positions(fin, bufs)
    k = where.size
    if k == 0:
        _clean_chunk(flat, fa, acc, bufs)
        return False
    if k == n:
        _by_element(v, acc, bufs)
        return True
    acc.add_specials(fa[where])
    fill = fa[int(np.argmax(fin))]  # the first finite value
    fa[where] = fill
    _finite_part(flat, fa, k, float(fill), acc, bufs)
    return True


def _finite_part(flat, fa, k: int, fill: float, acc, bufs) -> None:
    """Statistics of a chunk's finite values from its copy ``fa`` (tensor ``flat``) in which
    ``k`` NaN/±inf were replaced by ``fill``."""
    acc.zeros += _fs._range_and_zeros(flat, fa, acc, bufs) - (k if fill == 0 else 0)

    def sums(shift):
        s, q = _fs._sums(flat, fa, shift, bufs)
        f = fill - (shift or 0.0)
        return s - k * f, q - k * f * f

    m = fa.size - k
    if acc.shift is None:
        s, q = sums(None)
        if q - s * s / m >= q / 8 and q != math.inf:
            acc.batch.append((m, s, q))
            return
        acc.flush()
        acc.moments(m, (s, q), sums)
        return
    acc.moments(m, sums(acc.shift), sums)


#: eight True bytes: a word of ``isfinite`` flags with no NaN/inf among its 8 elements
_ALL_FINITE = int.from_bytes(b"\x01" * 8, "little")
_WORD = None  # (the same as a NumPy uint64: a Python int there costs 2x in the comparison, 0..7)


def _not_finite_positions(fin, bufs):
    """Positions of the False flags, found by words of 8 flags (8x fewer comparisons: NaN/inf
    are usually rare), then checked one by one inside the words that are not all True."""
    import numpy as np

    global _WORD
    if _WORD is None:
        _WORD = (np.uint64(_ALL_FINITE), np.arange(8))
    all_finite, eight = _WORD
    m = fin.size >> 3
    words = np.not_equal(fin[: m << 3].view(np.uint64), all_finite, out=bufs.words(m)).nonzero()[0]
    near = ((words << 3)[:, None] + eight).ravel()
    if m << 3 < fin.size:
        near = np.concatenate((near, np.arange(m << 3, fin.size)))
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
    acc.zeros += _fs._range_and_zeros(v, a, acc, bufs)
    acc.flush()
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
