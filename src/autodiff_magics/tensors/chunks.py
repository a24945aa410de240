"""Walking a tensor in memory order, chunk by chunk, with reused scratch buffers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

#: read it from cache, large enough that per-call overhead stays small (see bench/bench_tensors.py)
CPU_CHUNK_BYTES = 1 << 22
#: elements per chunk on accelerators, where each chunk costs a host synchronisation
DEVICE_CHUNK = 1 << 24


def _chunk_elements(t) -> int:
    if t.device.type == "cpu":
        return max(1 << 12, CPU_CHUNK_BYTES // max(4, t.element_size()))
    return DEVICE_CHUNK


def _memory_order(t):
    """``t`` without its stride-0 (broadcast) dimensions, dims sorted outermost first.

    Statistics do not depend on order, and a repeated value counts ``mult`` times, so this view
    gives the same statistics without touching duplicates; memory order makes chunks contiguous
    whenever the tensor is dense in any order (a transpose, channels-last).
    """
    mult = 1
    index: list[Any] = []
    for size, stride in zip(t.shape, t.stride()):
        if stride == 0 and size > 1:
            mult *= size
            index.append(0)
        else:
            index.append(slice(None))
    u = t[tuple(index)] if mult > 1 else t
    order = sorted(range(u.dim()), key=lambda i: (-u.stride(i), i))
    return u.permute(order), mult


def _blocks(u, chunk: int, by_shape: bool = False) -> Iterator[Any]:
    """Views of ``u``, each of at most ``chunk`` elements, covering every element once;
    ``by_shape``: split by the shape alone, so two tensors of one shape split alike."""
    n = u.numel()
    if n == 0:
        return
    if u.is_contiguous() and not by_shape:
        flat = u.view(-1)
        for i in range(0, n, chunk):
            yield flat[i : i + chunk]
        return
    shape = list(u.shape)
    inner, k = 1, len(shape) - 1
    while k >= 0 and inner * shape[k] <= chunk:
        inner *= shape[k]
        k -= 1
    if k < 0:
        yield u
        return
    step = max(1, chunk // inner)
    for outer in itertools.product(*(range(s) for s in shape[:k])):
        v = u[outer] if outer else u
        for i in range(0, shape[k], step):
            yield v[i : i + step]


def _contiguous_work(c, buf_holder: list, dtype):
    """``c`` as a contiguous 1-D tensor of ``dtype``: itself when it already is, else copied into
    a reused chunk-sized buffer (never a full-size copy)."""
    import torch

    n = c.numel()
    if c.dtype == dtype and c.is_contiguous():
        return c.view(-1)
    buf = buf_holder[0]
    if buf is None or buf.numel() < n or buf.dtype != dtype:
        buf = torch.empty(max(n, buf.numel() if buf is not None else 0), dtype=dtype, device=c.device)
        buf_holder[0] = buf
    v = buf[:n]
    v.view(c.shape).copy_(c)
    return v


def _scratch(holder: list, n: int, like):
    import torch

    buf = holder[0]
    if buf is None or buf.numel() < n or buf.dtype != like.dtype:
        buf = torch.empty(n, dtype=like.dtype, device=like.device)
        holder[0] = buf
    return buf[:n]


class _Buffers:
    """Chunk-sized scratch tensors, allocated on first use and reused for every chunk."""

    def __init__(self, size: int, dtype, device) -> None:
        self.size, self.dtype, self.device = size, dtype, device
        self._copy = self._tmp = self._tmp2 = self._flags = self._words = None

    def _new(self):
        import torch

        return torch.empty(self.size, dtype=self.dtype, device=self.device)

    def copy(self, c):
        """``c`` copied (and converted) into a contiguous 1-D buffer."""
        v = self.copy_buffer()[: c.numel()]
        v.view(c.shape).copy_(c)
        return v

    def copy_buffer(self):
        """The whole buffer ``copy`` copies into."""
        if self._copy is None:
            self._copy = self._new()
        return self._copy

    def tmp(self, n: int):
        if self._tmp is None:
            self._tmp = self._new()
        return self._tmp[:n]

    def tmp2(self, n: int):
        if self._tmp2 is None:
            self._tmp2 = self._new()
        return self._tmp2[:n]

    def flags(self, n: int):
        """A NumPy bool buffer (for ``np.equal(..., out=)``)."""
        if self._flags is None:
            import numpy as np

            self._flags = np.empty(self.size, dtype=bool)
        return self._flags[:n]

    def words(self, n: int):
        """A second, smaller NumPy bool buffer (one flag per 8 elements)."""
        if self._words is None:
            import numpy as np

            self._words = np.empty(self.size // 8 + 1, dtype=bool)
        return self._words[:n]
