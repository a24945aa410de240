"""Shapes, dtypes, layouts and types in words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["shape_words"]


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (plural or word + 's')}"


def shape_words(shape: Sequence[int]) -> str:
    """A shape read aloud, as the lesson does.

    0-D scalar; 1-D vector; 2-D matrix (rows × columns); 3-D matrices; 4-D groups of matrices;
    5-D batches of groups of matrices; 6-D and up a grid of matrices, e.g. "2 × 3 × 4 × 5 grid
    of matrices of 6 × 7 (120 matrices)".

    >>> shape_words((2, 3, 4, 5))
    '2 groups of 3 matrices of 4 × 5'
    """
    shape = [int(d) for d in shape]
    nd = len(shape)
    if nd == 0:
        return "scalar (a single number)"
    if nd == 1:
        text = f"vector of {shape[0]:,}"
    elif nd == 2:
        text = f"matrix of {_n(shape[0], 'row')} × {_n(shape[1], 'column')}"
    elif nd == 3:
        text = f"{_n(shape[0], 'matrix', 'matrices')} of {_n(shape[1], 'row')} × {_n(shape[2], 'column')}"
    elif nd == 4:
        text = f"{_n(shape[0], 'group')} of {_n(shape[1], 'matrix', 'matrices')} of {shape[2]:,} × {shape[3]:,}"
    elif nd == 5:
        text = (
            f"{_n(shape[0], 'batch', 'batches')} of {_n(shape[1], 'group')} of "
            f"{_n(shape[2], 'matrix', 'matrices')} of {shape[3]:,} × {shape[4]:,}"
        )
    else:
        grid = " × ".join(f"{d:,}" for d in shape[:-2])
        count = math.prod(shape[:-2])
        text = f"{grid} grid of matrices of {shape[-2]:,} × {shape[-1]:,} ({_n(count, 'matrix', 'matrices')})"
    if 0 in shape:
        text += " (empty: no elements)"
    return text


_DTYPE_WORDS = {
    "float64": "64-bit floating point (double)",
    "float32": "32-bit floating point",
    "float16": "16-bit floating point (half)",
    "bfloat16": "16-bit brain floating point",
    "complex128": "complex: two 64-bit floats",
    "complex64": "complex: two 32-bit floats",
    "complex32": "complex: two 16-bit floats",
    "int64": "64-bit integer",
    "int32": "32-bit integer",
    "int16": "16-bit integer",
    "int8": "8-bit integer",
    "uint64": "64-bit unsigned integer",
    "uint32": "32-bit unsigned integer",
    "uint16": "16-bit unsigned integer",
    "uint8": "8-bit unsigned integer (byte)",
    "bool": "true/false",
    "float128": "extended-precision floating point",
    "longdouble": "extended-precision floating point",
}


def _dtype_words(short: str) -> str:
    if short.startswith("float8"):
        return f"8-bit floating point ({short[6:].lstrip('_')})"
    return _DTYPE_WORDS.get(short, short)


_LAYOUT_WORDS = {
    "strided": "strided (dense)",
    "sparse_coo": "sparse COO (indices + values)",
    "sparse_csr": "sparse CSR (compressed rows)",
    "sparse_csc": "sparse CSC (compressed columns)",
    "sparse_bsr": "sparse BSR (compressed row blocks)",
    "sparse_bsc": "sparse BSC (compressed column blocks)",
    "_mkldnn": "MKL-DNN (opaque)",
    "jagged": "nested (jagged)",
}


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def memory_format(shape: Sequence[int], strides: Sequence[int], *, unit: int = 1, numpy: bool = False) -> str:
    """How the elements lie in memory, from shape and strides (in elements, or in bytes with
    ``unit`` the item size):
    ``contiguous``, ``channels_last`` (4-D, NHWC), ``channels_last_3d`` (5-D, NDHWC),
    ``Fortran order (column-major)`` for NumPy, ``dense but permuted (memory order of dims …)``
    for another order with no gaps, ``broadcast (stride 0)``, else ``strided (gaps between
    elements)`` or ``overlapping (elements share memory)``."""
    dims = [(n, abs(s), i) for i, (n, s) in enumerate(zip(shape, strides)) if n != 1]
    if any(s == 0 for _, s, _ in dims):
        return "broadcast (stride 0)"
    if not dims:
        return "contiguous"
    order = sorted(dims, key=lambda d: (-d[1], -d[2]))
    expected, dense = unit, True
    for n, s, _ in reversed(order):
        if s != expected:
            dense = False
            break
        expected *= n
    if not dense:
        reach = sum((n - 1) * s for n, s, _ in dims) + unit
        return "overlapping (elements share memory)" if reach < unit * math.prod(n for n, _, _ in dims) else "strided (gaps between elements)"
    positive = all(s > 0 for n, s in zip(shape, strides) if n != 1)
    perm = [i for _, _, i in order]
    if perm == sorted(perm):
        return "contiguous" if positive else "dense, reversed along a dim (negative stride)"
    nd = len(shape)
    if positive and nd == 4 and _order_fits(shape, strides, (0, 2, 3, 1)):
        return "channels_last"
    if positive and nd == 5 and _order_fits(shape, strides, (0, 2, 3, 4, 1)):
        return "channels_last_3d"
    if numpy and positive and perm == sorted(perm, reverse=True):
        return "Fortran order (column-major)"
    return f"dense but permuted (memory order of dims: {', '.join(map(str, perm))})"


def _order_fits(shape: Sequence[int], strides: Sequence[int], order: Sequence[int]) -> bool:
    """The elements are dense in this order of dims, outermost first (size-1 dims anywhere)."""
    expected = None
    for i in reversed(order):
        if shape[i] == 1:
            continue
        if expected is None:
            expected = strides[i]
        if strides[i] != expected:
            return False
        expected *= shape[i]
    return True
