"""Chunks of floating-point values that hold NaN/±inf (see ``float_stats``): found by NumPy's
``isfinite``, collected and counted in bulk, and the chunk's finite values' statistics taken from
a copy with each replaced; the passes themselves (and ``_host``, which tests replace to stand in
for an accelerator) are ``float_stats``'s."""

from __future__ import annotations

import math

from . import float_stats as _fs


#: a word of ``isfinite`` flags with no NaN/inf among its 8 elements: eight True bytes
_ALL_FINITE = int.from_bytes(b"\x01" * 8, "little")


def _kit(bufs):
    """(scratch tensor, its NumPy view, isfinite flags, the flags as uint64 words, a flag per
    word) at the chunk's full size, made once per call (slicing a tensor costs ~1.4 µs here),
    with ``_ALL_FINITE`` as a NumPy uint64 (a Python int costs 2x in the comparison) and 0..7."""
    kit = getattr(bufs, "kit", None)
    if kit is None:
        import numpy as np

        flat = bufs.tmp(bufs.size)
        flags = bufs.flags(bufs.size)
        m = bufs.size >> 3
        kit = bufs.kit = (flat, _fs._host(flat), flags, flags[: m << 3].view(np.uint64), bufs.words(m),
                          np.uint64(_ALL_FINITE), np.arange(8))
    return kit


def _clean_chunk(v, a, acc, bufs) -> None:
    """A CPU chunk found without NaN/±inf after all: a clean chunk (its sum may overflow)."""
    import torch

    total = v.sum().item()
    if not math.isfinite(total):  # finite values whose sum overflows the dtype
        total = v.sum(dtype=torch.float64).item()
    if acc.shift is not None or not _fs._batched(v, a, total, acc, bufs):
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
    flat, fa, fin, words, word_flags, all_finite, eight = _kit(bufs)
    m = n >> 3
    if n < fa.size:
        flat, fa, fin, words, word_flags = flat[:n], fa[:n], fin[:n], words[:m], word_flags[:m]
    np.copyto(fa, a)
    np.isfinite(fa, out=fin)
    # positions of the NaN/±inf: words of 8 flags that are not all True (8x fewer comparisons),
    # then the flags one by one inside those words
    near = ((np.not_equal(words, all_finite, out=word_flags).nonzero()[0] << 3)[:, None] + eight).ravel()
    if m << 3 < n:
        near = np.concatenate((near, np.arange(m << 3, n)))
    where = near[~fin[near]]
    k = where.size
    if k == 0:
        _clean_chunk(flat, fa, acc, bufs)
        return False
    if k == n:
        _by_element(v, acc, bufs)
        return True
    acc.add_specials(fa[where])
    fill = fa[0] if where[0] else fa[int(np.argmax(fin))]  # a finite value of the chunk
    fa[where] = fill
    _finite_part(flat, fa, k, float(fill), acc, bufs)
    return True


def _finite_part(flat, fa, k: int, fill: float, acc, bufs) -> None:
    """Statistics of a chunk's finite values from its copy ``fa`` (tensor ``flat``) in which
    ``k`` NaN/±inf were replaced by ``fill``."""
    acc.zeros += _fs._range_and_zeros(flat, fa, acc, bufs) - (k if fill == 0 else 0)
    m = fa.size - k

    def sums(shift):
        s, q = _fs._sums(flat, fa, shift, bufs)
        f = fill - (shift or 0.0)
        return s - k * f, q - k * f * f

    if acc.shift is not None:
        acc.moments(m, sums(acc.shift), sums)
        return
    s, q = sums(None)
    if q - s * s / m >= q / 8 and q != math.inf:
        acc.keep(m, s, q)
        return
    acc.flush()
    acc.moments(m, (s, q), sums)


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
