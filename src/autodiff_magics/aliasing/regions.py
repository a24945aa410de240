"""Where an object's elements are: a :class:`Region` of plain numbers (address, shape, strides
in bytes, item size, allocation), read from a torch tensor or a NumPy array without its values."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import InputError

__all__ = ["Region", "region"]


@dataclass
class Region:
    """Where one object's elements are: plain numbers, no reference to the object."""

    name: str
    type: str
    device: str
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # bytes
    itemsize: int
    dtype: str
    address: int  # of element (0, ..., 0)
    alloc: tuple[int, int]  # [start, end) of the allocation it lives in
    owner: str  # words: what owns that allocation
    made_from: str | None = None  # how it came to share (e.g. "a NumPy view of a torch tensor's memory")
    numel: int = 0

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def region(obj: Any, name: str) -> Region:
    """The memory region of a tensor or array; InputError (one sentence) for anything else."""
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if torch is not None and isinstance(obj, torch.Tensor):
        return _tensor_region(obj, name)
    if np is not None and isinstance(obj, np.ndarray):
        return _array_region(obj, name)
    if isinstance(obj, (bool, int, float, complex)) or (np is not None and isinstance(obj, np.generic)):
        raise InputError(f"{name} is a {_type_name(obj)}: numbers are values, not shared memory (only tensors and arrays can alias)")
    if isinstance(obj, (list, tuple)):
        raise InputError(
            f"{name} is a Python {type(obj).__name__}: it holds references to objects, not a block of memory; "
            f"compare the tensors or arrays inside it (np.asarray({name}) makes a copy)"
        )
    raise InputError(f"{name} is a {_type_name(obj)}: %alias_check compares torch tensors and NumPy arrays")


def _tensor_region(t, name: str) -> Region:
    if getattr(t, "is_nested", False):
        raise InputError(f"{name} is a nested tensor: compare its components, e.g. {name}[0]")
    layout = str(t.layout).replace("torch.", "")
    if layout != "strided":
        raise InputError(
            f"{name} is a {layout.replace('_', ' ')} tensor: its memory is separate index and value tensors; "
            f"compare {name}.values() (or {name}._values() for COO) instead"
        )
    if t.device.type == "meta":
        raise InputError(f"{name} is a meta tensor: it has a shape but no memory, so it shares nothing")
    try:
        storage = t.untyped_storage()
        sptr, snb = storage.data_ptr(), storage.nbytes()
    except Exception as e:  # noqa: BLE001 - wrapper tensors without storage
        raise InputError(f"{name} ({_type_name(t)}) has no storage torch lets us inspect: {type(e).__name__}") from None
    itemsize = t.element_size()
    shape = tuple(t.shape)
    strides = tuple(s * itemsize for s in t.stride())
    numel = t.numel()
    if numel and _bytes_needed(shape, strides, t.storage_offset() * itemsize, itemsize) > snb:
        raise InputError(
            f"the storage of {name} holds {snb:,} bytes but {name} needs "
            f"{_bytes_needed(shape, strides, t.storage_offset() * itemsize, itemsize):,}: it was resized or freed, "
            "so it has no memory to compare"
        )
    return Region(
        name=name,
        type=_type_name(t),
        device=str(t.device),
        shape=shape,
        strides=strides,
        itemsize=itemsize,
        dtype=str(t.dtype),
        address=sptr + t.storage_offset() * itemsize,
        alloc=(sptr, sptr + snb),
        owner="a torch storage",
        numel=numel,
    )


def _bytes_needed(shape: Sequence[int], strides: Sequence[int], offset: int, itemsize: int) -> int:
    if 0 in shape:
        return 0
    return offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0) + itemsize


def _array_region(a, name: str) -> Region:
    import numpy as np

    address = int(a.__array_interface__["data"][0])
    shape = tuple(int(d) for d in a.shape)
    strides = tuple(int(s) for s in a.strides)
    itemsize = int(a.itemsize)
    lo, hi = _hull(address, shape, strides, itemsize)
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    owner = "a NumPy buffer"
    made_from = None
    alloc = (lo, hi)
    torch = sys.modules.get("torch")
    if root.base is None:
        r_addr = int(root.__array_interface__["data"][0])
        alloc = _hull(r_addr, tuple(root.shape), tuple(root.strides), int(root.itemsize))
    elif torch is not None and isinstance(root.base, torch.Tensor):
        storage = root.base.untyped_storage()
        alloc = (storage.data_ptr(), storage.data_ptr() + storage.nbytes())
        owner = "a torch storage"
        made_from = "a NumPy view of a torch tensor's memory (what Tensor.numpy() and np.asarray(tensor) make)"
    else:
        owner = f"a {_type_name(root.base)}"
        made_from = f"a NumPy view of memory owned by a {_type_name(root.base)}"
    alloc = (min(alloc[0], lo), max(alloc[1], hi))
    return Region(
        name=name,
        type=_type_name(a),
        device="cpu",
        shape=shape,
        strides=strides,
        itemsize=itemsize,
        dtype=_dtype_name(a.dtype),
        address=address,
        alloc=alloc,
        owner=owner,
        made_from=made_from,
        numel=int(a.size),
    )


@lru_cache(maxsize=128)
def _dtype_name(dtype) -> str:
    return str(dtype)  # NumPy spells a dtype's name slowly (~14 µs); a few dtypes recur


def _hull(address: int, shape: Sequence[int], strides: Sequence[int], itemsize: int) -> tuple[int, int]:
    """[lowest, highest + 1) byte address the elements touch (empty for no elements)."""
    if 0 in shape:
        return (address, address)
    lo = address + sum((d - 1) * s for d, s in zip(shape, strides) if s < 0)
    hi = address + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0) + itemsize
    return lo, hi
