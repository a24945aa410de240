"""Fingerprints of an object's elements, to tell whether a cell changed them."""

from __future__ import annotations

import ctypes
import zlib
from typing import Any


def _fingerprint(obj: Any) -> int:
    """A fingerprint of the object's elements (not of the bytes between them): CRC-32 of the
    bytes on the CPU, chunk by chunk, read in place; a weighted sum of the bytes on an
    accelerator. It leaves no trace on the object (its storage stays resizable)."""
    import torch

    from ..tensors.chunks import _blocks, _chunk_elements

    if isinstance(obj, torch.Tensor):
        t = obj.detach()
    else:
        import numpy as np

        if obj.dtype.kind not in "biufc" or obj.dtype.byteorder == ">":
            return zlib.crc32(np.ascontiguousarray(obj).view(np.uint8).reshape(-1).data)
        from ..tensors.values import _torch_view_of_ndarray

        t = _torch_view_of_ndarray(obj)
    if t.dim() == 0:
        t = t.reshape(1)
    chunk = _chunk_elements(t)
    with torch.no_grad():
        if t.device.type == "cpu":
            crc = 0
            buf = None
            for c in _blocks(t, chunk):
                if not c.is_contiguous():
                    if buf is None or buf.numel() < c.numel():
                        buf = torch.empty(chunk, dtype=c.dtype)
                    flat = buf[: c.numel()]
                    flat.view(c.shape).copy_(c)
                    c = flat
                crc = zlib.crc32(_host_bytes(c), crc)
            return crc
        return _device_fingerprint(t, chunk)


def _host_bytes(c) -> memoryview:
    """The bytes of a contiguous CPU tensor, read in place through their address. Not
    ``c.numpy()``: that marks the storage as not resizable for good, so a later
    ``t.resize_(...)`` would fail — the magic must leave no trace."""
    n = c.numel() * c.element_size()
    if n == 0:
        return memoryview(b"")
    return memoryview((ctypes.c_char * n).from_address(c.data_ptr())).cast("B")


def _device_fingerprint(t, chunk: int) -> int:
    import torch

    from ..tensors.chunks import _blocks

    acc = 0
    weights = None
    for k, c in enumerate(_blocks(t, chunk)):
        b = c.contiguous().reshape(-1).view(torch.uint8).to(torch.int64)
        if weights is None or weights.numel() < b.numel():
            g = torch.Generator(device=t.device).manual_seed(12345)
            weights = torch.randint(1, 2**61, (max(b.numel(), 1),), generator=g, device=t.device, dtype=torch.int64) | 1
        h = int((b * weights[: b.numel()]).sum().item())
        acc = (acc * 1_000_003 + h + k) % (1 << 64)
    return acc
